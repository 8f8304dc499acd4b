"""Citizens, the points ledger, and the points settings (policy, phone-hash salt)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.read_cache import ReadCache, bump
from chengyun.domain.points import Citizen, EntryKind, LedgerEntry

POLICY = "points_policy"
SALT = "citizen_phone_salt"
_KEPT = (EntryKind.EARN.value, EntryKind.REVOKE.value)


def _citizen(row: Any) -> Citizen:
    return Citizen(
        id=row.id,
        phone=row.phone,
        nickname=row.nickname,
        party_member=bool(row.party_member),
        created_at=row.created_at,
    )


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        citizen_id=row.citizen_id,
        kind=EntryKind(row.kind),
        points=row.points,
        actor=row.actor,
        at=row.at,
        case_id=row.case_id,
        note=row.note,
        id=row.id,
    )


_SALT = sa.select(t.settings_store.c.value).where(t.settings_store.c.name == SALT)


@lru_cache(maxsize=8)
def _save_citizen(dialect: str, nickname: bool, party_member: bool) -> Any:
    """The citizen upsert, built once: a new citizen as given; a known one gets the phone
    as given, and the nickname and the party membership when given (``nickname``,
    ``party_member``)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(t.citizens)
    statement = insert.values(
        {
            name: sa.bindparam(name)
            for name in ("phone_hash", "phone", "nickname", "party_member", "created_at")
        }
    )
    kept = ["phone"] + ["nickname"] * nickname + ["party_member"] * party_member
    return statement.on_conflict_do_update(
        index_elements=[t.citizens.c.phone_hash],
        set_={name: statement.excluded[name] for name in kept},
    ).returning(*t.citizens.c)


class SqlPointsRepository:
    def __init__(self, connection: Connection, cache: ReadCache | None = None) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self.cache = cache
        self._salt_written = False

    def _insert(self, table: sa.Table) -> Any:
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return insert(table)

    # --- settings ---------------------------------------------------------------------------

    def _setting(self, name: str) -> Any | None:
        return self.connection.execute(
            sa.select(t.settings_store.c.value).where(t.settings_store.c.name == name)
        ).scalar()

    def _stored_salt(self) -> str | None:
        stored = self.connection.execute(_SALT).scalar()
        return str(stored["salt"]) if isinstance(stored, dict) else None

    def phone_salt(self, candidate: str, at: datetime) -> str:
        """The salt of citizens' phone hashes: stored by the first transaction that needs
        it (``candidate``), then only read. Kept in the process's read cache under its
        revision counter, which the storing transaction bumps; never from that transaction
        itself, which may yet be undone."""
        if self.cache is not None and not self._salt_written:
            salt = self.cache.get(self.connection, SALT, self._stored_salt)
        else:
            salt = self._stored_salt()
        if salt is not None:
            return salt
        self.connection.execute(
            self._insert(t.settings_store)
            .values(name=SALT, value={"salt": candidate}, updated_at=at, updated_by="")
            .on_conflict_do_nothing(index_elements=[t.settings_store.c.name])
        )
        bump(self.connection, SALT)
        self._salt_written = True
        stored = self._stored_salt()
        assert stored is not None, "the salt was stored just now"
        return stored

    def policy(self) -> dict[str, object] | None:
        value = self._setting(POLICY)
        return dict(value) if isinstance(value, dict) else None

    def save_policy(self, value: dict[str, object], at: datetime, by: str) -> None:
        statement = self._insert(t.settings_store).values(
            name=POLICY, value=value, updated_at=at, updated_by=by
        )
        self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=[t.settings_store.c.name],
                set_={"value": value, "updated_at": at, "updated_by": by},
            )
        )

    # --- citizens ---------------------------------------------------------------------------

    def save_citizen(
        self,
        phone_hash: str,
        phone: str,
        nickname: str | None,
        party_member: bool | None,
        at: datetime,
    ) -> Citizen:
        # one upsert: two first reports from one phone at once both end with the same
        # citizen instead of one failing on the unique hash
        statement = _save_citizen(self.dialect, nickname is not None, party_member is not None)
        row = self.connection.execute(
            statement,
            {
                "phone_hash": phone_hash,
                "phone": phone,
                "nickname": nickname or "",
                "party_member": bool(party_member),
                "created_at": at,
            },
        ).one()
        return _citizen(row)

    def citizen(self, citizen_id: int, *, for_update: bool = False) -> Citizen | None:
        if for_update and self.dialect == "sqlite":
            # SQLite locks the whole database for writing: a no-op write takes that lock
            # now, so the balance read next cannot change before this transaction ends
            self.connection.execute(
                t.citizens.update().where(t.citizens.c.id == citizen_id).values(id=t.citizens.c.id)
            )
        query = sa.select(t.citizens).where(t.citizens.c.id == citizen_id)
        if for_update and self.dialect == "postgresql":
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _citizen(row) if row else None

    def citizen_by_hash(self, phone_hash: str) -> Citizen | None:
        row = self.connection.execute(
            sa.select(t.citizens).where(t.citizens.c.phone_hash == phone_hash)
        ).first()
        return _citizen(row) if row else None

    # --- the ledger -------------------------------------------------------------------------

    def entries(self, citizen_id: int) -> list[LedgerEntry]:
        rows = self.connection.execute(
            sa.select(t.points_ledger)
            .where(t.points_ledger.c.citizen_id == citizen_id)
            .order_by(t.points_ledger.c.at, t.points_ledger.c.id)
        )
        return [_entry(r) for r in rows]

    def entries_for_case(self, case_id: int) -> list[LedgerEntry]:
        rows = self.connection.execute(
            sa.select(t.points_ledger)
            .where(t.points_ledger.c.case_id == case_id)
            .order_by(t.points_ledger.c.id)
        )
        return [_entry(r) for r in rows]

    def add(self, entry: LedgerEntry) -> LedgerEntry:
        entry_id = self.connection.execute(
            t.points_ledger.insert()
            .values(
                citizen_id=entry.citizen_id,
                case_id=entry.case_id,
                kind=entry.kind.value,
                points=entry.points,
                note=entry.note,
                actor=entry.actor,
                at=entry.at,
            )
            .returning(t.points_ledger.c.id)
        ).scalar_one()
        return LedgerEntry(
            entry.citizen_id,
            entry.kind,
            entry.points,
            entry.actor,
            entry.at,
            entry.case_id,
            entry.note,
            int(entry_id),
        )

    def top(self, limit: int) -> list[tuple[Citizen, int, int]]:
        ledger = t.points_ledger
        one_report = sa.case((ledger.c.kind == EntryKind.EARN.value, 1), else_=-1)
        kept = (
            sa.select(
                ledger.c.citizen_id,
                sa.func.sum(ledger.c.points).label("points"),
                sa.func.sum(one_report).label("reports"),
            )
            .where(ledger.c.kind.in_(_KEPT))
            .group_by(ledger.c.citizen_id)
            .having(sa.func.sum(ledger.c.points) > 0)
            .subquery()
        )
        rows = self.connection.execute(
            sa.select(t.citizens, kept.c.points, kept.c.reports)
            .join(kept, kept.c.citizen_id == t.citizens.c.id)
            .order_by(kept.c.points.desc(), t.citizens.c.created_at, t.citizens.c.id)
            .limit(limit)
        )
        return [(_citizen(r), int(r.points), int(r.reports)) for r in rows]
