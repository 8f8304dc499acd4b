"""The ``case_measures`` table: each case's measure profile (考核画像), written with the
case and rebuilt from the facts columns of ``cases`` when needed (after the migration that
made the table, or after facts were written to ``cases`` outside the case repository)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.domain.cases import CaseStatus, Channel
from chengyun.domain.measure_profiles import WEIGHTED, profile_of
from chengyun.domain.measures import Anchor, CaseFacts
from chengyun.domain.taxonomy import Stage, Urgency
from chengyun.domain.working_time import as_china_time

m = t.case_measures.c
c = t.cases.c
_e = t.case_events.c

#: The column of each anchor.
ANCHOR_COLUMNS: dict[Anchor, sa.Column[Any]] = {a: m[f"{a.value}_at"] for a in Anchor}
#: The China-time day (``YYYYMMDD``) of each anchor.
DAY_COLUMNS: dict[Anchor, sa.Column[Any]] = {a: m[f"{a.value}_day"] for a in Anchor}
#: The weight columns, in the order of ``Profile.weights``.
WEIGHT_COLUMNS: tuple[sa.Column[Any], ...] = tuple(
    m[f"{measure.value}_{part}"] for measure in WEIGHTED for part in ("numerator", "denominator")
)

Progress = Callable[[str, int, int], None]


def china_day(at: datetime | None) -> int | None:
    """The China-time day of a moment as the number ``YYYYMMDD``."""
    if at is None:
        return None
    local = as_china_time(at)
    return local.year * 10_000 + local.month * 100 + local.day


def profile_row(case_id: int, facts: CaseFacts) -> dict[str, Any]:
    """The ``case_measures`` row of one case."""
    profile = profile_of(facts)
    row: dict[str, Any] = {
        "case_id": case_id,
        "closed_at": profile.closed_at,
        "closed_day": china_day(profile.closed_at),
        "bits": profile.bits,
        "handling_us": profile.handling_us,
        "grid_code": facts.grid_code,
        "unit_code": facts.unit_code,
        "channel": facts.channel.value,
        "subclass": facts.subclass,
        "responsible": facts.responsible,
        "reporter": facts.reporter,
    }
    for anchor, column in ANCHOR_COLUMNS.items():
        row[column.name] = profile.anchors[anchor]
        row[DAY_COLUMNS[anchor].name] = china_day(profile.anchors[anchor])
    for column, weight in zip(WEIGHT_COLUMNS, profile.weights, strict=True):
        row[column.name] = weight
    return row


INSERT = t.case_measures.insert()


@lru_cache(maxsize=2)
def upsert(dialect: str) -> Any:
    """Insert or replace a profile, built once per dialect."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(t.case_measures)
    return statement.on_conflict_do_update(
        index_elements=[m.case_id],
        set_={c.name: statement.excluded[c.name] for c in t.case_measures.c if c.name != "case_id"},
    )


def rebuild_profiles(
    connection: Connection, *, batch: int = 5000, progress: Progress | None = None
) -> int:
    """Rewrite every case's profile from the facts columns of ``cases``, in batches of
    ``batch`` cases in id order; the number of cases. Runs inside the caller's
    transaction, so a failure leaves the old profiles."""
    total = int(connection.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one())
    connection.execute(t.case_measures.delete())
    done, last_id = 0, 0
    if progress:
        progress("case_measures", 0, total)
    while True:
        facts = facts_rows(connection, t.cases.c.id > last_id, limit=batch)
        if not facts:
            break
        connection.execute(INSERT, [profile_row(f.id, f) for f in facts])
        done += len(facts)
        last_id = facts[-1].id
        if progress:
            progress("case_measures", done, total)
    return done


# --- the facts columns of ``cases``, row by row ----------------------------------------------


