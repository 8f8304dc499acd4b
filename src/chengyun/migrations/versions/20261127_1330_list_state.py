"""list state: what a case's row in a list shows of its state, kept beside the state

Revision ID: 20261127_1330
Revises: 20261127_1320
Create Date: 2026-11-27 13:30

A page of the case list read each case's whole state (about 1.7 kB of JSON) for three small
things: when each running stage is due, the cases it was offered as a possible duplicate of,
and why it went to whom it went to. Parsing 50 states was a third of a page's time.
``cases.list_state`` holds just those, written with the state on every save
(``case_repository.list_state``). The cases already stored get theirs here, read from
their state by the same rule (copied below, as a migration must not change with the code),
1,000 at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "20261127_1330"
down_revision = "20261127_1320"
branch_labels = None
depends_on = None

CHUNK = 1000

_cases = sa.table(
    "cases",
    sa.column("id", sa.Integer),
    sa.column("state", sa.JSON),
    sa.column("list_state", sa.JSON),
)


def _list_state(state: Mapping[str, Any]) -> dict[str, Any]:
    stages = (state.get("clocks") or {}).get("stages") or {}
    extra = state.get("extra") or {}
    return {
        "due": {stage: clock["due_at"] for stage, clock in stages.items() if not clock["done_at"]},
        "possible_duplicates": extra.get("possible_duplicates", []),
        "dispatch_reason": str(extra.get("dispatch_reason", "")),
    }


def upgrade() -> None:
    op.add_column("cases", sa.Column("list_state", sa.JSON(), nullable=True))
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(_cases.c.id, _cases.c.state)
            .where(_cases.c.id > after, _cases.c.list_state.is_(None))
            .order_by(_cases.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        connection.execute(
            _cases.update()
            .where(_cases.c.id == sa.bindparam("b_id"))
            .values(list_state=sa.bindparam("b_list_state", type_=sa.JSON)),
            [{"b_id": i, "b_list_state": _list_state(state)} for i, state in rows],
        )
        after = rows[-1].id


def downgrade() -> None:
    # a plain DROP COLUMN on SQLite too (3.35 and later): a batch operation would copy the
    # table, which its foreign keys forbid once cases refer to it
    op.execute("ALTER TABLE cases DROP COLUMN list_state")
