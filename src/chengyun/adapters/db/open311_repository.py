"""Open311 applications and the requests they made; a request's case is reached through
the core's idempotency key ``open311:<token>`` (written with the case, in its
transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.read_cache import bump, current
from chengyun.adapters.db.tables_open311 import open311_applications, open311_requests
from chengyun.services.open311_records import CASE_KEY_PREFIX, Application, Intake, RequestQuery
from chengyun.services.records import DuplicateKey

if TYPE_CHECKING:
    from chengyun.adapters.db.case_repository import SqlCaseRepository

_apps = open311_applications.c
#: The revision counter a revocation bumps: api_keys remembered per process are checked
#: against it (see ``services.open311.ApplicationCache``).
APPLICATIONS = "open311_applications"
_requests = open311_requests.c
#: A request's row, its values bound at execution (building the statement from them on
#: every request cost more than running it).
_ADD_INTAKE = open311_requests.insert()
_keys = t.idempotency_keys.c
_cases = t.cases.c


def _application(row: Any) -> Application:
    return Application(
        id=row.id,
        name=row.name,
        channel=row.channel,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _intake(row: Any) -> Intake:
    return Intake(
        token=row.token,
        application_id=row.application_id,
        client_key=row.client_key,
        request_hash=row.request_hash,
        media_url=row.media_url,
        created_at=row.created_at,
    )


class SqlOpen311Repository:
    def __init__(self, connection: Connection, cases: SqlCaseRepository | None = None) -> None:
        self.connection = connection
        #: The transaction's cases, whose batch (a group commit) holds back the intake
        #: records with its own rows.
        self._cases = cases

    # --- applications ---------------------------------------------------------------------

    def add_application(self, name: str, key_hash: str, channel: str, at: datetime) -> int:
        inserted = self.connection.execute(
            open311_applications.insert()
            .values(name=name, key_hash=key_hash, channel=channel, created_at=at)
            .returning(_apps.id)
        )
        return int(inserted.scalar_one())

    def application(self, name: str) -> Application | None:
        row = self.connection.execute(
            sa.select(open311_applications).where(_apps.name == name)
        ).first()
        return _application(row) if row else None

    def application_by_key(self, key_hash: str) -> Application | None:
        row = self.connection.execute(
            sa.select(open311_applications).where(_apps.key_hash == key_hash)
        ).first()
        return _application(row) if row else None

    def applications(self) -> list[Application]:
        rows = self.connection.execute(sa.select(open311_applications).order_by(_apps.name))
        return [_application(r) for r in rows]

    def revoke(self, application_id: int, at: datetime) -> None:
        self.connection.execute(
            open311_applications.update()
            .where(_apps.id == application_id, _apps.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        bump(self.connection, APPLICATIONS)

    def revision(self) -> int:
        """The applications' revision counter (see ``APPLICATIONS``)."""
        return current(self.connection, APPLICATIONS)

    def touch(self, application_id: int, at: datetime) -> None:
        self.connection.execute(
            open311_applications.update().where(_apps.id == application_id).values(last_used_at=at)
        )

    # --- requests -------------------------------------------------------------------------

    def add_intake(self, intake: Intake) -> None:
        row = {
            "token": intake.token,
            "application_id": intake.application_id,
            "client_key": intake.client_key,
            "request_hash": intake.request_hash,
            "media_url": intake.media_url,
            "created_at": intake.created_at,
        }
        if self._cases is not None and self._cases.hold_row("open311_requests", row):
            return  # written with the batch: a key used meanwhile undoes the batch
        try:
            self.connection.execute(_ADD_INTAKE, row)
        except sa_exc.IntegrityError as error:  # a concurrent retry with the same key won
            raise DuplicateKey(intake.client_key) from error

    def intake(self, token: str) -> Intake | None:
        row = self.connection.execute(
            sa.select(open311_requests).where(_requests.token == token)
        ).first()
        return _intake(row) if row else None

    def intake_by_client_key(self, application_id: int, client_key: str) -> Intake | None:
        row = self.connection.execute(
            sa.select(open311_requests).where(
                _requests.application_id == application_id, _requests.client_key == client_key
            )
        ).first()
        return _intake(row) if row else None

    def remove_intake(self, token: str) -> None:
        self.connection.execute(open311_requests.delete().where(_requests.token == token))

    def find(self, query: RequestQuery) -> list[tuple[int, Intake]]:
        conditions: list[Any] = []
        if query.numbers:
            conditions.append(_cases.number.in_(query.numbers))
        if query.subclasses:
            conditions.append(_cases.subclass.in_(query.subclasses))
        if query.statuses:
            conditions.append(_cases.status.in_(query.statuses))
        if query.start is not None:
            conditions.append(_cases.reported_at >= query.start)
        if query.end is not None:
            conditions.append(_cases.reported_at <= query.end)
        rows = self.connection.execute(
            sa.select(_cases.id.label("case_id"), open311_requests)
            .select_from(
                open311_requests.join(
                    t.idempotency_keys, _keys.key == sa.literal(CASE_KEY_PREFIX) + _requests.token
                ).join(t.cases, _cases.id == _keys.case_id)
            )
            .where(*conditions)
            .order_by(_cases.reported_at.desc(), _cases.id.desc())
            .limit(query.limit)
        )
        return [(int(r.case_id), _intake(r)) for r in rows]

    def token_of_case(self, case_id: int) -> str | None:
        found = self.connection.execute(
            sa.select(_keys.key).where(
                _keys.case_id == case_id, _keys.key.startswith(CASE_KEY_PREFIX, autoescape=True)
            )
        ).scalar_one_or_none()
        return None if found is None else str(found)[len(CASE_KEY_PREFIX) :]

    def case_id(self, token: str) -> int | None:
        found = self.connection.execute(
            sa.select(_keys.case_id).where(_keys.key == CASE_KEY_PREFIX + token)
        ).scalar_one_or_none()
        return None if found is None else int(found)
