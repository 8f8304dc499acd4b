"""Accounts, API tokens (stored as hashes) and the hash-chained audit log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.copy_rows import insert_rows
from chengyun.adapters.db.read_cache import bump, current
from chengyun.domain.audit import GENESIS, AuditRecord, record_hash
from chengyun.services.records import Account, ApiToken, NewAccount


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        role=row.role,
        scope_kind=row.scope_kind,
        scope_code=row.scope_code,
        person_number=row.person_number,
        display_name=row.display_name,
        disabled=bool(row.disabled),
        failed_logins=row.failed_logins,
        last_failed_at=row.last_failed_at,
        session_epoch=row.session_epoch,
        created_at=row.created_at,
    )


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        permissions=row.permissions,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


#: The revision counter of what decides whom a bearer token speaks for: bumped when a
#: token is revoked, an account disabled or enabled, or a password set (see
#: ``services.accounts.TokenCache``).
ACCOUNTS = "accounts"


class SqlAccountRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def revision(self) -> int:
        """The accounts revision counter (see ``ACCOUNTS``)."""
        return current(self.connection, ACCOUNTS)

    def _one(self, where: Any) -> Account | None:
        row = self.connection.execute(sa.select(t.accounts).where(where)).first()
        return _account(row) if row else None

    def by_username(self, username: str) -> Account | None:
        return self._one(t.accounts.c.username == username)

    def by_id(self, account_id: int) -> Account | None:
        return self._one(t.accounts.c.id == account_id)

    def all(self) -> list[Account]:
        rows = self.connection.execute(sa.select(t.accounts).order_by(t.accounts.c.username))
        return [_account(r) for r in rows]

    def _row(self, account: NewAccount, at: datetime) -> dict[str, Any]:
        return {
            "username": account.username,
            "password_hash": account.password_hash,
            "role": account.role,
            "scope_kind": account.scope_kind,
            "scope_code": account.scope_code,
            "person_number": account.person_number,
            "display_name": account.display_name,
            "created_at": at,
        }

    def add(self, account: NewAccount, at: datetime) -> int:
        return int(
            self.connection.execute(
                t.accounts.insert().values(**self._row(account, at)).returning(t.accounts.c.id)
            ).scalar_one()
        )

    def add_many(self, accounts: Sequence[NewAccount], at: datetime) -> None:
        if accounts:
            self.connection.execute(t.accounts.insert(), [self._row(a, at) for a in accounts])

    def _update(self, account_id: int, **values: Any) -> None:
        self.connection.execute(
            t.accounts.update().where(t.accounts.c.id == account_id).values(**values)
        )

    def failed_login(self, account_id: int, at: datetime) -> None:
        self._update(account_id, failed_logins=t.accounts.c.failed_logins + 1, last_failed_at=at)

    def succeeded_login(self, account_id: int, password_hash: str | None = None) -> None:
        values: dict[str, Any] = {"failed_logins": 0, "last_failed_at": None}
        if password_hash:
            values["password_hash"] = password_hash
        self._update(account_id, **values)

    def set_password(self, account_id: int, password_hash: str) -> None:
        self._update(
            account_id, password_hash=password_hash, session_epoch=t.accounts.c.session_epoch + 1
        )
        bump(self.connection, ACCOUNTS)

    def set_disabled(self, account_id: int, disabled: bool) -> None:
        self._update(account_id, disabled=disabled)
        bump(self.connection, ACCOUNTS)

    def bump_session_epoch(self, account_id: int) -> None:
        self._update(account_id, session_epoch=t.accounts.c.session_epoch + 1)

    def add_token(
        self,
        account_id: int,
        name: str,
        token_hash: str,
        permissions: list[str] | None,
        at: datetime,
        expires_at: datetime | None,
    ) -> int:
        return int(
            self.connection.execute(
                t.api_tokens.insert()
                .values(
                    account_id=account_id,
                    name=name,
                    token_hash=token_hash,
                    permissions=permissions,
                    created_at=at,
                    expires_at=expires_at,
                )
                .returning(t.api_tokens.c.id)
            ).scalar_one()
        )

    def token(self, token_hash: str) -> tuple[ApiToken, Account] | None:
        row = self.connection.execute(
            sa.select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        account = self.by_id(row.account_id)
        return (_token(row), account) if account else None

    def tokens(self, account_id: int) -> list[ApiToken]:
        rows = self.connection.execute(
            sa.select(t.api_tokens)
            .where(t.api_tokens.c.account_id == account_id)
            .order_by(t.api_tokens.c.id)
        )
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: int, account_id: int | None, at: datetime) -> bool:
        where = [t.api_tokens.c.id == token_id, t.api_tokens.c.revoked_at.is_(None)]
        if account_id is not None:
            where.append(t.api_tokens.c.account_id == account_id)
        result = self.connection.execute(t.api_tokens.update().where(*where).values(revoked_at=at))
        if result.rowcount:
            bump(self.connection, ACCOUNTS)
        return bool(result.rowcount)

    def touch_token(self, token_id: int, at: datetime) -> None:
        self.connection.execute(
            t.api_tokens.update().where(t.api_tokens.c.id == token_id).values(last_used_at=at)
        )


#: The advisory lock whose holder may append to the audit chain (PostgreSQL).
AUDIT_CHAIN_LOCK = 7242002
#: The audit statements, built once (every change over HTTP appends a record).
_LOCK_CHAIN = sa.text(f"SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK})")
_LAST_HASH = sa.select(t.audit_log.c.hash).order_by(t.audit_log.c.id.desc()).limit(1)
#: The chain's head as its trigger keeps it (PostgreSQL; ``tables.audit_head``).
_HEAD_HASH = sa.select(t.audit_head.c.hash)


class SqlAuditRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        #: The transaction holding the chain's turn, and the head as it left it (``None``
        #: until it appends): further appends in it (a group commit's) read nothing.
        self._held: tuple[object, str | None] | None = None

    def hold(self) -> None:
        transaction = self.connection.get_transaction()
        if self._held is None or self._held[0] is not transaction:
            if self.connection.dialect.name == "postgresql":
                # one chain: appends wait for each other until their transactions end
                self.connection.execute(_LOCK_CHAIN)
            self._held = (transaction, None)

    def append(
        self, at: datetime, actor: str, action: str, target: str, details: dict[str, object]
    ) -> None:
        self.append_all([(at, actor, action, target, details)])

    def append_all(
        self, records: Sequence[tuple[datetime, str, str, str, dict[str, object]]]
    ) -> None:
        if not records:
            return
        self.hold()
        transaction, prev = self._held or (None, None)
        if prev is None:
            prev = self._head() or GENESIS
        rows = []
        for at, actor, action, target, details in records:
            digest = record_hash(prev, at, actor, action, target, details)
            rows.append(
                {
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "details": details,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        insert_rows(self.connection, t.audit_log, rows)  # a batch's records in one COPY
        self._held = (transaction, prev)

    def _head(self) -> str | None:
        """The hash of the chain's last record, ``None`` for an empty chain: on
        PostgreSQL from ``audit_head`` (one row, however many months the log holds),
        from the log itself when that row is missing."""
        if self.connection.dialect.name == "postgresql":
            head = self.connection.execute(_HEAD_HASH).scalar()
            if head is not None:
                return str(head)
        last = self.connection.execute(_LAST_HASH).scalar()
        return None if last is None else str(last)

    def records(self) -> Iterator[AuditRecord]:
        """Every record in order, fetched a batch at a time (a server-side cursor on
        PostgreSQL): years of the log are checked without holding them all."""
        rows = self.connection.execute(
            sa.select(t.audit_log).order_by(t.audit_log.c.id),
            execution_options={"yield_per": _BATCH},
        )
        for r in rows:
            yield AuditRecord(
                r.id, r.at, r.actor, r.action, r.target, r.details, r.prev_hash, r.hash
            )


#: Audit records read at a time when the whole log is checked.
_BATCH = 2000
