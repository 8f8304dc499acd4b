"""What the hotline and gazetteer use cases need from storage: the order as stored, and
the repository of orders and gazetteer entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chengyun.domain.gazetteer import EntryKind, GazetteerEntry
from chengyun.domain.hotline import HotlineOrder, Placement


@dataclass
class OrderRecord:
    """A hotline order as stored: the order, how it was placed and which case carries it.

    ``case_id`` is the case that carries the order (the earlier case when the order was
    merged into one the platform already held); ``own_case_id`` the case the order itself
    became. ``suggestion`` is the gazetteer's guess for an order waiting for placement.
    """

    order: HotlineOrder
    content_hash: str
    placement: Placement
    confidence: float | None = None
    case_id: int | None = None
    own_case_id: int | None = None
    suggestion: dict[str, Any] | None = None
    id: int | None = None
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderFilter:
    status: tuple[str, ...] = ()
    placement: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    text: str | None = None


class HotlineRepository(Protocol):
    def add(self, record: OrderRecord, at: datetime) -> int:
        """Insert a new order; ``DuplicateOrder`` when its number is taken meanwhile."""
        ...

    def get(self, number: str, *, for_update: bool = False) -> OrderRecord | None: ...
    def save(self, record: OrderRecord, at: datetime) -> None:
        """Store changes; ``Conflict`` when the order changed since it was loaded."""
        ...

    def search(
        self, where: OrderFilter, limit: int, offset: int
    ) -> tuple[int, list[OrderRecord]]: ...
    def hashes(self, numbers: Sequence[str]) -> dict[str, str]:
        """Content hashes of the stored orders among ``numbers``."""
        ...

    def entries(self, kind: EntryKind | None = None) -> list[GazetteerEntry]: ...
    def entry(self, entry_id: int) -> GazetteerEntry | None: ...
    def add_entry(self, entry: GazetteerEntry, at: datetime) -> int:
        """Insert; ``Conflict`` when the same kind, name and range exists."""
        ...

    def update_entry(self, entry: GazetteerEntry, at: datetime) -> bool: ...
    def upsert_entry(self, entry: GazetteerEntry, at: datetime) -> bool:
        """Insert, or update the entry of the same kind, name and range; True if new."""
        ...

    def delete_entry(self, entry_id: int) -> bool: ...


class DuplicateOrder(Exception):
    """Another request stored an order with the same number first: ask again."""
