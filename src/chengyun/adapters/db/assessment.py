"""What the assessment (督查考核) reads and writes besides the measures: the weights, one
row of the ``settings_store`` table (``assessment_weights``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.services.assessment import StoredSetting

s = t.settings_store.c


class SqlSettingsStore:
    """Named JSON settings on the connection of an open unit of work."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, name: str) -> StoredSetting | None:
        row = self.connection.execute(
            sa.select(s.value, s.updated_at, s.updated_by).where(s.name == name)
        ).first()
        if row is None:
            return None
        return StoredSetting(row.value, row.updated_at, row.updated_by)

    def put(self, name: str, value: Any, at: datetime, by: str) -> None:
        # one statement, so that two saves at once cannot both try to insert
        by = by[:64]
        changes = {"value": value, "updated_at": at, "updated_by": by}
        if self.connection.dialect.name == "postgresql":
            pg = postgresql.insert(t.settings_store).values(name=name, **changes)
            self.connection.execute(pg.on_conflict_do_update(index_elements=[s.name], set_=changes))
            return
        lite = sqlite.insert(t.settings_store).values(name=name, **changes)
        self.connection.execute(lite.on_conflict_do_update(index_elements=[s.name], set_=changes))


def settings_store(uow: SqlUnitOfWork) -> SqlSettingsStore:
    """The settings of an open unit of work (what the assessment service is handed)."""
    return SqlSettingsStore(uow.connection)
