"""Rows written with COPY (``adapters.db.copy_rows``, PostgreSQL: how a group commit
writes its batch) are stored exactly as an INSERT of the same rows stores them — text
with the characters COPY escapes, JSON, times at another offset, NULLs — and a row that
cannot be stored fails the whole COPY, as an INSERT would, with nothing left behind. A
table of PostgreSQL's own types goes in COPY's binary format; one with a type made by
CREATE TYPE, in its text format."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.copy_rows import copy_rows
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.platform import Platform
from tests.integration.test_clocks_and_escalation import new_case

#: What COPY's text format must escape (tab, newline, backslash, a literal ``\N``), and
#: more than the basic plane.
TRICKY = "tab\there, new\nline, back\\slash, \\N, \r, 引号\"' 😀"


@pytest.fixture
def case_id(demo: Platform) -> int:
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's; SQLite inserts the held rows")
    return new_case(demo, "YPG1-001")


def _event(case_id: int, seq: int, **changes: Any) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": seq,
        "action": "note",
        "actor": TRICKY,
        "at": datetime(2020, 6, 24, 9, 30, 15, 123456, tzinfo=CHINA_TZ),
        "from_status": None,
        "to_status": "dispatched",
        "note": TRICKY,
        "reason": "",
        "photos": [],
        "lng": None,
        "lat": 31.25,
        "data": {"text": TRICKY, "list": [1, None, 2.5], "nested": {"flag": True}},
        **changes,
    }


def _stored(demo: Platform, case_id: int, seq: int) -> dict[str, Any]:
    e = t.case_events.c
    query = sa.select(t.case_events).where(e.case_id == case_id, e.seq == seq)
    with demo.engine.connect() as connection:
        row = connection.execute(query).mappings().one()
    return {k: v for k, v in row.items() if k not in ("id", "seq")}


def _events(demo: Platform, case_id: int) -> int:
    query = sa.select(sa.func.count()).where(t.case_events.c.case_id == case_id)
    with demo.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_copied_rows_are_stored_as_inserted_ones(demo: Platform, case_id: int) -> None:
    with demo.engine.begin() as connection:
        connection.execute(t.case_events.insert(), [_event(case_id, 100)])
        copy_rows(connection, t.case_events, [_event(case_id, 101), _event(case_id, 102)])
    inserted = _stored(demo, case_id, 100)
    assert _stored(demo, case_id, 101) == _stored(demo, case_id, 102) == inserted
    assert inserted["note"] == inserted["actor"] == TRICKY
    assert inserted["data"] == _event(case_id, 0)["data"]  # JSON as written, read back
    assert inserted["from_status"] is None and inserted["lng"] is None
    assert inserted["at"] == _event(case_id, 0)["at"]  # the same instant, read in UTC


def test_a_row_that_cannot_be_stored_fails_the_copy_and_leaves_nothing(
    demo: Platform, case_id: int
) -> None:
    before = _events(demo, case_id)
    taken = _event(case_id, 200)
    with demo.engine.begin() as connection:
        copy_rows(connection, t.case_events, [taken])
    for rows, error in [
        ([_event(case_id, 201), taken], sa.exc.IntegrityError),  # (case_id, seq) again
        ([_event(case_id, 202, at=datetime(2020, 6, 24, 9, 30))], ValueError),  # naive time
        ([_event(case_id, 203, colour="red")], ValueError),  # no such column
    ]:
        with pytest.raises(error), demo.engine.begin() as connection:
            copy_rows(connection, t.case_events, rows)
        assert _events(demo, case_id) == before + 1
    with pytest.raises(ValueError, match="colour"), demo.engine.begin() as connection:
        copy_rows(connection, t.case_events, [_event(case_id, 204, colour="red")])


def test_a_table_with_a_type_of_its_own_is_copied_too(demo: Platform, case_id: int) -> None:
    moods = sa.Table(
        "copy_moods",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mood", sa.Enum("calm", "busy", name="copy_mood")),
        sa.Column("at", sa.DateTime(timezone=True)),
    )
    at = datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ)
    with demo.engine.begin() as connection:
        moods.create(connection)
        try:
            copy_rows(connection, moods, [{"id": 1, "mood": "busy", "at": at}])
            copy_rows(connection, t.case_events, [_event(case_id, 300)])  # binary, alongside
            stored = connection.execute(sa.select(moods.c.mood, moods.c.at)).one()
        finally:
            moods.drop(connection)
            sa.Enum(name="copy_mood").drop(connection)
    assert tuple(stored) == ("busy", at)
    assert _stored(demo, case_id, 300)["note"] == TRICKY
