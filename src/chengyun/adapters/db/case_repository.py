"""Cases, their events, photos, numbering and idempotency keys; the outbox; the taxonomy."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chengyun.adapters.db import case_counts, case_measures
from chengyun.adapters.db import tables as t
from chengyun.adapters.db.copy_rows import copy_rows, insert_rows
from chengyun.adapters.db.read_cache import (
    ReadCache,
    bump,
    carried,
    carrying,
    counters,
    current,
)
from chengyun.adapters.db.tables_open311 import open311_requests
from chengyun.adapters.taxonomy_file import subclass_from_mapping, subclass_to_mapping
from chengyun.domain import case_clocks
from chengyun.domain.access import CaseView, joint_departments
from chengyun.domain.case_facts import facts_of
from chengyun.domain.cases import (
    OPEN_STATUSES,
    Action,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    EscalationLevel,
)
from chengyun.domain.errors import Conflict, Problem
from chengyun.domain.measures import CaseFacts
from chengyun.domain.sla import Light
from chengyun.domain.taxonomy import CaseKind, Stage, Taxonomy, Urgency
from chengyun.services.records import (
    CaseFilter,
    CaseRecord,
    CaseSummary,
    Delivery,
    DuplicateKey,
    NearbyCase,
    OutboxMessage,
    PendingMessage,
    PhotoRecord,
)

OPEN = [s.value for s in OPEN_STATUSES]
#: The taxonomy's revision counter (``read_cache``).
TAXONOMY = "taxonomy"
E = TypeVar("E", bound=Enum)


#: What ``plain`` gives back as it is, by exact type (an enum of str is not a str here).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A JSON-ready copy: datetimes as ISO text, enums as their values."""
    kind = type(value)  # the common kinds first, without the ABC checks below
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def revive(value: Any, key: str = "") -> Any:
    """The inverse of ``plain`` for what the domain reads back: ``…_at`` keys as datetimes."""
    if isinstance(value, Mapping):
        return {k: revive(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v, key) for v in value]
    if isinstance(value, str) and (key == "at" or key.endswith("_at")):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _maybe_aware(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value)


def _case_row(record: CaseRecord, facts: CaseFacts) -> dict[str, Any]:
    case = record.case
    state = {
        "handlers": list(case.handlers),
        "returns": case.returns,
        "reworks": case.reworks,
        "extensions": case.extensions,
        "extension_pending": plain(case.extension_pending),
        "void_pending": plain(case.void_pending),
        "held_from": case.held_from.value if case.held_from else None,
        "joint": plain(case.joint),
        "agenda": plain(case.agenda),
        "duplicates": plain(case.duplicates),
        "clocks": case_clocks.to_json(record.clocks),
        "extra": plain(record.extra),
    }
    return {
        **_fact_columns(facts),
        "number": case.number,
        "kind": case.kind.value,
        "subclass": case.subclass,
        "channel": case.channel.value,
        "urgency": case.urgency.value,
        "status": case.status.value,
        "light": record.light.value,
        "reported_at": case.reported_at,
        "reporter": case.reporter,
        "description": case.description,
        "address": record.address,
        "grid_code": case.grid_code,
        "unit_code": case.unit_code,
        "area_codes": list(case.area_codes),
        "lng": case.position[0] if case.position else None,
        "lat": case.position[1] if case.position else None,
        "pre_launch": case.pre_launch,
        "hazard": case.hazard,
        "assignee": case.assignee,
        "unassigned": record.unassigned,
        "escalation_level": case.escalation_level.value,
        "self_handled": case.self_handled,
        "merged_into": case.merged_into,
        "next_due_at": record.next_due_at,
        "closed_at": facts.closed_at,
        "updated_at": case.events[-1].at if case.events else case.reported_at,
        "version": case.version,
        "state": state,
        "list_state": list_state(state),
    }


