"""What the district link (区级平台对接) and the outbox's operator view keep, and the
repositories they need from storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Received:
    """A message received from a linked platform and the answer given to it."""

    peer: str
    message_id: str
    kind: str
    case_id: int | None
    request_hash: str
    answer: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class CaseLink:
    """A case this platform handles for a linked platform (a case sent up by a
    sub-district, or down by the district): whose it is and what it was last told."""

    id: int
    case_id: int
    peer: str
    reply_to: str
    """The outbox recipient of the status messages: the peer's code, or ``district``."""
    peer_number: str
    """The peer's own case number: the reference its status messages carry."""
    kind: str
    message_id: str
    synced_status: str | None
    synced_version: int


@dataclass(frozen=True)
class OutboxEntry:
    """An outbox message as the operator sees it (发件箱): where it goes, how often it was
    tried, why it failed."""

    id: int
    topic: str
    recipient: str
    case_id: int | None
    created_at: datetime
    available_at: datetime
    attempts: int
    dead: bool
    delivered_at: datetime | None
    last_error: str
    payload: dict[str, Any]

    @property
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.dead:
            return "dead"
        return "failing" if self.attempts else "pending"


class DistrictRepository(Protocol):
    def received(self, peer: str, message_id: str) -> Received | None: ...
    def remember(self, received: Received) -> None:
        """Store ``received``; ``DuplicateKey`` when a twin was stored meanwhile."""
        ...

    def link(self, case_id: int) -> CaseLink | None: ...
    def add_link(self, link: CaseLink, at: datetime) -> None:
        """Store ``link``; ``DuplicateKey`` when the case is linked already."""
        ...

    def changed_links(self, limit: int) -> list[CaseLink]:
        """Links whose case changed since its status was last sent (locked, skipping rows
        another worker holds)."""
        ...

    def synced(self, link_id: int, status: str | None, version: int, at: datetime) -> None: ...


class OutboxAdminRepository(Protocol):
    def entries(self, state: str, limit: int, offset: int) -> tuple[int, list[OutboxEntry]]:
        """Messages in ``state`` (dead, failing, pending, delivered), newest first."""
        ...

    def counts(self) -> dict[str, int]: ...
    def entry(self, message_id: int) -> OutboxEntry | None: ...
    def replay(self, message_ids: list[int], now: datetime) -> int:
        """Make undelivered messages due now with their attempts reset; how many."""
        ...

    def dead_ids(self) -> list[int]: ...