def _reject_reason(*bound: Any) -> sa.ScalarSelect[Any]:
    return (
        sa.select(_e.data["reason_kind"].as_string())
        .where(_e.case_id == c.id, _e.action == "reject", *bound)
        .order_by(_e.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


#: Why a rejected report was not registered, from its ``reject`` event: asked of rejected
#: cases only (a reject ends a case: no other has one), from the month of the case's report
#: on (``case_id`` is not the monthly partitions' key; no event is earlier than its case's
#: report, as ``SqlCaseRepository`` loads them), and from every month only if that finds
#: no reason (a reject without one, or an event dated before its report by hand).
_REJECT_REASON = sa.case(
    (
        c.status == CaseStatus.REJECTED.value,
        sa.func.coalesce(_reject_reason(_e.at >= c.reported_at), _reject_reason()),
    ),
    else_=None,
)
#: The team type of the person who reported the case (the discovery side).
_REPORTER_TEAM = sa.select(t.people.c.team).where(t.people.c.number == c.reporter).scalar_subquery()
KEY_UNITS = sa.select(t.units.c.code).where(t.units.c["key"] == sa.true())
_STAGE_COLUMNS = [
    c[f"{stage.value}_{what}"] for stage in Stage for what in ("started_at", "due_at", "done_at")
]
_FACTS = sa.select(
    c.id,
    c.number,
    c.status,
    c.channel,
    sa.func.coalesce(c.first_channel, c.channel).label("first_channel"),
    c.reported_at,
    sa.type_coerce(sa.func.coalesce(c.first_found_at, c.reported_at), t.UtcDateTime()).label(
        "first_found_at"
    ),
    c.urgency,
    c.subclass,
    c.grid_code,
    c.unit_code,
    sa.case((c.unit_code.in_(KEY_UNITS), True), else_=False).label("key_unit"),
    c.area_codes,
    c.pre_launch,
    c.self_handled,
    c.merged_into,
    c.reporter,
    c.assignee,
    c.state,
    c.responsible,
    _REPORTER_TEAM.label("reporter_team"),
    _REJECT_REASON.label("reject_reason"),
    c.closed_at,
    c.dispatches,
    c.returns,
    c.reworks,
    c.extensions,
    c.checks,
    c.failed_checks,
    *_STAGE_COLUMNS,
)


def facts_rows(connection: Connection, *where: Any, limit: int | None = None) -> list[CaseFacts]:
    """The facts of the cases matching ``where``, in id order (at most ``limit``)."""
    statement = _FACTS.where(*where).order_by(c.id)
    if limit is not None:
        statement = statement.limit(limit)
    facts = []
    for row in connection.execute(statement):
        data = row._mapping
        facts.append(
            CaseFacts(
                id=int(data["id"]),
                number=str(data["number"]),
                status=CaseStatus(data["status"]),
                channel=Channel(data["channel"]),
                first_channel=Channel(data["first_channel"]),
                reported_at=data["reported_at"],
                first_found_at=data["first_found_at"],
                urgency=Urgency(data["urgency"]),
                subclass=str(data["subclass"]),
                grid_code=data["grid_code"],
                unit_code=data["unit_code"],
                key_unit=bool(data["key_unit"]),
                area_codes=tuple(data["area_codes"] or ()),
                pre_launch=bool(data["pre_launch"]),
                self_handled=bool(data["self_handled"]),
                merged_into=data["merged_into"],
                reporter=data["reporter"],
                assignee=data["assignee"],
                handlers=tuple((data["state"] or {}).get("handlers") or ()),
                responsible=data["responsible"],
                reporter_team=data["reporter_team"],
                reject_reason=data["reject_reason"],
                closed_at=data["closed_at"],
                dispatches=int(data["dispatches"]),
                returns=int(data["returns"]),
                reworks=int(data["reworks"]),
                extensions=int(data["extensions"]),
                checks=int(data["checks"]),
                failed_checks=int(data["failed_checks"]),
                **{column.name: data[column.name] for column in _STAGE_COLUMNS},
            )
        )
    return facts
