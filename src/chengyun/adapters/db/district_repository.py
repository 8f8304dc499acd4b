"""Storage of the district link (received messages, cases handled for a peer) and the
operator's view of the outbox (dead letters, replay)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.tables_district import district_links, district_received
from chengyun.services.district_records import CaseLink, OutboxEntry, Received
from chengyun.services.records import DuplicateKey


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _link(row: Any) -> CaseLink:
    return CaseLink(
        row.id,
        row.case_id,
        row.peer,
        row.reply_to,
        row.peer_number,
        row.kind,
        row.message_id,
        row.synced_status,
        row.synced_version,
    )


class SqlDistrictRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def received(self, peer: str, message_id: str) -> Received | None:
        r = district_received.c
        row = self.connection.execute(
            sa.select(district_received).where(r.peer == peer, r.message_id == message_id)
        ).first()
        if row is None:
            return None
        received_at = _aware(row.received_at)
        assert received_at is not None
        return Received(
            row.peer,
            row.message_id,
            row.kind,
            row.case_id,
            row.request_hash,
            dict(row.answer),
            received_at,
        )

    def remember(self, received: Received) -> None:
        try:
            self.connection.execute(
                district_received.insert().values(
                    peer=received.peer,
                    message_id=received.message_id,
                    kind=received.kind,
                    case_id=received.case_id,
                    request_hash=received.request_hash,
                    answer=received.answer,
                    received_at=received.received_at,
                )
            )
        except IntegrityError as error:  # a twin of the message was stored first
            raise DuplicateKey(received.message_id) from error

    def link(self, case_id: int) -> CaseLink | None:
        row = self.connection.execute(
            sa.select(district_links).where(district_links.c.case_id == case_id)
        ).first()
        return None if row is None else _link(row)

    def add_link(self, link: CaseLink, at: datetime) -> None:
        try:
            self.connection.execute(
                district_links.insert().values(
                    case_id=link.case_id,
                    peer=link.peer,
                    reply_to=link.reply_to,
                    peer_number=link.peer_number,
                    kind=link.kind,
                    message_id=link.message_id,
                    synced_status=link.synced_status,
                    synced_version=link.synced_version,
                    created_at=at,
                )
            )
        except IntegrityError as error:  # a twin of the message linked it first
            raise DuplicateKey(link.message_id) from error

    def changed_links(self, limit: int) -> list[CaseLink]:
        link, case = district_links.c, t.cases.c
        query = (
            sa.select(district_links)
            .join(t.cases, case.id == link.case_id)
            .where(case.version != link.synced_version)
            .order_by(link.id)
            .limit(limit)
        )
        if self.connection.dialect.name == "postgresql":
            query = query.with_for_update(of=district_links, skip_locked=True)
        return [_link(row) for row in self.connection.execute(query)]

    def synced(self, link_id: int, status: str | None, version: int, at: datetime) -> None:
        self.connection.execute(
            district_links.update()
            .where(district_links.c.id == link_id)
            .values(synced_status=status, synced_version=version, synced_at=at)
        )


def _entry(row: Any) -> OutboxEntry:
    created_at, available_at = _aware(row.created_at), _aware(row.available_at)
    assert created_at is not None and available_at is not None
    return OutboxEntry(
        row.id,
        row.topic,
        row.recipient,
        row.case_id,
        created_at,
        available_at,
        row.attempts,
        bool(row.dead),
        _aware(row.delivered_at),
        row.last_error,
        dict(row.payload) if isinstance(row.payload, dict) else {"value": row.payload},
    )


def _state(state: str) -> Any:
    o = t.outbox.c
    undelivered = o.delivered_at.is_(None)
    return {
        "dead": sa.and_(undelivered, o.dead.is_(True)),
        "failing": sa.and_(undelivered, o.dead.is_(False), o.attempts > 0),
        "pending": sa.and_(undelivered, o.dead.is_(False)),
        "delivered": o.delivered_at.is_not(None),
    }[state]


class SqlOutboxAdminRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def entries(self, state: str, limit: int, offset: int) -> tuple[int, list[OutboxEntry]]:
        o = t.outbox.c
        where = _state(state)
        total = self.connection.execute(
            sa.select(sa.func.count()).select_from(t.outbox).where(where)
        ).scalar_one()
        rows = self.connection.execute(
            sa.select(t.outbox).where(where).order_by(o.id.desc()).limit(limit).offset(offset)
        )
        return int(total), [_entry(r) for r in rows]

    def counts(self) -> dict[str, int]:
        found = {}
        for state in ("dead", "failing", "pending"):
            found[state] = int(
                self.connection.execute(
                    sa.select(sa.func.count()).select_from(t.outbox).where(_state(state))
                ).scalar_one()
            )
        return found

    def entry(self, message_id: int) -> OutboxEntry | None:
        row = self.connection.execute(
            sa.select(t.outbox).where(t.outbox.c.id == message_id)
        ).first()
        return None if row is None else _entry(row)

    def replay(self, message_ids: list[int], now: datetime) -> int:
        if not message_ids:
            return 0
        o = t.outbox.c
        result = self.connection.execute(
            t.outbox.update()
            .where(o.id.in_(message_ids), o.delivered_at.is_(None))
            .values(dead=False, attempts=0, available_at=now)
        )
        return int(result.rowcount or 0)

    def dead_ids(self) -> list[int]:
        o = t.outbox.c
        return list(
            self.connection.execute(sa.select(o.id).where(_state("dead")).order_by(o.id)).scalars()
        )