def list_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The little of a case's state that its row in a list shows (``list_state``), kept
    beside the state on every save so that a page of 50 rows need not read 50 whole states
    (reading them was a third of a list page's time): when each running stage is due (a
    stage runs until it has a ``done_at``, as ``case_clocks.from_json`` reads it), the
    cases it was offered as a possible duplicate of, and why it went to whom it went to."""
    stages = (state.get("clocks") or {}).get("stages") or {}
    extra = state.get("extra") or {}
    return {
        "due": {stage: clock["due_at"] for stage, clock in stages.items() if not clock["done_at"]},
        "possible_duplicates": extra.get("possible_duplicates", []),
        "dispatch_reason": str(extra.get("dispatch_reason", "")),
    }


def _facts(record: CaseRecord) -> CaseFacts:
    return facts_of(record.case, record.clocks, responsible=record.extra.get("responsible"))


#: The stage facts' columns (``{stage}_started_at`` and so on), named once.
_STAGE_COLUMNS = tuple(
    f"{stage.value}_{what}" for stage in Stage for what in ("started_at", "due_at", "done_at")
)


def _fact_columns(facts: CaseFacts) -> dict[str, Any]:
    """What the measures read, one row per case: first discovery, counters, stage times."""
    columns: dict[str, Any] = {
        "first_channel": facts.first_channel.value,
        "first_found_at": facts.first_found_at,
        "responsible": facts.responsible,
        "dispatches": facts.dispatches,
        "returns": facts.returns,
        "reworks": facts.reworks,
        "extensions": facts.extensions,
        "checks": facts.checks,
        "failed_checks": facts.failed_checks,
    }
    for name in _STAGE_COLUMNS:
        columns[name] = getattr(facts, name)
    return columns


def _event_row(case_id: int, e: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": e.seq,
        "action": e.action.value,
        "actor": e.actor,
        "at": e.at,
        "from_status": e.from_status.value if e.from_status else None,
        "to_status": e.to_status.value,
        "note": e.note,
        "reason": e.reason,
        "photos": list(e.photos),
        "lng": e.position[0] if e.position else None,
        "lat": e.position[1] if e.position else None,
        "data": plain(e.data),
    }


def _event(row: Any) -> CaseEvent:
    return CaseEvent(
        seq=row.seq,
        action=Action(row.action),
        actor=row.actor,
        at=_aware(row.at),
        from_status=CaseStatus(row.from_status) if row.from_status else None,
        to_status=CaseStatus(row.to_status),
        note=row.note,
        reason=row.reason,
        photos=tuple(row.photos or ()),
        position=(row.lng, row.lat) if row.lng is not None else None,
        data=revive(row.data or {}),
    )


def _record(row: Any, events: list[CaseEvent]) -> CaseRecord:
    state = row.state
    case = Case(
        id=row.id,
        number=row.number,
        kind=CaseKind(row.kind),
        subclass=row.subclass,
        channel=Channel(row.channel),
        urgency=Urgency(row.urgency),
        status=CaseStatus(row.status),
        reported_at=_aware(row.reported_at),
        reporter=row.reporter,
        description=row.description,
        grid_code=row.grid_code,
        unit_code=row.unit_code,
        area_codes=tuple(row.area_codes or ()),
        position=(row.lng, row.lat) if row.lng is not None else None,
        pre_launch=bool(row.pre_launch),
        hazard=bool(row.hazard),
        assignee=row.assignee,
        handlers=list(state.get("handlers", [])),
        escalation_level=EscalationLevel(row.escalation_level),
        returns=state.get("returns", 0),
        reworks=state.get("reworks", 0),
        extensions=state.get("extensions", 0),
        self_handled=bool(row.self_handled),
        extension_pending=revive(state.get("extension_pending")),
        void_pending=revive(state.get("void_pending")),
        held_from=CaseStatus(state["held_from"]) if state.get("held_from") else None,
        joint=revive(state.get("joint")),
        agenda=revive(state.get("agenda") or []),
        merged_into=row.merged_into,
        duplicates=revive(state.get("duplicates") or []),
        version=row.version,
        events=events,
    )
    return CaseRecord(
        case=case,
        clocks=case_clocks.from_json(state.get("clocks") or {}),
        light=Light(row.light),
        next_due_at=_maybe_aware(row.next_due_at),
        address=row.address,
        unassigned=bool(row.unassigned),
        extra=revive(state.get("extra") or {}),
        saved_events=len(events),
    )


@lru_cache(maxsize=4)
def _update_case(columns: tuple[str, ...]) -> sa.Update:
    """The case UPDATE built once, with bound parameters: building it from values on every
    save dominated the cost of a sweep."""
    return (
        t.cases.update()
        .where(t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_expected"))
        .values({name: sa.bindparam(name) for name in columns})
    )


#: The case INSERT, its columns bound from the row at execution (building it with
#: ``.values(**row)`` coerced and cache-keyed every one of the ~55 values on each report).
_INSERT_CASE = t.cases.insert().returning(t.cases.c.id)
#: The ids of ``n`` cases taken ahead from the cases' sequence (PostgreSQL).
_NEXT_IDS = sa.text(
    "SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, :n)"
)
#: Rows locked in id order: two transactions locking several never wait for each other
#: in opposite order.
_LOCK = sa.text("SELECT id FROM cases WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")
#: Check the deferrable references to a case (``tables.case_ref``) at the commit.
_DEFER_CASE_REFS = sa.text(
    "SET CONSTRAINTS "
    + ", ".join(
        sorted(
            str(reference.name)
            for table in t.metadata.sorted_tables
            for reference in table.foreign_key_constraints
            if reference.deferrable
        )
    )
    + " DEFERRED"
)
_INSERT_PHOTO = t.case_photos.insert()
#: Columns that are NULL when left out of an INSERT, exactly as when given ``None``: no
#: default of either kind, and not JSON (where ``None`` is stored as JSON ``null``).
_NULL_WHEN_LEFT_OUT = frozenset(
    c.name
    for c in t.cases.c
    if c.default is None
    and c.server_default is None
    and not isinstance(c.type, sa.JSON)
    and c.nullable
)


@lru_cache(maxsize=2)
def _next_sequence(dialect: str) -> Any:
    """The case-number sequence upsert (the last of the next ``count`` numbers for a
    prefix), built once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    count = sa.bindparam("count", type_=sa.Integer)
    statement = insert(t.case_sequences).values(prefix=sa.bindparam("prefix"), last=count)
    return statement.on_conflict_do_update(
        index_elements=[t.case_sequences.c.prefix],
        set_={"last": t.case_sequences.c.last + count},
    ).returning(t.case_sequences.c.last)


#: The next numbers of several prefixes at once (PostgreSQL), locked in prefix order.
_NEXT_SEQUENCES = sa.text(
    "INSERT INTO case_sequences (prefix, last) "
    "SELECT prefix, n FROM unnest(CAST(:prefixes AS varchar[]), CAST(:counts AS integer[])) "
    "AS wanted (prefix, n) ORDER BY prefix "
    "ON CONFLICT (prefix) DO UPDATE SET last = case_sequences.last + excluded.last "
    "RETURNING prefix, last"
)

#: A group commit's cases get their numbers at its end (see ``renumber``).
_RENUMBER = (
    t.cases.update()
    .where(t.cases.c.id == sa.bindparam("b_id"))
    .values(number=sa.bindparam("b_number"))
)


#: The open statuses as words written into the statements: no parameters to expand on
#: every execution of the case list's most common filter or of a report's queries.
_OPEN_TEXT = [f"'{s}'" for s in sorted(OPEN)]
_OPEN_WORDS: list[Any] = [sa.literal_column(word) for word in _OPEN_TEXT]

