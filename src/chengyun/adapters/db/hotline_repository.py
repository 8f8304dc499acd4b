"""Hotline orders and the address gazetteer in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from chengyun.adapters.db.tables_hotline import gazetteer_entries, hotline_orders
from chengyun.domain.errors import Conflict, Problem
from chengyun.domain.gazetteer import EntryKind, GazetteerEntry, Parity
from chengyun.domain.hotline import (
    HotlineOrder,
    OrderAction,
    OrderEvent,
    OrderStatus,
    Placement,
)
from chengyun.services.hotline_store import DuplicateOrder, OrderFilter, OrderRecord


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _event_out(event: OrderEvent) -> dict[str, Any]:
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in event.data.items()}
    return {
        "action": event.action.value,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "from": event.from_status.value if event.from_status else None,
        "to": event.to_status.value,
        "note": event.note,
        "data": data,
    }


def _event_in(raw: dict[str, Any]) -> OrderEvent:
    at = _at(raw["at"])
    assert at is not None
    return OrderEvent(
        OrderAction(raw["action"]),
        at,
        raw["actor"],
        OrderStatus(raw["from"]) if raw.get("from") else None,
        OrderStatus(raw["to"]),
        raw.get("note", ""),
        dict(raw.get("data") or {}),
    )


def _values(record: OrderRecord) -> dict[str, Any]:
    order = record.order
    return {
        "number": order.number,
        "content_hash": record.content_hash,
        "status": order.status.value,
        "received_at": order.received_at,
        "deadline": order.deadline,
        "urgent": order.urgent,
        "category": order.category,
        "subclass": order.subclass,
        "address": order.address,
        "lng": order.position[0] if order.position else None,
        "lat": order.position[1] if order.position else None,
        "placement": record.placement.value,
        "confidence": record.confidence,
        "case_id": record.case_id,
        "own_case_id": record.own_case_id,
        "signed_at": order.signed_at,
        "contact_due_at": order.contact_due_at,
        "contacted_at": order.contacted_at,
        "handle_due_at": order.handle_due_at,
        "replied_at": order.replied_at,
        "warnings": order.warnings,
        "state": {
            "caller_name": order.caller_name,
            "caller_phone": order.caller_phone,
            "content": order.content,
            "result": order.result,
            "return_reason": order.return_reason,
            "callbacks": list(order.callbacks),
            "contact_late": order.contact_late,
            "handle_late": order.handle_late,
            "events": [_event_out(e) for e in order.events],
            "suggestion": record.suggestion,
            "extra": record.extra,
        },
    }


def _record(row: Any) -> OrderRecord:
    state = dict(row.state)
    order = HotlineOrder(
        number=row.number,
        received_at=row.received_at,
        deadline=row.deadline,
        urgent=bool(row.urgent),
        category=row.category,
        subclass=row.subclass,
        address=row.address,
        position=(row.lng, row.lat) if row.lng is not None and row.lat is not None else None,
        caller_name=state.get("caller_name", ""),
        caller_phone=state.get("caller_phone", ""),
        content=state.get("content", ""),
        status=OrderStatus(row.status),
        signed_at=row.signed_at,
        contact_due_at=row.contact_due_at,
        contacted_at=row.contacted_at,
        handle_due_at=row.handle_due_at,
        replied_at=row.replied_at,
        result=state.get("result", ""),
        return_reason=state.get("return_reason", ""),
        warnings=row.warnings,
        callbacks=tuple(state.get("callbacks") or ()),
        contact_late=bool(state.get("contact_late")),
        handle_late=bool(state.get("handle_late")),
        events=[_event_in(e) for e in state.get("events") or ()],
    )
    return OrderRecord(
        order=order,
        content_hash=row.content_hash,
        placement=Placement(row.placement),
        confidence=row.confidence,
        case_id=row.case_id,
        own_case_id=row.own_case_id,
        suggestion=state.get("suggestion"),
        id=row.id,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        extra=dict(state.get("extra") or {}),
    )


def _entry(row: Any) -> GazetteerEntry:
    end = (row.end_lng, row.end_lat) if row.end_lng is not None else None
    return GazetteerEntry(
        kind=EntryKind(row.kind),
        name=row.name,
        position=(row.lng, row.lat),
        aliases=tuple(row.aliases or ()),
        end=end,
        first=row.first,
        last=row.last,
        parity=Parity(row.parity),
        note=row.note,
        id=row.id,
    )


def _entry_values(entry: GazetteerEntry, at: datetime) -> dict[str, Any]:
    return {
        "kind": entry.kind.value,
        "name": entry.name.strip(),
        "aliases": [a.strip() for a in entry.aliases],
        "lng": entry.position[0],
        "lat": entry.position[1],
        "end_lng": entry.end[0] if entry.end else None,
        "end_lat": entry.end[1] if entry.end else None,
        "first": entry.first,
        "last": entry.last,
        "parity": entry.parity.value,
        "note": entry.note,
        "updated_at": at,
    }


def _same_entry(entry: GazetteerEntry) -> Any:
    t = gazetteer_entries.c
    return sa.and_(
        t.kind == entry.kind.value,
        t.name == entry.name.strip(),
        t.first == entry.first,
        t.last == entry.last,
        t.parity == entry.parity.value,
    )


def _taken(entry: GazetteerEntry) -> Conflict:
    return Conflict(
        "地名地址库已有同名同段的条目 / the gazetteer already holds this entry",
        [
            Problem(
                ("name",),
                f"{entry.kind.value} {entry.name!r} {entry.first}-{entry.last} "
                f"{entry.parity.value} exists: change it instead",
                "duplicate",
            )
        ],
    )


class SqlHotlineRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name

    # --- orders -----------------------------------------------------------------------------

    def add(self, record: OrderRecord, at: datetime) -> int:
        values = {**_values(record), "created_at": at, "updated_at": at, "version": 1}
        try:  # a concurrent insert of the same number fails the whole transaction
            new_id = self.connection.execute(
                hotline_orders.insert().values(**values).returning(hotline_orders.c.id)
            ).scalar_one()
        except IntegrityError as exc:
            raise DuplicateOrder(record.order.number) from exc
        record.id, record.version = int(new_id), 1
        record.created_at = record.updated_at = at
        return record.id

    def get(self, number: str, *, for_update: bool = False) -> OrderRecord | None:
        query = sa.select(hotline_orders).where(hotline_orders.c.number == number)
        if for_update and self.dialect == "postgresql":
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _record(row) if row is not None else None

    def save(self, record: OrderRecord, at: datetime) -> None:
        changed = self.connection.execute(
            hotline_orders.update()
            .where(
                hotline_orders.c.number == record.order.number,
                hotline_orders.c.version == record.version,
            )
            .values(**_values(record), updated_at=at, version=record.version + 1)
        ).rowcount
        if changed != 1:
            raise Conflict(
                "工单已被他人更新 / the order changed meanwhile",
                [Problem(("order_number",), "load it again and retry", "stale")],
            )
        record.version += 1
        record.updated_at = at

    def search(self, where: OrderFilter, limit: int, offset: int) -> tuple[int, list[OrderRecord]]:
        t = hotline_orders.c
        conditions: list[Any] = []
        if where.status:
            conditions.append(t.status.in_(where.status))
        if where.placement:
            conditions.append(t.placement == where.placement)
        if where.received_from:
            conditions.append(t.received_at >= where.received_from)
        if where.received_to:
            conditions.append(t.received_at < where.received_to)
        if where.text:
            like = f"%{where.text}%"
            conditions.append(sa.or_(t.number.like(like), t.address.like(like)))
        total = self.connection.execute(
            sa.select(sa.func.count()).select_from(hotline_orders).where(*conditions)
        ).scalar_one()
        rows = self.connection.execute(
            sa.select(hotline_orders)
            .where(*conditions)
            .order_by(t.received_at, t.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return int(total), [_record(r) for r in rows]

    def hashes(self, numbers: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(numbers))
        for start in range(0, len(wanted), 500):
            rows = self.connection.execute(
                sa.select(hotline_orders.c.number, hotline_orders.c.content_hash).where(
                    hotline_orders.c.number.in_(wanted[start : start + 500])
                )
            ).all()
            found.update({r.number: r.content_hash for r in rows})
        return found

    # --- gazetteer --------------------------------------------------------------------------

    def entries(self, kind: EntryKind | None = None) -> list[GazetteerEntry]:
        query = sa.select(gazetteer_entries).order_by(gazetteer_entries.c.id)
        if kind is not None:
            query = query.where(gazetteer_entries.c.kind == kind.value)
        return [_entry(r) for r in self.connection.execute(query)]

    def entry(self, entry_id: int) -> GazetteerEntry | None:
        row = self.connection.execute(
            sa.select(gazetteer_entries).where(gazetteer_entries.c.id == entry_id)
        ).first()
        return _entry(row) if row is not None else None

    def _exists(self, entry: GazetteerEntry) -> bool:
        query = sa.select(gazetteer_entries.c.id).where(_same_entry(entry))
        if entry.id is not None:
            query = query.where(gazetteer_entries.c.id != entry.id)
        return self.connection.execute(query).first() is not None

    def add_entry(self, entry: GazetteerEntry, at: datetime) -> int:
        if self._exists(entry):
            raise _taken(entry)
        try:
            new_id = self.connection.execute(
                gazetteer_entries.insert()
                .values(**_entry_values(entry, at))
                .returning(gazetteer_entries.c.id)
            ).scalar_one()
        except IntegrityError as exc:
            raise _taken(entry) from exc
        return int(new_id)

    def update_entry(self, entry: GazetteerEntry, at: datetime) -> bool:
        if self._exists(entry):
            raise _taken(entry)
        try:
            changed = self.connection.execute(
                gazetteer_entries.update()
                .where(gazetteer_entries.c.id == entry.id)
                .values(**_entry_values(entry, at))
            ).rowcount
        except IntegrityError as exc:
            raise _taken(entry) from exc
        return bool(changed)

    def upsert_entry(self, entry: GazetteerEntry, at: datetime) -> bool:
        found = self.connection.execute(
            sa.select(gazetteer_entries.c.id).where(_same_entry(entry))
        ).scalar()
        if found is None:
            self.add_entry(entry, at)
            return True
        self.connection.execute(
            gazetteer_entries.update()
            .where(gazetteer_entries.c.id == found)
            .values(**_entry_values(entry, at))
        )
        return False

    def delete_entry(self, entry_id: int) -> bool:
        return bool(
            self.connection.execute(
                gazetteer_entries.delete().where(gazetteer_entries.c.id == entry_id)
            ).rowcount
        )
