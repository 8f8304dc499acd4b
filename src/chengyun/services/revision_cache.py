"""Values remembered in one process while a revision counter stands still (修订号缓存).

What decides a cached value (a token's account, an application's key) is changed only in
transactions that also bump a revision counter. An entry is used for at most
``keep_seconds`` and only while the counter read when it was loaded is unchanged: this
process's own changes drop the cache at once (``changed_here``); another process's are
seen when the counter is read again, at most ``check_seconds`` later (one small query a
period for all entries). A lookup hands back the stamp to store a freshly loaded value
with, taken *before* the load, so a change made meanwhile leaves the entry stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class Stamp:
    """The counters and the moment a value was (or is about to be) loaded at."""

    revision: int
    changed_here: int
    moment: float


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    stamp: Stamp


class RevisionCache(Generic[V]):
    def __init__(
        self,
        revision: Callable[[], int],
        changed_here: Callable[[], int],
        check_seconds: float = 1.0,
        keep_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        size: int = 10_000,
    ) -> None:
        self._revision = revision
        self._changed_here = changed_here
        self.check_seconds = check_seconds
        self.keep_seconds = keep_seconds
        self._monotonic = monotonic
        self._size = size
        self._known: dict[str, _Entry[V]] = {}
        self._seen: tuple[int, float] | None = None  # the revision, when it was read

    def _current_revision(self, moment: float) -> int:
        if self._seen is None or moment - self._seen[1] >= self.check_seconds:
            self._seen = (self._revision(), moment)
        return self._seen[0]

    def lookup(self, key: str) -> tuple[V | None, Stamp]:
        """The value remembered for ``key`` if it still holds (else ``None``), and the
        stamp to ``put`` a freshly loaded one with."""
        moment = self._monotonic()
        stamp = Stamp(self._current_revision(moment), self._changed_here(), moment)
        entry = self._known.get(key)
        if (
            entry is not None
            and entry.stamp.revision == stamp.revision
            and entry.stamp.changed_here == stamp.changed_here
            and moment - entry.stamp.moment < self.keep_seconds
        ):
            return entry.value, stamp
        return None, stamp

    def put(self, key: str, value: V, stamp: Stamp) -> None:
        if len(self._known) >= self._size:
            self._known.clear()
        self._known[key] = _Entry(value, stamp)

    def drop(self, key: str) -> None:
        self._known.pop(key, None)