# The other queries every report makes, built once with bound parameters (building them
# from values cost about as much as running them).
_OPEN_COUNTS = (
    sa.select(t.cases.c.assignee, sa.func.count())
    .where(
        t.cases.c.assignee.in_(sa.bindparam("numbers", expanding=True)),
        t.cases.c.status.in_(_OPEN_WORDS),
    )
    .group_by(t.cases.c.assignee)
)
_NEARBY_OPEN = (
    sa.select(t.cases.c.id, t.cases.c.number, t.cases.c.reported_at, t.cases.c.lng, t.cases.c.lat)
    .where(
        t.cases.c.subclass == sa.bindparam("subclass"),
        t.cases.c.status.in_(_OPEN_WORDS),
        t.cases.c.reported_at >= sa.bindparam("since"),
        t.cases.c.lng.between(sa.bindparam("west"), sa.bindparam("east")),
        t.cases.c.lat.between(sa.bindparam("south"), sa.bindparam("north")),
    )
    .order_by(t.cases.c.reported_at, t.cases.c.id)
)
#: ``_NEARBY_OPEN`` for many places at once (PostgreSQL): each row says which place
#: (``i``, from 1) it is near.
_NEARBY_MANY = sa.text(
    "SELECT w.i, c.id, c.number, c.reported_at, c.lng, c.lat FROM unnest("
    "CAST(:subclasses AS varchar[]), CAST(:west AS float8[]), CAST(:east AS float8[]), "
    "CAST(:south AS float8[]), CAST(:north AS float8[])"
    ") WITH ORDINALITY AS w (subclass, west, east, south, north, i) "
    "JOIN cases AS c ON c.subclass = w.subclass "
    f"AND c.status IN ({', '.join(_OPEN_TEXT)}) "
    "AND c.reported_at >= :since "
    "AND c.lng BETWEEN w.west AND w.east AND c.lat BETWEEN w.south AND w.north"
).columns(
    sa.column("i", sa.Integer),
    t.cases.c.id,
    t.cases.c.number,
    t.cases.c.reported_at,
    t.cases.c.lng,
    t.cases.c.lat,
)


