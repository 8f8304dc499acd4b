"""Gazetteer use cases (地名地址库): resolve an address, keep the entries, exchange them as
.xlsx. Operators extend the gazetteer as addresses come in that it does not know."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from chengyun.clock import Clock
from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.gazetteer import EntryKind, GazetteerEntry, Match, entry_problems, match
from chengyun.services.unit_of_work import UnitOfWork

#: Below this confidence an address is not placed automatically (the placement queue
#: shows the guess to an operator instead).
MIN_CONFIDENCE = 0.6

Progress = Callable[[str, int, int], None]


def _inside(uow: UnitOfWork) -> bool:
    """Whether ``uow`` is already open: callers may ask from inside their own
    transaction, and opening the unit of work again would replace theirs."""
    return getattr(uow, "_connection", None) is not None


def best_match(uow: UnitOfWork, text: str) -> Match | None:
    """The gazetteer's best guess for ``text``, however unsure (``None``: no entry named)."""
    if not text or not text.strip():
        return None
    if _inside(uow):
        return match(text, uow.hotline.entries())
    with uow.reader() as uow:
        entries = uow.hotline.entries()
    return match(text, entries)


def resolve_address(
    uow: UnitOfWork, text: str, *, min_confidence: float = MIN_CONFIDENCE
) -> Match | None:
    """Address text → a WGS-84 position (``.lng``, ``.lat``, ``.confidence``), or ``None``
    when the gazetteer does not know the place well enough. Works inside or outside the
    caller's own ``with uow:`` block."""
    found = best_match(uow, text)
    if found is None or found.confidence < min_confidence:
        return None
    return found


def _checked(entry: GazetteerEntry, where: tuple[str | int, ...] = ()) -> list[Problem]:
    return [replace(p, location=(*where, *p.location)) for p in entry_problems(entry)]


def _invalid(problems: list[Problem]) -> InvalidInput:
    return InvalidInput("地名地址条目有误 / the gazetteer entry is not valid", problems)


def list_entries(uow: UnitOfWork, kind: EntryKind | None = None) -> list[GazetteerEntry]:
    with uow.reader() as uow:
        return uow.hotline.entries(kind)


def get_entry(uow: UnitOfWork, entry_id: int) -> GazetteerEntry:
    with uow.reader() as uow:
        found = uow.hotline.entry(entry_id)
    if found is None:
        raise NotFound(f"没有编号为 {entry_id} 的地名条目 / no gazetteer entry {entry_id}")
    return found


def add_entry(uow: UnitOfWork, clock: Clock, entry: GazetteerEntry) -> GazetteerEntry:
    problems = _checked(entry)
    if problems:
        raise _invalid(problems)
    with uow:
        new_id = uow.hotline.add_entry(entry, clock.now())
        uow.commit()
    return replace(entry, id=new_id)


def update_entry(uow: UnitOfWork, clock: Clock, entry: GazetteerEntry) -> GazetteerEntry:
    assert entry.id is not None
    problems = _checked(entry)
    if problems:
        raise _invalid(problems)
    with uow:
        if not uow.hotline.update_entry(entry, clock.now()):
            raise NotFound(f"没有编号为 {entry.id} 的地名条目 / no gazetteer entry {entry.id}")
        uow.commit()
    return entry


def delete_entry(uow: UnitOfWork, entry_id: int) -> None:
    with uow:
        if not uow.hotline.delete_entry(entry_id):
            raise NotFound(f"没有编号为 {entry_id} 的地名条目 / no gazetteer entry {entry_id}")
        uow.commit()


def import_entries(
    uow: UnitOfWork,
    clock: Clock,
    entries: Sequence[tuple[int, GazetteerEntry]],
    sheet: str,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Add or update entries (matched on kind, name and range) read from rows of ``sheet``;
    every row is checked first, and nothing is written unless all are sound. Returns
    (added, updated)."""
    problems = [p for row, entry in entries for p in _checked(entry, (sheet, row))]
    if problems:
        raise InvalidInput("地名地址表有误，未导入 / the gazetteer sheet has errors", problems)
    added = updated = 0
    with uow:
        now = clock.now()
        for done, (_, entry) in enumerate(entries, 1):
            if uow.hotline.upsert_entry(replace(entry, id=None), now):
                added += 1
            else:
                updated += 1
            if progress:
                progress("地名地址 Gazetteer", done, len(entries))
        uow.commit()
    return added, updated
