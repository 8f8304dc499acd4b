"""Table definitions (SQLAlchemy Core). The schema itself is built by the migrations;
these mirror them for queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored in UTC on every backend (SQLite keeps no offset, so values
    are converted before they are written and marked UTC when they are read)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times must carry an offset")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def case_ref() -> sa.ForeignKey:
    """A reference to ``cases.id`` from a row a new case's batch writes before its case
    (its events, measure profile, photos and Idempotency-Key): deferrable on PostgreSQL
    (checked as each row is written unless a transaction defers it to its commit), so
    that a group commit writes them before its turn on the audit chain and only the case
    rows, which carry the numbers taken in that turn, after it (migration 20261129_0700;
    ``SqlCaseRepository.write_ahead``)."""
    return sa.ForeignKey("cases.id", deferrable=True, initially="IMMEDIATE")


territory_meta = sa.Table(
    "territory_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(15), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("illustrative", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

grids = sa.Table(
    "grids",
    metadata,
    sa.Column("code", sa.String(15), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("live_from", sa.Date, nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("code", sa.String(15), primary_key=True),
    sa.Column("grid_code", sa.String(15), sa.ForeignKey("grids.code"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("key", sa.Boolean, nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
)

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("code", sa.String(15), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("post", sa.String(30), nullable=False),
    sa.Column("team", sa.String(30)),
    sa.Column("department", sa.String(30)),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "number",
        sa.String(32),
        sa.ForeignKey("people.number", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("shift", sa.String(10), nullable=False),
    sa.Column("grid_code", sa.String(15), sa.ForeignKey("grids.code")),
    sa.Column("unit_code", sa.String(15), sa.ForeignKey("units.code")),
    sa.Column("note", sa.String(200), nullable=False, server_default=""),
)

taxonomy_subclasses = sa.Table(
    "taxonomy_subclasses",
    metadata,
    sa.Column("code", sa.String(5), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(24), nullable=False, unique=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("subclass", sa.String(5), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("urgency", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("light", sa.String(10), nullable=False, server_default="green"),
    sa.Column("reported_at", UtcDateTime(), nullable=False),
    sa.Column("reporter", sa.String(64)),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("grid_code", sa.String(15)),
    sa.Column("unit_code", sa.String(15)),
    sa.Column("area_codes", sa.JSON, nullable=False),
    sa.Column("lng", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("pre_launch", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("hazard", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("assignee", sa.String(32)),
    sa.Column("unassigned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("escalation_level", sa.String(20), nullable=False),
    sa.Column("self_handled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("merged_into", sa.Integer),
    sa.Column("next_due_at", UtcDateTime()),
    sa.Column("closed_at", UtcDateTime()),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    # What a list row shows of the state (``case_repository.list_state``), kept with it.
    sa.Column("list_state", sa.JSON),
    # Facts for the measures (考核指标), kept up to date on every save so that the
    # measures are set-based SQL over one row per case.
    sa.Column("first_channel", sa.String(20)),
    sa.Column("first_found_at", UtcDateTime()),
    sa.Column("responsible", sa.String(30)),
    sa.Column("dispatches", sa.Integer, nullable=False, server_default="0"),
    sa.Column("returns", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reworks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("extensions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("checks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_checks", sa.Integer, nullable=False, server_default="0"),
    *(
        sa.Column(f"{stage}_{what}", UtcDateTime())
        for stage in ("register", "dispatch", "accept", "arrive", "handle", "check")
        for what in ("started_at", "due_at", "done_at")
    ),
)
sa.Index("ix_cases_status", cases.c.status)
sa.Index("ix_cases_grid_status", cases.c.grid_code, cases.c.status)
sa.Index("ix_cases_assignee_status", cases.c.assignee, cases.c.status)
# the case list's order (nearest deadline first, the newest of equal deadlines first) and
# the sweep's "what is due": one index walked from its start serves both
sa.Index("ix_cases_due_order", cases.c.next_due_at, cases.c.id.desc())
# earlier open cases near a report (duplicates): its subclass, then a latitude band
sa.Index("ix_cases_subclass_status_lat", cases.c.subclass, cases.c.status, cases.c.lat)
sa.Index("ix_cases_reported_at", cases.c.reported_at)

#: Case counts (案件计数) by status, light, urgency and ``unassigned``, for the case list's
#: ``total``. On PostgreSQL, triggers on ``cases`` (migration 20261127_1320) add a row of
#: +1 or −1 for every case inserted, deleted or moved between combinations (never an
#: update: concurrent writers do not wait on one another), and the worker folds the rows
#: into one per combination (``adapters/db/case_counts.py``). Derived from ``cases``, so
#: not backed up: a restore counts the cases it inserts. Empty on SQLite, where counting
#: the cases themselves is cheap at the sizes it serves.
case_counts = sa.Table(
    "case_counts",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("light", sa.String(10), nullable=False),
    sa.Column("urgency", sa.String(10), nullable=False),
    sa.Column("unassigned", sa.Boolean, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    info={"derived": True},
)

#: Open cases per person (在办案件数), for dispatch's "whoever has the fewest": kept like
#: ``case_counts`` by the same triggers (migration 20261127_1340), +1 for a case that
#: becomes open with an assignee, −1 for one that stops being open or leaves them; the
#: worker folds the rows. Empty on SQLite, where the open cases are counted.
assignee_counts = sa.Table(
    "assignee_counts",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("assignee", sa.String(32), nullable=False, index=True),
    sa.Column("n", sa.Integer, nullable=False),
    info={"derived": True},
)

case_events = sa.Table(
    "case_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, case_ref(), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("action", sa.String(30), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("from_status", sa.String(20)),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("photos", sa.JSON, nullable=False),
    sa.Column("lng", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("data", sa.JSON, nullable=False),
    sa.UniqueConstraint("case_id", "seq", name="uq_case_events_case_id_seq"),
)

#: The anchors of the measures (``domain.measures.Anchor``), by name.
MEASURE_ANCHORS = (
    "found",
    "reported",
    "close_due",
    "handle_due",
    "dispatched",
    "handle_started",
    "register_due",
    "dispatch_due",
    "handled",
)
#: The measure profile of each case (考核画像, ``domain.measure_profiles``), written with the
#: case on every save: a narrow table the measures add up in one pass. The anchors are
#: named after ``domain.measures.Anchor``, the weights after the weighted measures; the
#: codes repeat the case's so that the usual scopes and breakdowns need no join.
case_measures = sa.Table(
    "case_measures",
    metadata,
    sa.Column("case_id", sa.Integer, case_ref(), primary_key=True),
    *(sa.Column(f"{anchor}_at", UtcDateTime()) for anchor in MEASURE_ANCHORS),
    sa.Column("closed_at", UtcDateTime()),
    # the China-time day (YYYYMMDD) of each anchor and of the closing: the month and day
    # buckets of a breakdown without date arithmetic on every row
    *(sa.Column(f"{anchor}_day", sa.Integer) for anchor in (*MEASURE_ANCHORS, "closed")),
    sa.Column("bits", sa.BigInteger, nullable=False),
    *(
        sa.Column(f"{measure}_{part}", sa.Integer, nullable=False)
        for measure in ("return_rate", "rework_rate", "dispatch_accuracy")
        for part in ("numerator", "denominator")
    ),
    sa.Column("handling_us", sa.BigInteger),
    sa.Column("grid_code", sa.String(15)),
    sa.Column("unit_code", sa.String(15)),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("subclass", sa.String(5), nullable=False),
    sa.Column("responsible", sa.String(30)),
    sa.Column("reporter", sa.String(64)),
)

case_photos = sa.Table(
    "case_photos",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("case_id", sa.Integer, case_ref(), nullable=False, index=True),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("filename", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

case_sequences = sa.Table(
    "case_sequences",
    metadata,
    sa.Column("prefix", sa.String(16), primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("case_id", sa.Integer, case_ref(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(40), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=False),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("available_at", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivered_at", UtcDateTime()),
    sa.Column("dead", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
)
sa.Index("ix_outbox_pending", outbox.c.delivered_at, outbox.c.dead, outbox.c.available_at)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("role", sa.String(30), nullable=False),
    sa.Column("scope_kind", sa.String(20), nullable=False),
    sa.Column("scope_code", sa.String(32)),
    sa.Column("person_number", sa.String(32), index=True),
    sa.Column("display_name", sa.String(100), nullable=False, server_default=""),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failed_at", UtcDateTime()),
    sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("permissions", sa.JSON),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("last_used_at", UtcDateTime()),
    sa.Column("revoked_at", UtcDateTime()),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.String(200), nullable=False, server_default=""),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

#: The audit chain's head (审计链头): the id and hash of its last record, kept on
#: PostgreSQL by a statement trigger on ``audit_log`` (migration 20261129_0800) and read
#: by the next append in its turn on the chain instead of the log's last record, which on
#: the monthly partitions was a walk of every month's index (0.56–1.8 ms at 125 months,
#: 0.27 at 5, against 0.22 for this row, on the benchmark machine in a slow hour, where a
#: ``SELECT 1`` took 0.21; the trigger costs about as much as the 5 months' walk saved).
#: Emptied when records are deleted (the reader then looks in the log); derived, so not
#: backed up: a restore's inserts remake it. Empty on SQLite, whose log is one table.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("one", sa.Boolean, primary_key=True, server_default=sa.true()),
    sa.Column("id", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.CheckConstraint("one", name="one_row"),
    info={"derived": True},
)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("name", sa.String(30), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)

citizens = sa.Table(
    "citizens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("phone_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("nickname", sa.String(40), nullable=False, server_default=""),
    sa.Column("party_member", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

points_ledger = sa.Table(
    "points_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), nullable=False, index=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("points", sa.Integer, nullable=False),
    sa.Column("note", sa.String(200), nullable=False, server_default=""),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

patrol_positions = sa.Table(
    "patrol_positions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_number", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("grid_code", sa.String(15)),
    sa.Column("unit_code", sa.String(15)),
    sa.Column("received_at", UtcDateTime(), nullable=False),
)
sa.Index("ix_patrol_positions_person_at", patrol_positions.c.person_number, patrol_positions.c.at)
sa.Index("ix_patrol_positions_unit_at", patrol_positions.c.unit_code, patrol_positions.c.at)

settings_store = sa.Table(
    "settings_store",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False, server_default=""),
)


# Each integration keeps its tables in its own module; importing them here puts them on
# ``metadata`` for Alembic and the schema test.
from chengyun.adapters.db import (  # noqa: E402, F401
    tables_district,
    tables_hotline,
    tables_open311,
    tables_shops,
    tables_vision,
    tables_wecom,
)
