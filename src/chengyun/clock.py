"""The clock services are handed: the real one, and one tests and simulations drive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, always timezone-aware (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class DrivenClock:
    """A clock that moves only when told to (tests, simulation)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("DrivenClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def tick(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at
