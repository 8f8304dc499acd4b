"""Government WeChat (政务微信) storage: the person ↔ user id mapping, the account a
sign-in lands on, and the access token shared by the platform's processes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.account_repository import SqlAccountRepository
from chengyun.adapters.db.tables_wecom import wecom_access_tokens, wecom_users
from chengyun.clock import Clock
from chengyun.services.records import Account

log = logging.getLogger(__name__)


def _upsert(connection: Connection, table: sa.Table, keys: list[str], row: dict[str, Any]) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**row)
    changes = {k: v for k, v in row.items() if k not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


class SqlWeComRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def userids(self, numbers: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        u = wecom_users.c
        rows = self.connection.execute(
            sa.select(u.person_number, u.userid).where(u.person_number.in_(wanted))
        )
        return {r.person_number: r.userid for r in rows}

    def person_for(self, userid: str) -> str | None:
        u = wecom_users.c
        mapped = self.connection.execute(
            sa.select(u.person_number).where(sa.func.lower(u.userid) == userid.lower())
        ).scalar()
        if mapped is not None:
            return str(mapped)
        # unmapped: the user id is the person number, unless the person is mapped elsewhere
        p = t.people.c
        found = (
            self.connection.execute(
                sa.select(p.number)
                .where(sa.func.lower(p.number) == userid.lower())
                .where(~sa.exists().where(u.person_number == p.number))
            )
            .scalars()
            .all()
        )
        return str(found[0]) if len(found) == 1 else None

    def save_users(self, pairs: Sequence[tuple[str, str]], at: datetime) -> None:
        u = wecom_users.c
        numbers = [number for number, _ in pairs]
        lowered = [userid.lower() for _, userid in pairs]
        # a user id moving to another person: free it first (user ids are unique)
        self.connection.execute(
            wecom_users.delete().where(
                sa.or_(u.person_number.in_(numbers), sa.func.lower(u.userid).in_(lowered))
            )
        )
        if pairs:
            self.connection.execute(
                wecom_users.insert(),
                [{"person_number": n, "userid": uid, "updated_at": at} for n, uid in pairs],
            )

    def account_for_person(self, number: str) -> Account | None:
        a = t.accounts.c
        found = self.connection.execute(
            sa.select(a.id)
            .where(sa.or_(a.username == number, a.person_number == number))
            .order_by(sa.case((a.username == number, 0), else_=1), a.id)
            .limit(1)
        ).scalar()
        return None if found is None else SqlAccountRepository(self.connection).by_id(found)


class SqlTokenStore:
    """The access token in a table, so that the web and worker processes share it.

    Writes are best effort: the outbox delivery holds its own transaction while it sends,
    and on SQLite a second writer would wait for it; such a write gives up quickly and
    the token stays in memory only (the next process simply asks for its own)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def load(self, corp_id: str, agent: str) -> tuple[str, datetime] | None:
        c = wecom_access_tokens.c
        try:
            with self.engine.connect() as connection:
                row = connection.execute(
                    sa.select(c.token, c.expires_at).where(c.corp_id == corp_id, c.agent == agent)
                ).first()
        except sa.exc.SQLAlchemyError as error:
            log.warning("wecom token store not readable: %s", error)
            return None
        return (row.token, row.expires_at) if row else None

    def save(self, corp_id: str, agent: str, token: str, expires_at: datetime) -> None:
        row = {
            "corp_id": corp_id,
            "agent": agent,
            "token": token,
            "expires_at": expires_at,
            "updated_at": self.clock.now(),
        }
        self._write(lambda c: _upsert(c, wecom_access_tokens, ["corp_id", "agent"], row))

    def forget(self, corp_id: str, agent: str, token: str) -> None:
        c = wecom_access_tokens.c
        self._write(
            lambda conn: conn.execute(
                wecom_access_tokens.delete().where(
                    c.corp_id == corp_id, c.agent == agent, c.token == token
                )
            )
        )

    def _write(self, change: Any) -> None:
        try:
            with self.engine.connect() as connection:
                sqlite_db = connection.dialect.name == "sqlite"
                if sqlite_db:
                    connection.exec_driver_sql("PRAGMA busy_timeout = 200")
                try:
                    change(connection)
                    connection.commit()
                finally:
                    if sqlite_db:
                        connection.rollback()
                        connection.exec_driver_sql("PRAGMA busy_timeout = 30000")
                        connection.rollback()
        except sa.exc.SQLAlchemyError as error:
            log.info("wecom token kept in memory only (store busy): %s", error)
