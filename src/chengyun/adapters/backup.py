"""Portable logical backups (备份与恢复): the database and the case photos in one ``.zip``.

The archive is the same whichever database it came from, so a backup made on SQLite
restores into PostgreSQL and the other way round::

    manifest.json                  format, versions, Alembic revision, row counts, checksums
    tables/<table>.jsonl           one JSON array per row, columns as listed in the manifest,
                                   tables in dependency order (``metadata.sorted_tables``)
    photos/<sha[:2]>/<sha>.<ext>   the photo files, laid out as in the photo store

Values are written so that they come back identical: datetimes as ISO 8601 with their
offset, dates and times as ISO 8601, JSON columns as their JSON text (so that a stored
JSON ``null`` and an SQL ``NULL`` stay apart), booleans, numbers and ``null`` as
themselves. Rows are streamed in batches both ways; nothing holds a whole table.

A backup is read in one transaction (a consistent snapshot). A restore checks every
member's SHA-256 before it touches anything, refuses a database that is not at the
backup's revision or not empty (unless asked to empty it), copies the photos (they are
stored by their content, so extra copies are harmless), then inserts every row in ONE
transaction: on any failure nothing of the restore is left in the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator, TypeEngine

from chengyun import __version__
from chengyun.adapters.db.engine import alembic_config, current_revision
from chengyun.adapters.db.partitions import partition_tables
from chengyun.adapters.db.tables import case_photos, metadata
from chengyun.adapters.photos import SIGNATURES, PhotoStore
from chengyun.domain.errors import InvalidInput, Problem

FORMAT = "chengyun-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Rows read or written per round trip to the database.
BATCH_ROWS = 1000
CHUNK = 1024 * 1024
#: How long a restore waits for other connections to let go of the tables (PostgreSQL).
LOCK_TIMEOUT_S = 30
PHOTO_MEMBER = re.compile(r"photos/([0-9a-f]{2})/([0-9a-f]{64})\.([a-z0-9]{1,8})")

#: ``progress(stage, done, total)``: called as a backup or restore goes along; the stage
#: is a table name, ``"photos"`` or ``"verify"``.
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


# --- the manifest ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    sha256: str
    size: int


@dataclass(frozen=True)
class TableEntry:
    name: str
    member: str
    columns: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class Manifest:
    format_version: int
    chengyun_version: str
    revision: str
    created_at: datetime
    dialect: str
    tables: tuple[TableEntry, ...]
    photos_included: bool
    photos: int
    photo_bytes: int
    missing_photos: tuple[str, ...]
    members: dict[str, Member]

    @property
    def row_counts(self) -> dict[str, int]:
        return {table.name: table.rows for table in self.tables}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "chengyun_version": self.chengyun_version,
            "alembic_revision": self.revision,
            "created_at": self.created_at.isoformat(),
            "source_dialect": self.dialect,
            "row_counts": self.row_counts,
            "tables": [
                {"name": t.name, "member": t.member, "columns": list(t.columns), "rows": t.rows}
                for t in self.tables
            ],
            "photos": {
                "included": self.photos_included,
                "count": self.photos,
                "bytes": self.photo_bytes,
                "missing": list(self.missing_photos),
            },
            "members": {
                name: {"sha256": m.sha256, "size": m.size} for name, m in self.members.items()
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """The manifest in ``data``; anything malformed is refused as not a backup."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise _not_a_backup("manifest.json is not a chengyun backup manifest")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InvalidInput(
                "备份格式版本不受支持 / unsupported backup format version",
                [
                    Problem(
                        (MANIFEST, "format_version"),
                        f"this chengyun reads format {FORMAT_VERSION}, the backup is "
                        f"{version!r}: restore it with the chengyun version that made it "
                        f"({data.get('chengyun_version')})",
                        "version",
                    )
                ],
            )
        try:
            photos = data["photos"]
            manifest = cls(
                format_version=version,
                chengyun_version=str(data["chengyun_version"]),
                revision=str(data["alembic_revision"]),
                created_at=datetime.fromisoformat(data["created_at"]),
                dialect=str(data["source_dialect"]),
                tables=tuple(
                    TableEntry(
                        str(t["name"]),
                        str(t["member"]),
                        tuple(str(c) for c in t["columns"]),
                        int(t["rows"]),
                    )
                    for t in data["tables"]
                ),
                photos_included=bool(photos["included"]),
                photos=int(photos["count"]),
                photo_bytes=int(photos["bytes"]),
                missing_photos=tuple(str(m) for m in photos["missing"]),
                members={
                    str(name): Member(str(m["sha256"]), int(m["size"]))
                    for name, m in data["members"].items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _not_a_backup(f"manifest.json is incomplete or malformed ({exc!r})") from exc
        return manifest


def _not_a_backup(why: str) -> InvalidInput:
    return InvalidInput(
        f"不是城运备份文件 / not a chengyun backup: {why}",
        [Problem(("file",), why, "format")],
    )


# --- values ---------------------------------------------------------------------------------


def _base_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


@dataclass(frozen=True)
class _Codec:
    """How one column's values are written to and read from a JSON line."""

    column: sa.Column[Any]
    kind: str  # json, datetime, date, time, decimal, bytes, plain

    @classmethod
    def for_column(cls, column: sa.Column[Any]) -> _Codec:
        base = _base_type(column.type)
        if isinstance(base, sa.JSON):
            kind = "json"
        elif isinstance(base, sa.DateTime):
            kind = "datetime"
        elif isinstance(base, sa.Date):
            kind = "date"
        elif isinstance(base, sa.Time):
            kind = "time"
        elif isinstance(base, sa.Float):
            kind = "plain"
        elif isinstance(base, sa.Numeric):
            kind = "decimal"
        elif isinstance(base, sa.LargeBinary):
            kind = "bytes"
        elif isinstance(base, sa.Boolean | sa.Integer | sa.String):
            kind = "plain"
        else:  # a new column type: decide how it round-trips before backing it up
            raise TypeError(f"backup: no codec for {column.table}.{column.name} ({base!r})")
        return cls(column, kind)

    @property
    def flags_null(self) -> bool:
        """JSON columns that may be SQL NULL: read whether they are, to keep it apart from
        a JSON ``null`` (both read as ``None``)."""
        return self.kind == "json" and bool(self.column.nullable)

    def encode(self, value: Any, sql_null: bool = False) -> Any:
        if self.kind == "json":
            # the document as JSON text; None only for SQL NULL
            return (
                None if sql_null else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            )
        if value is None:
            return None
        if self.kind in ("datetime", "date", "time"):
            return value.isoformat()
        if self.kind == "decimal":
            return str(value)
        if self.kind == "bytes":
            return base64.b64encode(value).decode("ascii")
        return value

    def decode(self, value: Any) -> Any:
        if self.kind == "json":
            if value is None:
                return None  # SQL NULL (inserted through a none_as_null type)
            document = json.loads(value)
            return sa.JSON.NULL if document is None else document
        if value is None:
            return None
        if self.kind == "datetime":
            return datetime.fromisoformat(value)
        if self.kind == "date":
            return date.fromisoformat(value)
        if self.kind == "time":
            return time.fromisoformat(value)
        if self.kind == "decimal":
            return Decimal(value)
        if self.kind == "bytes":
            return base64.b64decode(value)
        return value

    def insert_type(self) -> TypeEngine[Any]:
        if self.kind == "json":
            return sa.JSON(none_as_null=True)
        return self.column.type


def _line(values: list[Any]) -> bytes:
    return (json.dumps(values, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


# --- schema ---------------------------------------------------------------------------------


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _known_revision(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _table_member(name: str) -> str:
    return f"tables/{name}.jsonl"


# --- backup ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    manifest: Manifest
    size: int
    #: tables in the database that the code does not know (not backed up)
    unknown_tables: tuple[str, ...]


class _HashingWriter:
    """Writes a zip member while counting and hashing what goes in."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def member(self) -> Member:
        return Member(self.digest.hexdigest(), self.size)


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection that sees one consistent state of every table."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            # pysqlite starts transactions only before writes: begin one by hand so that
            # every table is read from the same WAL snapshot
            connection.exec_driver_sql("BEGIN")
            try:
                yield connection
            finally:
                connection.rollback()
        return
    options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    with engine.connect().execution_options(**options) as connection:
        try:
            yield connection
        finally:
            connection.rollback()


def create_backup(
    engine: Engine,
    path: Path,
    photos: PhotoStore | None,
    *,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
    now: datetime | None = None,
) -> BackupSummary:
    """Write a backup of the database (and of the photos in ``photos``, unless None) to
    ``path``, replacing it only once the new archive is complete."""
    report = progress or _no_progress
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(
            f"{path} 是目录 / is a directory",
            [Problem(("file",), "give the name of the .zip to write", "path")],
        )
    if not path.parent.is_dir():
        raise InvalidInput(
            f"目录不存在 / no such directory: {path.parent}",
            [Problem(("file",), f"{path.parent} does not exist", "path")],
        )
    head = _script().get_current_head()
    manifest_time = now or datetime.now(UTC)
    members: dict[str, Member] = {}
    entries: list[TableEntry] = []
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            with _snapshot(engine) as connection:
                revision = MigrationContext.configure(connection).get_current_revision()
                if revision is None or revision != head:
                    raise InvalidInput(
                        f"数据库结构不是最新 / the database schema is not current ({revision} ≠ "
                        f"{head}): run `chengyun db upgrade` first",
                        [Problem(("database",), f"at {revision}, the code is at {head}")],
                    )
                # a month's partition is read through its parent, not as a table of its own
                present = set(sa.inspect(connection).get_table_names())
                present -= partition_tables(connection)
                unknown = tuple(sorted(present - set(metadata.tables) - {"alembic_version"}))
                for table in metadata.sorted_tables:
                    if table.info.get("derived"):  # kept by the database: a restore remakes it
                        continue
                    entry, member = _dump_table(
                        connection, archive, table, report, batch_rows, manifest_time
                    )
                    entries.append(entry)
                    members[entry.member] = member
                wanted = (
                    connection.execute(
                        sa.select(case_photos.c.sha256, case_photos.c.content_type)
                        .distinct()
                        .order_by(case_photos.c.sha256)
                    ).all()
                    if photos is not None
                    else []
                )
            # the photos of the snapshot: a photo is stored before its case is committed
            count, size, missing = 0, 0, []
            if photos is not None:
                for done, (digest, content_type) in enumerate(wanted, 1):
                    name = _photo_member(photos, digest, content_type)
                    source = photos.root / name.removeprefix("photos/")
                    if not source.is_file():
                        missing.append(name)
                    else:
                        # photos are compressed already: stored as they are
                        info = zipfile.ZipInfo(name, _zip_time(manifest_time))
                        info.compress_type = zipfile.ZIP_STORED
                        with (
                            source.open("rb") as handle,
                            archive.open(info, "w", force_zip64=True) as raw,
                        ):
                            writer = _HashingWriter(raw)
                            while chunk := handle.read(CHUNK):
                                writer.write(chunk)
                        members[name] = writer.member()
                        count += 1
                        size += writer.size
                    report("photos", done, len(wanted))
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                chengyun_version=__version__,
                revision=revision,
                created_at=manifest_time,
                dialect=engine.dialect.name,
                tables=tuple(entries),
                photos_included=photos is not None,
                photos=count,
                photo_bytes=size,
                missing_photos=tuple(missing),
                members=members,
            )
            archive.writestr(
                MANIFEST, json.dumps(manifest.to_json(), ensure_ascii=False, indent=1) + "\n"
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupSummary(path, manifest, path.stat().st_size, unknown)


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    local = moment.astimezone()
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def _photo_member(photos: PhotoStore, digest: str, content_type: str) -> str:
    extension = next((e for _, _, t, e in SIGNATURES if t == content_type), "bin")
    relative = photos.path_for(digest, extension).relative_to(photos.root)
    return "photos/" + relative.as_posix()


def _dump_table(
    connection: Connection,
    archive: zipfile.ZipFile,
    table: sa.Table,
    report: Progress,
    batch_rows: int,
    moment: datetime,
) -> tuple[TableEntry, Member]:
    codecs = [_Codec.for_column(column) for column in table.columns]
    flagged = [c for c in codecs if c.flags_null]
    total = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    query = sa.select(
        *table.columns, *(c.column.is_(None).label(f"{c.column.name}__null") for c in flagged)
    ).order_by(*table.primary_key.columns)
    member = _table_member(table.name)
    rows = 0
    report(table.name, 0, total)
    info = zipfile.ZipInfo(member, _zip_time(moment))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as raw:
        writer = _HashingWriter(raw)
        result = connection.execution_options(yield_per=batch_rows).execute(query)
        for batch in result.partitions():
            lines = []
            for row in batch:
                nulls = {
                    c.column.name: bool(v) for c, v in zip(flagged, row[len(codecs) :], strict=True)
                }
                lines.append(
                    _line(
                        [
                            codec.encode(value, nulls.get(codec.column.name, False))
                            for codec, value in zip(codecs, row[: len(codecs)], strict=True)
                        ]
                    )
                )
            writer.write(b"".join(lines))
            rows += len(batch)
            report(table.name, rows, max(total, rows))
    columns = tuple(column.name for column in table.columns)
    return TableEntry(table.name, member, columns, rows), writer.member()


# --- reading and verifying ------------------------------------------------------------------


@contextmanager
def _open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(
            f"文件不存在 / no such file: {path}", [Problem(("file",), "not found", "missing")]
        )
    if not path.is_file():
        raise InvalidInput(
            f"不是文件 / not a file: {path}", [Problem(("file",), "not a file", "path")]
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _not_a_backup(f"{path.name} is not a zip archive ({exc})") from exc
    with archive:
        yield archive


def _read_manifest(archive: zipfile.ZipFile) -> Manifest:
    try:
        raw = archive.read(MANIFEST)
    except KeyError as exc:
        raise _not_a_backup("the archive holds no manifest.json") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise _damaged([Problem((MANIFEST,), f"unreadable: {exc}", "damaged")]) from exc
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_a_backup(f"manifest.json is not valid JSON ({exc})") from exc
    return Manifest.from_json(data)


def _damaged(problems: list[Problem]) -> InvalidInput:
    return InvalidInput(
        "备份文件已损坏，未做任何更改 / the backup is damaged; nothing was changed: "
        + ", ".join(str(p.location[0]) for p in problems[:5])
        + (" …" if len(problems) > 5 else ""),
        problems,
    )


def _check_members(archive: zipfile.ZipFile, manifest: Manifest, report: Progress) -> list[Problem]:
    """Every member is there, whole, and as the manifest says; the table files hold the
    rows it counts and the photos are the pictures their names promise."""
    problems: list[Problem] = []
    names = set(archive.namelist())
    for name in sorted(names - set(manifest.members) - {MANIFEST}):
        problems.append(Problem((name,), "not listed in the manifest", "unexpected"))
    rows = {t.member: t for t in manifest.tables}
    for table in manifest.tables:
        if table.member not in manifest.members:
            problems.append(Problem((table.member,), "table file not listed", "missing"))
    for done, (name, expected) in enumerate(sorted(manifest.members.items()), 1):
        report("verify", done - 1, len(manifest.members))
        photo = PHOTO_MEMBER.fullmatch(name)
        if name not in rows and (photo is None or photo[1] != photo[2][:2]):
            problems.append(Problem((name,), "not a table file or a photo", "unexpected"))
            continue
        if name not in names:
            problems.append(Problem((name,), "missing from the archive", "missing"))
            continue
        digest, size, lines = hashlib.sha256(), 0, 0
        try:
            with archive.open(name) as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    lines += chunk.count(b"\n")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            problems.append(Problem((name,), f"unreadable: {exc}", "damaged"))
            continue
        if size != expected.size or digest.hexdigest() != expected.sha256:
            problems.append(
                Problem(
                    (name,),
                    f"checksum mismatch (sha256 {digest.hexdigest()[:12]}…, {size} bytes; "
                    f"the manifest says {expected.sha256[:12]}…, {expected.size} bytes)",
                    "checksum",
                )
            )
        elif name in rows and lines != rows[name].rows:
            problems.append(
                Problem((name,), f"{lines} rows, the manifest says {rows[name].rows}", "rows")
            )
        elif photo is not None and digest.hexdigest() != photo[2]:
            problems.append(Problem((name,), "the photo is not the one its name says", "photo"))
    report("verify", len(manifest.members), len(manifest.members))
    return problems


def verify_backup(path: Path, *, progress: Progress | None = None) -> Manifest:
    """Check an archive without restoring it: its manifest, every member's checksum and
    row count. Returns the manifest; raises ``InvalidInput`` naming what is wrong."""
    with _open_archive(path) as archive:
        manifest = _read_manifest(archive)
        problems = _check_members(archive, manifest, progress or _no_progress)
    if problems:
        raise _damaged(problems)
    return manifest


# --- restore --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreSummary:
    manifest: Manifest
    emptied: bool
    photos_copied: int
    photos_present: int
    photos_replaced: int


def _plan(manifest: Manifest) -> list[tuple[sa.Table, TableEntry, list[_Codec]]]:
    """The backup's tables in the order they are inserted, with the codec of each column."""
    by_name = {t.name: t for t in manifest.tables}
    problems = [
        Problem((MANIFEST, "tables", name), "this chengyun does not know the table", "table")
        for name in by_name
        if name not in metadata.tables
    ]
    plan = []
    for table in metadata.sorted_tables:
        entry = by_name.get(table.name)
        if entry is None:
            continue
        unknown = [c for c in entry.columns if c not in table.columns]
        if unknown:
            problems.append(
                Problem((MANIFEST, "tables", table.name), f"unknown columns {unknown}", "column")
            )
            continue
        plan.append((table, entry, [_Codec.for_column(table.columns[c]) for c in entry.columns]))
    if problems:
        raise InvalidInput(
            "备份与本版本的表结构不符 / the backup's tables do not match this version of chengyun",
            problems,
        )
    return plan


def _check_revision(engine: Engine, manifest: Manifest) -> None:
    wanted = manifest.revision
    if not _known_revision(wanted):
        raise InvalidInput(
            f"备份来自更新的版本 / the backup was made at schema revision {wanted}, which this "
            f"chengyun ({__version__}) does not know: restore it with chengyun "
            f"{manifest.chengyun_version} or later",
            [Problem(("revision",), f"unknown revision {wanted}", "revision")],
        )
    head = _script().get_current_head()
    upgrade = "chengyun db upgrade" + ("" if wanted == head else f" {wanted}")
    current = current_revision(engine)
    if current is None:
        raise InvalidInput(
            f"目标数据库没有表结构 / the target database has no schema: run `{upgrade}` first "
            f"to build it at the backup's revision {wanted}, then restore",
            [Problem(("revision",), f"database: none, backup: {wanted}", "revision")],
        )
    if current != wanted:
        raise InvalidInput(
            f"数据库结构版本不符 / the database is at schema revision {current}, the backup at "
            f"{wanted}: restore into an empty database built with `{upgrade}`"
            + (", then run `chengyun db upgrade`" if wanted != head else ""),
            [Problem(("revision",), f"database: {current}, backup: {wanted}", "revision")],
        )


def _non_empty(connection: Connection, tables: Iterable[sa.Table]) -> list[Problem]:
    problems = []
    for table in tables:
        count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if count:
            problems.append(Problem((table.name,), f"{count} rows", "not_empty"))
    return problems


def _refuse_non_empty(problems: list[Problem]) -> InvalidInput:
    return InvalidInput(
        "目标数据库不是空的 / the target database is not empty: restore into an empty "
        "database, or pass --force to delete everything in it first (in the same transaction)",
        problems,
    )


def restore_backup(
    engine: Engine,
    path: Path,
    photos: PhotoStore | None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> RestoreSummary:
    """Restore the backup at ``path`` into ``engine``'s database (and its photos into
    ``photos`` unless None). With ``force`` the tables are emptied first, in the same
    transaction as the inserts."""
    report = progress or _no_progress
    with _open_archive(path) as archive:
        manifest = _read_manifest(archive)
        problems = _check_members(archive, manifest, report)
        if problems:
            raise _damaged(problems)
        plan = _plan(manifest)
        _check_revision(engine, manifest)
        tables = [table for table, _, _ in plan]
        if not force:
            with engine.connect() as connection:
                occupied = _non_empty(connection, tables)
            if occupied:
                raise _refuse_non_empty(occupied)
        copied = present = replaced = 0
        if photos is not None:
            copied, present, replaced = _restore_photos(archive, manifest, photos, report)
        with engine.connect() as connection:
            _begin_exclusive(connection, tables)
            try:
                emptied = False
                if force:
                    emptied = bool(_non_empty(connection, tables))
                    _empty(connection, tables)
                else:
                    occupied = _non_empty(connection, tables)
                    if occupied:  # written to since the check above
                        raise _refuse_non_empty(occupied)
                for table, entry, codecs in plan:
                    _load_table(connection, archive, table, entry, codecs, report, batch_rows)
                if connection.dialect.name == "postgresql":
                    _reset_sequences(connection, plan)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
    return RestoreSummary(manifest, emptied, copied, present, replaced)


def _begin_exclusive(connection: Connection, tables: list[sa.Table]) -> None:
    """Begin the restore's transaction, keeping other writers out until it ends."""
    try:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # waits up to the busy timeout
        elif connection.dialect.name == "postgresql":
            preparer = connection.dialect.identifier_preparer
            names = ", ".join(preparer.format_table(table) for table in tables)
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
            connection.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
    except sa.exc.OperationalError as exc:
        raise InvalidInput(
            "数据库正被使用 / the database is busy: other connections hold its tables; stop "
            "`chengyun serve` and `chengyun worker` and try again",
            [Problem(("database",), str(exc.orig).strip().splitlines()[0], "busy")],
        ) from exc


def _empty(connection: Connection, tables: list[sa.Table]) -> None:
    if connection.dialect.name == "postgresql":
        preparer = connection.dialect.identifier_preparer
        names = ", ".join(preparer.format_table(table) for table in tables)
        connection.exec_driver_sql(f"TRUNCATE {names}")
        return
    for table in reversed(tables):
        connection.execute(table.delete())


def _load_table(
    connection: Connection,
    archive: zipfile.ZipFile,
    table: sa.Table,
    entry: TableEntry,
    codecs: list[_Codec],
    report: Progress,
    batch_rows: int,
) -> None:
    target = sa.table(table.name, *(sa.column(c.column.name, c.insert_type()) for c in codecs))
    insert = sa.insert(target)
    names = [c.column.name for c in codecs]
    done = 0
    report(table.name, 0, entry.rows)

    def flush(batch: list[dict[str, Any]]) -> None:
        nonlocal done
        try:
            connection.execute(insert, batch)
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise InvalidInput(
                f"恢复失败，数据库未作更改 / the restore failed at table {table.name}; the "
                f"database was left as it was: {reason}",
                [Problem((table.name,), reason, "database")],
            ) from exc
        done += len(batch)
        report(table.name, done, entry.rows)

    with archive.open(entry.member) as handle:
        batch: list[dict[str, Any]] = []
        for number, raw in enumerate(handle, 1):
            try:
                values = json.loads(raw)
                if not isinstance(values, list) or len(values) != len(codecs):
                    raise ValueError(f"expected {len(codecs)} values")
                batch.append(
                    {n: c.decode(v) for n, c, v in zip(names, codecs, values, strict=True)}
                )
            except ValueError as exc:  # includes JSONDecodeError
                raise InvalidInput(
                    f"备份数据有误 / bad row in {entry.member}, line {number}: {exc}",
                    [Problem((entry.member, number), str(exc), "row")],
                ) from exc
            if len(batch) >= batch_rows:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    if done != entry.rows:
        raise InvalidInput(
            f"行数不符 / {table.name}: {done} rows restored, the manifest says {entry.rows}",
            [Problem((entry.member,), f"{done} ≠ {entry.rows}", "rows")],
        )


def _reset_sequences(
    connection: Connection, plan: list[tuple[sa.Table, TableEntry, list[_Codec]]]
) -> None:
    """Set every serial/identity sequence past the largest id now in its table."""
    for table, _, _ in plan:
        for column in table.columns:
            if not isinstance(_base_type(column.type), sa.Integer):
                continue
            sequence = connection.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {
                    "table": connection.dialect.identifier_preparer.format_table(table),
                    "column": column.name,
                },
            ).scalar_one()
            if sequence is None:
                continue
            following = connection.execute(
                sa.select(sa.func.coalesce(sa.func.max(column), 0) + 1)
            ).scalar_one()
            connection.execute(
                sa.text("SELECT setval(CAST(:sequence AS regclass), :next, false)"),
                {"sequence": sequence, "next": following},
            )


def _restore_photos(
    archive: zipfile.ZipFile, manifest: Manifest, photos: PhotoStore, report: Progress
) -> tuple[int, int, int]:
    """Copy the photos into the store: (copied, already there, replaced because the file
    there was not the photo its name says)."""
    names = sorted(n for n in manifest.members if PHOTO_MEMBER.fullmatch(n))
    copied = present = replaced = 0
    for done, name in enumerate(names, 1):
        found = PHOTO_MEMBER.fullmatch(name)
        assert found is not None
        target = photos.path_for(found[2], found[3])
        if target.exists():
            if _sha256_of(target) == found[2]:
                present += 1
                report("photos", done, len(names))
                continue
            replaced += 1
        else:
            copied += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            archive.open(name) as source,
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle,
        ):
            shutil.copyfileobj(source, handle, CHUNK)
            temporary = Path(handle.name)
        os.replace(temporary, target)
        report("photos", done, len(names))
    return copied, present, replaced


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