def _box(lng: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """West, east, south and north of a square around a point holding its circle."""
    dlat = radius_m / 110_540.0
    dlng = radius_m / (111_320.0 * math.cos(math.radians(lat)))
    return lng - dlng, lng + dlng, lat - dlat, lat + dlat


@dataclass(frozen=True)
class _Near:
    """A case that may be near a report: what ``_NEARBY_OPEN`` reads of it."""

    id: int
    number: str
    reported_at: datetime
    lng: float
    lat: float


#: What a batch asked ahead of its reports (see ``expect_nearby``): the radius and the
#: earliest time asked for, and each place's cases.
_Expected = tuple[float, datetime, dict[tuple[str, float, float], list[_Near]]]


_SEEN_KEY = sa.select(t.idempotency_keys.c.request_hash, t.idempotency_keys.c.case_id).where(
    t.idempotency_keys.c.key == sa.bindparam("key")
)

#: Filters compared with a column of the same name.
_EQUAL = ("grid_code", "unit_code", "urgency", "channel", "subclass", "assignee", "light")

#: Which filters a ``CaseFilter`` uses, each with what its condition depends on besides
#: values: the statements are built once per shape and executed with the values.
Shape = tuple[tuple[Any, ...], ...]


def _filter(where: CaseFilter) -> tuple[Shape, dict[str, Any]]:
    """The shape of ``where`` and the values its statements are executed with."""
    shape: list[tuple[Any, ...]] = []
    values: dict[str, Any] = {}

    def use(name: str, value: Any, *depends: Any) -> None:
        shape.append((name, *depends))
        values[name] = value

    if where.status:
        use("status", list(where.status))
    if where.open_only:
        shape.append(("open",))
    for name in _EQUAL:
        value = getattr(where, name)
        if value is not None:
            use(name, value)
    if where.unassigned is not None:
        use("unassigned", where.unassigned)
    if where.area_code:
        use("area", f'"{where.area_code}"')
    if where.visible_scope is not None:
        kind, code = where.visible_scope
        use("scope", code, kind, code is None, bool(where.visible_person))
        if where.visible_person:
            values["person"] = where.visible_person
    if where.text:
        use("text", f"%{where.text}%")
    if where.reported_from is not None:
        use("reported_from", where.reported_from)
    if where.reported_to is not None:
        use("reported_to", where.reported_to)
    return tuple(shape), values


def _conditions(shape: Shape) -> list[Any]:
    c = t.cases.c
    conditions: list[Any] = []
    for name, *depends in shape:
        if name == "status":
            conditions.append(c.status.in_(sa.bindparam("status", expanding=True)))
        elif name == "open":
            conditions.append(c.status.in_(_OPEN_WORDS))
        elif name in _EQUAL or name == "unassigned":
            conditions.append(c[name] == sa.bindparam(name))
        elif name == "area":
            conditions.append(sa.cast(c.area_codes, sa.String).contains(sa.bindparam("area")))
        elif name == "scope":
            kind, no_code, with_person = depends
            column = {"grid": c.grid_code, "unit": c.unit_code, "department": c.responsible}[kind]
            seen = [column.is_(None) if no_code else column == sa.bindparam("scope")]
            if with_person:
                seen += [c.assignee == sa.bindparam("person"), c.reporter == sa.bindparam("person")]
            conditions.append(sa.or_(*seen))
        elif name == "text":
            pattern: Any = sa.bindparam("text")
            conditions.append(
                sa.or_(c.number.like(pattern), c.description.like(pattern), c.address.like(pattern))
            )
        elif name == "reported_from":
            conditions.append(c.reported_at >= sa.bindparam(name))
        elif name == "reported_to":
            conditions.append(c.reported_at < sa.bindparam(name))
        else:
            raise AssertionError(f"unknown filter {name}")
    return conditions


@lru_cache(maxsize=256)
def _page(shape: Shape, summaries: bool) -> sa.Select[Any]:
    """A page of the cases of ``shape``, built once: building it took longer than running it."""
    columns = _SUMMARY_COLUMNS if summaries else (t.cases,)
    return (
        sa.select(*columns)
        .where(*_conditions(shape))
        .order_by(*_LIST_ORDER)
        .limit(sa.bindparam("limit", type_=sa.Integer, literal_execute=True))
        .offset(sa.bindparam("offset", type_=sa.Integer, literal_execute=True))
    )


@lru_cache(maxsize=256)
def _counting(shape: Shape) -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(t.cases).where(*_conditions(shape))


#: Nearest deadline first, none last; the newest of equal deadlines first. The index
#: ``ix_cases_due_order`` holds rows in this order, so a page reads only its own rows.
_LIST_ORDER = (t.cases.c.next_due_at.asc().nulls_last(), t.cases.c.id.desc())

#: A case's own columns, which a list row and a whole case both read (not the fact columns).
_OWN_NAMES = (
    "id",
    "number",
    "kind",
    "subclass",
    "channel",
    "urgency",
    "status",
    "light",
    "reported_at",
    "reporter",
    "description",
    "address",
    "grid_code",
    "unit_code",
    "area_codes",
    "lng",
    "lat",
    "assignee",
    "unassigned",
    "escalation_level",
    "pre_launch",
    "self_handled",
    "version",
)
#: What a list row shows: the case's own columns and its ``list_state`` (the deadlines of its
#: running stages and what the intake offered), not its whole state. Picking those parts out
#: of the state in SQL (``state #> '{clocks,stages}'`` …) parsed the JSON once per part in
#: PostgreSQL and cost three times as much as reading the state whole, which in turn was a
#: third of a page's time.
_SUMMARY_COLUMNS = tuple(t.cases.c[name] for name in (*_OWN_NAMES, "list_state"))


def _members(kind: type[E]) -> dict[str, E]:
    return {m.value: m for m in kind}


# enum members by value: a dictionary look-up is ten times faster than calling the enum
_KINDS = _members(CaseKind)
_CHANNELS = _members(Channel)
_URGENCIES = _members(Urgency)
_STATUSES = _members(CaseStatus)
_LIGHTS = _members(Light)
_LEVELS = _members(EscalationLevel)


def _summary(row: Any) -> CaseSummary:
    # unpacked rather than read by name: ~0.3 µs a name on a row, 26 names, 50 rows a page
    (
        case_id,
        number,
        kind,
        subclass,
        channel,
        urgency,
        status,
        light,
        reported_at,
        reporter,
        description,
        address,
        grid_code,
        unit_code,
        area_codes,
        lng,
        lat,
        assignee,
        unassigned,
        escalation_level,
        pre_launch,
        self_handled,
        version,
        shown,
    ) = row
    return CaseSummary(
        id=case_id,
        number=number,
        kind=_KINDS[kind],
        subclass=subclass,
        channel=_CHANNELS[channel],
        urgency=_URGENCIES[urgency],
        status=_STATUSES[status],
        light=_LIGHTS[light],
        reported_at=_aware(reported_at),
        reporter=reporter,
        description=description,
        address=address,
        grid_code=grid_code,
        unit_code=unit_code,
        area_codes=tuple(area_codes or ()),
        position=(lng, lat) if lng is not None else None,
        assignee=assignee,
        unassigned=bool(unassigned),
        escalation_level=_LEVELS[escalation_level],
        pre_launch=bool(pre_launch),
        self_handled=bool(self_handled),
        version=version,
        deadlines={stage: datetime.fromisoformat(due) for stage, due in shown["due"].items()},
        # as ``CaseSummary.of`` reads the revived ``extra``
        possible_duplicates=tuple(revive(shown["possible_duplicates"], "possible_duplicates")),
        dispatch_reason=shown["dispatch_reason"],
    )


#: What ``_record`` reads of a case: its own columns and state, not the measures' facts.
_RECORD_COLUMNS = tuple(
    t.cases.c[name] for name in (*_OWN_NAMES, "state", "hazard", "merged_into", "next_due_at")
)


def _loading(column: str, locked: bool) -> sa.Select[Any]:
    query = sa.select(*_RECORD_COLUMNS).where(t.cases.c[column] == sa.bindparam("key"))
    return query.with_for_update() if locked else query


# One case and its events, and its photos and notifications, by statements built once
# (building them on every read took longer than the queries).
_LOAD = {(by, locked): _loading(by, locked) for by in ("id", "number") for locked in (False, True)}
_ALL_EVENTS = (
    sa.select(t.case_events)
    .where(t.case_events.c.case_id == sa.bindparam("case_id"))
    .order_by(t.case_events.c.seq)
)
#: A case's events from its report on: no event is earlier than its case's report (the
#: domain refuses one earlier than the case's last, ``domain.cases._check_time``), and the
#: bound lets PostgreSQL skip the monthly partitions before it (``case_id`` is not their
#: key) — without it every load probed every month kept. A case's events are numbered
#: 1…``version``; a load that finds fewer reads them all (``_events``).
_EVENTS = _ALL_EVENTS.where(t.case_events.c.at >= sa.bindparam("since"))
_PHOTOS = (
    sa.select(t.case_photos)
    .where(t.case_photos.c.case_id == sa.bindparam("case_id"))
    .order_by(t.case_photos.c.created_at, t.case_photos.c.id)
)
_DELIVERIES = (
    sa.select(t.outbox).where(t.outbox.c.case_id == sa.bindparam("case_id")).order_by(t.outbox.c.id)
)


def _rows_as_json(table: sa.Table, *order: str) -> sa.ScalarSelect[Any]:
    """The rows of ``table`` that belong to the selected case, as one JSON array (events
    from the case's report on, as ``_EVENTS`` reads them)."""
    rows = table.alias(f"{table.name}_of_case")
    ordered = postgresql.aggregate_order_by(rows.table_valued(), *(rows.c[c] for c in order))
    where = [rows.c.case_id == t.cases.c.id]
    if table is t.case_events:
        where.append(rows.c.at >= t.cases.c.reported_at)
    return sa.select(sa.func.json_agg(ordered)).where(*where).scalar_subquery()


#: A case with its events, photos and notifications in one statement (PostgreSQL): what
#: its page shows, in one round trip instead of four; and the revision counters, which
#: the page's names and labels are checked against (``read_cache.carried``).
_PAGE = sa.select(
    *_RECORD_COLUMNS,
    _rows_as_json(t.case_events, "seq").label("events_json"),
    _rows_as_json(t.case_photos, "created_at", "id").label("photos_json"),
    _rows_as_json(t.outbox, "id").label("deliveries_json"),
    counters("postgresql").label("revisions_json"),
).where(t.cases.c.id == sa.bindparam("key"))


def _json_time(text: str | None) -> datetime | None:
    """A time as PostgreSQL writes it in JSON (ISO 8601, the session's offset), in UTC."""
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _from_json(rows: list[dict[str, Any]] | None, *times: str) -> list[SimpleNamespace]:
    """Rows read as JSON, looking like rows read as rows (their times parsed)."""
    return [SimpleNamespace(**{**r, **{k: _json_time(r[k]) for k in times}}) for r in rows or ()]


class SqlCaseRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        #: Rows held back until ``flush``: (table, rows) by table name.
        self._held_back: dict[str, tuple[sa.Table, list[dict[str, Any]]]] | None = None
        #: While rows are held back: open cases per person as first read, plus the new.
        self._open_counts: dict[str, int] = {}
        #: While rows are held back: the open cases near the batch's reports, asked ahead
        #: (``expect_nearby``), and the open cases the batch added since, by subclass.
        self._expected: _Expected | None = None
        self._batch_open: list[tuple[str, _Near]] = []
        #: While case rows are held back (PostgreSQL): ids taken ahead, and how many to
        #: take at once.
        self._ids: list[int] = []
        self._reserve = 1

    def hold_back(self, cases: int = 1) -> None:
        held: dict[str, tuple[sa.Table, list[dict[str, Any]]]] = {}
        if self.dialect == "postgresql":
            # the cases themselves too, with ids taken ahead from their sequence (in the
            # order written: the cases before what refers to them)
            held["cases"] = (t.cases, [])
            held["case_photos"] = (t.case_photos, [])
            self._ids = []
            self._reserve = max(cases, 1)
        held["case_events"] = (t.case_events, [])
        held["case_measures"] = (t.case_measures, [])
        held["idempotency_keys"] = (t.idempotency_keys, [])
        held["open311_requests"] = (open311_requests, [])  # SqlOpen311Repository.add_intake
        self._held_back = held
        self._open_counts = {}
        self._expected = None
        self._batch_open = []

    def flush(self) -> None:
        self._write_held()
        self._held_back = None
        self._open_counts = {}
        self._expected = None
        self._batch_open = []

    def write_ahead(self) -> None:
        if not self._cases_held():  # PostgreSQL's batches only
            return
        self.connection.execute(_DEFER_CASE_REFS)  # until the transaction ends
        self._write_held(keep="cases")

    def _write_held(self, keep: str | None = None) -> None:
        """Write the rows held back so far, each table's in one statement (and go on
        holding back), but those of the table named ``keep``: a COPY on PostgreSQL
        (``copy_rows``), an INSERT of many rows on SQLite."""
        for name, (table, rows) in (self._held_back or {}).items():
            if not rows or name == keep:
                continue
            written = list(rows)
            rows.clear()
            try:
                if self.dialect == "postgresql":
                    copy_rows(self.connection, table, written)
                else:
                    self.connection.execute(table.insert(), written)
            except sa.exc.IntegrityError as exc:
                if name == "idempotency_keys":  # one of the keys was stored meanwhile
                    raise DuplicateKey(str(written[0]["key"])) from exc
                raise

    def _cases_held(self) -> bool:
        return self._held_back is not None and "cases" in self._held_back

    def _next_id(self) -> int:
        """The id of a case whose row is held back: the next of those taken ahead."""
        if not self._ids:
            self._ids = sorted(
                int(i) for i in self.connection.execute(_NEXT_IDS, {"n": self._reserve}).scalars()
            )
        return self._ids.pop(0)

    def hold_row(self, table: str, row: dict[str, Any]) -> bool:
        """For another repository of the same transaction: hold ``row`` of ``table`` back
        with the batch's rows (``True``), or leave it to the caller to write now."""
        return self._held(table, [row])

    def _held(self, table: str, rows: list[dict[str, Any]]) -> bool:
        """Hold ``rows`` back (``True``) or leave them to the caller to write now."""
        held = None if self._held_back is None else self._held_back.get(table)
        if held is None:
            return False
        held[1].extend(rows)
        return True

    def next_sequence(self, prefix: str, count: int = 1) -> int:
        return int(
            self.connection.execute(
                _next_sequence(self.dialect), {"prefix": prefix, "count": count}
            ).scalar_one()
        )

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        prefixes = sorted(counts)  # one order for every transaction: no deadlock
        if self.dialect != "postgresql" or len(prefixes) < 2:
            return {p: self.next_sequence(p, counts[p]) for p in prefixes}
        # one statement for them all; PostgreSQL takes the rows in the SELECT's order
        rows = self.connection.execute(
            _NEXT_SEQUENCES, {"prefixes": prefixes, "counts": [counts[p] for p in prefixes]}
        )
        return {prefix: int(last) for prefix, last in rows}

    def renumber(self, records: Sequence[CaseRecord]) -> None:
        held = self._held_cases()
        stored = []
        for record in records:
            row = held.get(record.id)
            if row is None:
                stored.append({"b_id": record.id, "b_number": record.case.number})
            else:  # written with its number, not written and then updated
                row["number"] = record.case.number
        if stored:
            self.connection.execute(_RENUMBER, stored)

    def _held_cases(self) -> dict[int, dict[str, Any]]:
        """The case rows held back, by id."""
        held = None if self._held_back is None else self._held_back.get("cases")
        return {} if held is None else {row["id"]: row for row in held[1]}

    def add(self, record: CaseRecord) -> int:
        facts = _facts(record)
        if self._cases_held():
            case_id = self._next_id()
            self._held("cases", [{"id": case_id, **_case_row(record, facts)}])
        else:
            # a new case leaves most of its stage facts empty: sending only the columns
            # that hold something keeps the statement under psycopg's 50 parameters, so
            # that its converted text is cached instead of rebuilt on every report
            row = {
                k: v
                for k, v in _case_row(record, facts).items()
                if v is not None or k not in _NULL_WHEN_LEFT_OUT
            }
            case_id = int(self.connection.execute(_INSERT_CASE, row).scalar_one())
        record.case.id = case_id
        assignee = record.case.assignee
        if assignee in self._open_counts and record.case.status in OPEN_STATUSES:
            self._open_counts[assignee] += 1  # a batch's count, kept up to date
        position = record.case.position
        if self._held_back is not None and position and record.case.status in OPEN_STATUSES:
            # what the batch's later reports would have found of it in the database
            near = _Near(case_id, record.case.number, record.case.reported_at, *position)
            self._batch_open.append((record.case.subclass, near))
        self._append_events(record)
        profile = case_measures.profile_row(case_id, facts)
        if not self._held("case_measures", [profile]):
            self.connection.execute(case_measures.INSERT, profile)
        return case_id

    def _append_events(self, record: CaseRecord) -> None:
        new = record.case.events[record.saved_events :]
        if new:
            rows = [_event_row(record.id, e) for e in new]
            if not self._held("case_events", rows):
                self.connection.execute(t.case_events.insert(), rows)
        record.saved_events = len(record.case.events)

    def save(self, record: CaseRecord, expected_version: int) -> None:
        if self._held_back is not None:
            if self._rewrite_held(record):
                return
            if self._holds(record.id):  # its events or measure profile (SQLite: its row)
                self._write_held()
        facts = _facts(record)
        row = _case_row(record, facts)
        result = self.connection.execute(
            _update_case(tuple(row)), {**row, "_id": record.id, "_expected": expected_version}
        )
        if result.rowcount != 1:
            raise Conflict(
                "案件已被他人更新，请刷新后重试 / the case was changed by someone else "
                "meanwhile: reload it and try again",
                [Problem(("version",), f"expected version {expected_version}", "stale")],
            )
        self._append_events(record)
        self.connection.execute(
            case_measures.upsert(self.dialect), case_measures.profile_row(record.id, facts)
        )

    def _rewrite_held(self, record: CaseRecord) -> bool:
        """Save a case whose rows are still held back by rewriting them (``True``), instead
        of writing them and then updating them; ``False`` if they are not held."""
        held = self._held_cases().get(record.id)
        if held is None:
            return False
        facts = _facts(record)
        held.clear()
        held.update({"id": record.id, **_case_row(record, facts)})
        assert self._held_back is not None  # its case row was held
        profiles = self._held_back["case_measures"][1]
        profile = case_measures.profile_row(record.id, facts)
        at = next((i for i, p in enumerate(profiles) if p["case_id"] == record.id), None)
        if at is not None:
            profiles[at] = profile
        else:  # written ahead (``write_ahead``)
            self.connection.execute(case_measures.upsert(self.dialect), profile)
        if record.case.status not in OPEN_STATUSES:  # e.g. merged: no longer open nearby
            self._batch_open = [(c, n) for c, n in self._batch_open if n.id != record.id]
        self._append_events(record)
        return True

    def _holds(self, case_id: int) -> bool:
        """Whether rows of case ``case_id`` (its own, its events, its measure profile…)
        are among those held back."""
        for name, (_, rows) in (self._held_back or {}).items():
            key = "id" if name == "cases" else "case_id"
            if any(row.get(key) == case_id for row in rows):
                return True
        return False

    def _load(self, by: str, key: Any, for_update: bool = False) -> CaseRecord | None:
        if self._held_back is not None and (by != "id" or self._holds(key)):
            self._write_held()  # the case's rows may be among those held back
        locked = for_update and self.dialect == "postgresql"
        row = self.connection.execute(_LOAD[by, locked], {"key": key}).first()
        if row is None:
            return None
        return _record(row, self._events(row))

    def _events(self, row: Any, read: list[CaseEvent] | None = None) -> list[CaseEvent]:
        """The events of the case ``row``: those ``read`` with it, or from its report on
        (``_EVENTS``); all of them when that misses any (an event recorded before its
        case's report, which the domain has never let through)."""
        if read is None:
            found = self.connection.execute(_EVENTS, {"case_id": row.id, "since": row.reported_at})
            read = [_event(e) for e in found]
        if len(read) == row.version:
            return read
        return [_event(e) for e in self.connection.execute(_ALL_EVENTS, {"case_id": row.id})]

    def get(self, case_id: int, *, for_update: bool = False) -> CaseRecord | None:
        return self._load("id", case_id, for_update)

    def lock(self, case_ids: Sequence[int]) -> None:
        if case_ids and self.dialect == "postgresql":
            self.connection.execute(_LOCK, {"ids": sorted(case_ids)})

    def get_for_page(
        self, case_id: int
    ) -> tuple[CaseRecord, list[PhotoRecord], list[Delivery]] | None:
        """A case with its photos and notifications, as its page shows them."""
        if self.dialect != "postgresql" or self._cases_held():
            record = self.get(case_id)
            if record is None:
                return None
            return record, self.photos(case_id), _deliveries(self.connection, case_id)
        row = self.connection.execute(_PAGE, {"key": case_id}).first()
        if row is None:
            return None
        carried(self.connection, row.revisions_json)
        events = self._events(row, [_event(e) for e in _from_json(row.events_json, "at")])
        photos = [_photo(p) for p in _from_json(row.photos_json, "created_at")]
        deliveries = _from_json(row.deliveries_json, "created_at", "delivered_at")
        return _record(row, events), photos, [_delivery(d) for d in deliveries]

    def get_by_number(self, number: str) -> CaseRecord | None:
        return self._load("number", number)

    def open_counts(self, numbers: Iterable[str]) -> dict[str, int]:
        wanted = list(numbers)
        if self._held_back is None:
            return self._count_open(wanted)
        # a batch asks of the same people again and again: each is counted once, and the
        # batch's own cases are added as they are written (see ``add``)
        known = self._open_counts
        missing = [n for n in wanted if n not in known]
        if missing:
            counted = self._count_open(missing)
            known.update({n: counted.get(n, 0) for n in missing})
        return {n: known[n] for n in wanted if known[n]}

    def _count_open(self, wanted: list[str]) -> dict[str, int]:
        if not wanted:
            return {}
        if case_counts.kept(self.connection):  # kept by the triggers, not counted
            return case_counts.open_by_assignee(self.connection, wanted)
        rows = self.connection.execute(_OPEN_COUNTS, {"numbers": wanted})
        return {a: int(n) for a, n in rows}

    def expect_nearby(
        self, places: Sequence[tuple[str, float, float]], radius_m: float, since: datetime
    ) -> None:
        if self._held_back is None or self.dialect != "postgresql" or not places:
            return
        wanted = list(dict.fromkeys(places))
        boxes = [_box(lng, lat, radius_m) for _, lng, lat in wanted]
        rows = self.connection.execute(
            _NEARBY_MANY,
            {
                "subclasses": [subclass for subclass, _, _ in wanted],
                "west": [b[0] for b in boxes],
                "east": [b[1] for b in boxes],
                "south": [b[2] for b in boxes],
                "north": [b[3] for b in boxes],
                "since": since,
            },
        )
        found: dict[tuple[str, float, float], list[_Near]] = {place: [] for place in wanted}
        for i, *near in rows:
            found[wanted[i - 1]].append(_Near(*near))
        self._expected = (radius_m, since, found)

    def _nearby_expected(
        self, subclass: str, lng: float, lat: float, radius_m: float, since: datetime
    ) -> list[_Near] | None:
        """What ``expect_nearby`` found for this question, with the cases the batch added
        since (ordered as ``_NEARBY_OPEN`` orders them); ``None`` if it was not asked."""
        if self._expected is None:
            return None
        radius, earliest, found = self._expected
        stored = found.get((subclass, lng, lat))
        if stored is None or radius_m > radius or since < earliest:
            return None
        return self._with_batch([r for r in stored if r.reported_at >= since], subclass, since)

    def _with_batch(self, rows: Sequence[Any], subclass: str, since: datetime) -> list[Any]:
        """``rows`` with the open cases of ``subclass`` the batch added since ``since``,
        ordered as ``_NEARBY_OPEN`` orders them."""
        mine = [n for code, n in self._batch_open if code == subclass and n.reported_at >= since]
        return sorted([*rows, *mine], key=lambda r: (r.reported_at, r.id))

    def nearby_open(
        self, subclass: str, lng: float, lat: float, radius_m: float, since: datetime
    ) -> list[NearbyCase]:
        rows: Sequence[Any] | None = self._nearby_expected(subclass, lng, lat, radius_m, since)
        if rows is None:
            west, east, south, north = _box(lng, lat, radius_m)
            rows = self.connection.execute(
                _NEARBY_OPEN,
                {
                    "subclass": subclass,
                    "since": since,
                    "west": west,
                    "east": east,
                    "south": south,
                    "north": north,
                },
            ).all()
            if self._cases_held():  # the batch's own cases are not in the database yet
                rows = self._with_batch(rows, subclass, since)
        return [
            NearbyCase(int(r.id), r.number, r.reported_at)
            for r in rows
            if _metres(lng, lat, r.lng, r.lat) <= radius_m
        ]

    def due(self, now: datetime, limit: int) -> list[int]:
        c = t.cases.c
        query = (
            sa.select(c.id)
            .where(c.next_due_at <= now, c.status.in_(OPEN))
            .order_by(c.next_due_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [int(i) for i in self.connection.execute(query).scalars()]

    def search(self, where: CaseFilter, limit: int, offset: int) -> tuple[int, list[CaseRecord]]:
        shape, values = _filter(where)
        page = {**values, "limit": limit, "offset": offset}
        rows = self.connection.execute(_page(shape, False), page).all()
        return self._count(shape, values), [_record(r, []) for r in rows]

    def summaries(
        self, where: CaseFilter, limit: int, offset: int
    ) -> tuple[int, list[CaseSummary]]:
        shape, values = _filter(where)
        page = {**values, "limit": limit, "offset": offset}
        rows = self.connection.execute(_page(shape, True), page).all()
        return self._count(shape, values), [_summary(r) for r in rows]

    def _count(self, shape: Shape, values: dict[str, Any]) -> int:
        """How many cases a filter selects: summed from the case counts when they are kept
        and it filters on counted columns only, else counted."""
        query = case_counts.counted(shape) if case_counts.kept(self.connection) else None
        if query is None:
            query = _counting(shape)
        # the revision counters come along, which the page's names are checked against
        count, revisions = self.connection.execute(carrying(query, self.dialect), values).one()
        carried(self.connection, revisions)
        return int(count)

    def idempotency(self, key: str) -> tuple[str, int] | None:
        row = self.connection.execute(_SEEN_KEY, {"key": key}).first()
        return (row[0], int(row[1])) if row else None

    def remember_idempotency(self, key: str, request_hash: str, case_id: int, at: datetime) -> None:
        row = {"key": key, "request_hash": request_hash, "case_id": case_id, "created_at": at}
        if self._held("idempotency_keys", [row]):
            return
        try:
            self.connection.execute(t.idempotency_keys.insert(), row)
        except sa.exc.IntegrityError as exc:  # a concurrent retry with the same key won
            raise DuplicateKey(key) from exc

    def add_photo(self, photo: PhotoRecord) -> None:
        row = {
            "id": photo.id,
            "case_id": photo.case_id,
            "content_type": photo.content_type,
            "size": photo.size,
            "sha256": photo.sha256,
            "created_at": photo.created_at,
        }
        if not self._held("case_photos", [row]):
            self.connection.execute(_INSERT_PHOTO, row)

    def photos(self, case_id: int) -> list[PhotoRecord]:
        return [_photo(r) for r in self.connection.execute(_PHOTOS, {"case_id": case_id})]

    def photo(self, photo_id: str) -> PhotoRecord | None:
        row = self.connection.execute(
            sa.select(t.case_photos).where(t.case_photos.c.id == photo_id)
        ).first()
        return _photo(row) if row else None

    def view(self, case_id: int) -> CaseView | None:
        row = self.connection.execute(_VIEW, {"case_id": case_id}).first()
        if row is None:
            return None
        return CaseView(
            row.grid_code,
            row.unit_code,
            row.assignee,
            row.reporter,
            row.responsible,
            tuple(row.handlers or ()),
            joint_departments(row.joint),
        )


_state = t.cases.c.state
#: What a case's visibility asks of it (``CaseView``): a few columns and three values of
#: its state, without its events.
_VIEW = sa.select(
    t.cases.c.grid_code,
    t.cases.c.unit_code,
    t.cases.c.assignee,
    t.cases.c.reporter,
    _state[("extra", "responsible")].as_string().label("responsible"),
    _state["handlers"].label("handlers"),
    _state["joint"].label("joint"),
).where(t.cases.c.id == sa.bindparam("case_id"))


def _photo(row: Any) -> PhotoRecord:
    return PhotoRecord(
        row.id, row.case_id, row.content_type, row.size, row.sha256, _aware(row.created_at)
    )


def _metres(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    x = math.radians(lng2 - lng1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000.0 * math.hypot(x, y)


class SqlOutboxRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name

    def add(self, message: OutboxMessage, at: datetime) -> None:
        self.add_all([message], at)

    def add_all(self, messages: Sequence[OutboxMessage], at: datetime) -> None:
        if not messages:
            return
        rows = [
            {
                "topic": m.topic,
                "recipient": m.recipient,
                "case_id": m.case_id,
                "payload": plain(m.payload),
                "created_at": at,
                "available_at": at,
            }
            for m in messages
        ]
        insert_rows(self.connection, t.outbox, rows)  # a batch's dozens in one COPY

    def pending(self, now: datetime, limit: int) -> list[PendingMessage]:
        o = t.outbox.c
        query = (
            sa.select(o.id, o.topic, o.recipient, o.payload, o.attempts, o.case_id)
            .where(o.delivered_at.is_(None), o.dead.is_(False), o.available_at <= now)
            .order_by(o.available_at, o.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [
            PendingMessage(r.id, r.topic, r.recipient, r.payload, r.attempts, r.case_id)
            for r in self.connection.execute(query)
        ]

    def delivered(self, message_ids: Sequence[int], at: datetime) -> None:
        if not message_ids:
            return
        self.connection.execute(
            t.outbox.update()
            .where(t.outbox.c.id.in_(message_ids))
            .values(delivered_at=at, attempts=t.outbox.c.attempts + 1, last_error="")
        )

    def failed(self, message_id: int, error: str, retry_at: datetime, dead: bool) -> None:
        self.connection.execute(
            t.outbox.update()
            .where(t.outbox.c.id == message_id)
            .values(
                attempts=t.outbox.c.attempts + 1,
                last_error=error[:2000],
                available_at=retry_at,
                dead=dead,
            )
        )

    def for_case(self, case_id: int) -> list[Delivery]:
        return _deliveries(self.connection, case_id)


def _deliveries(connection: Connection, case_id: int) -> list[Delivery]:
    return [_delivery(r) for r in connection.execute(_DELIVERIES, {"case_id": case_id})]


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row.id,
        row.topic,
        row.recipient,
        _aware(row.created_at),
        _maybe_aware(row.delivered_at),
        row.attempts,
        bool(row.dead),
        row.last_error,
        row.payload,
    )


class SqlTaxonomyRepository:
    def __init__(self, connection: Connection, cache: ReadCache | None = None) -> None:
        self.connection = connection
        self.cache = cache
        self.written = False

    def _changed(self) -> None:
        self.written = True
        bump(self.connection, TAXONOMY)

    def revision(self) -> int:
        return current(self.connection, TAXONOMY)

    def get(self) -> Taxonomy | None:
        if self.cache is None or self.written:  # never cache what this transaction changed
            return self._load()
        return self.cache.get(self.connection, TAXONOMY, self._load)

    def _load(self) -> Taxonomy | None:
        rows = (
            self.connection.execute(
                sa.select(t.taxonomy_subclasses.c.body).order_by(t.taxonomy_subclasses.c.position)
            )
            .scalars()
            .all()
        )
        if not rows:
            return None
        subclasses = []
        for i, body in enumerate(rows):
            subclass, problems = subclass_from_mapping(body, ("subclasses", i))
            if subclass is None:  # stored data passed validation when written
                raise RuntimeError(f"stored taxonomy entry {i} is invalid: {problems}")
            subclasses.append(subclass)
        return Taxonomy(tuple(subclasses))

    def lock(self) -> None:
        # SQLite has one writer at a time; PostgreSQL needs an explicit lock so that two
        # edits read-modify-write one after the other instead of losing one of them.
        if self.connection.dialect.name == "postgresql":
            self.connection.execute(sa.text("SELECT pg_advisory_xact_lock(7242001)"))

    def replace(self, taxonomy: Taxonomy) -> None:
        self._changed()
        self.connection.execute(t.taxonomy_subclasses.delete())
        self.connection.execute(
            t.taxonomy_subclasses.insert(),
            [
                {"code": s.code, "position": i, "body": subclass_to_mapping(s)}
                for i, s in enumerate(taxonomy.subclasses)
            ],
        )
