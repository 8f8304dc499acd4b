"""`chengyun backup` / `chengyun restore`: a round trip between SQLite and PostgreSQL gives
back every row, every photo and an intact audit chain, and ids go on where they were."""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from chengyun.adapters.backup import create_backup, verify_backup
from chengyun.adapters.db.engine import current_revision, make_engine, upgrade
from chengyun.adapters.db.tables import api_tokens, metadata
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.adapters.photos import PhotoStore
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.demo.loader import load_demo
from chengyun.domain.errors import InvalidInput
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.cli import app
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import issue_token, verify_audit
from tests.conftest import empty_postgresql
from tests.factories import COMMANDER, OPERATOR, do, files, patrol_member, png, report, submit

runner = CliRunner()


def run(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    # a refusal is a message and an exit code, never a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def env(db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI works on the test database, with the photos where the platform keeps them."""
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CHENGYUN_PHOTOS_DIR", raising=False)
    return tmp_path


def use(monkeypatch: pytest.MonkeyPatch, engine: Engine, data_dir: Path) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(data_dir))


@contextmanager
def fresh_database(kind: str, where: Path, revision: str | None = "head") -> Iterator[Engine]:
    """An empty database of ``kind`` built by the migrations up to ``revision`` (None: no
    schema at all); a PostgreSQL one is created under a random name and dropped after."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{where / f'restored-{uuid.uuid4().hex[:8]}.sqlite3'}")
        if revision:
            upgrade(engine, revision)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with empty_postgresql("chengyun_restore") as engine:
        if revision:
            upgrade(engine, revision)
        yield engine


def rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in primary-key order, datetimes in UTC."""

    def plain(value: Any) -> Any:
        return value.astimezone(UTC) if isinstance(value, datetime) else value

    with engine.connect() as connection:
        return {
            table.name: [
                tuple(plain(v) for v in row)
                for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in metadata.sorted_tables
            if not table.info.get("derived")  # not backed up: remade from the cases
        }


def sql_nulls(engine: Engine) -> int:
    """Tokens whose permissions are SQL NULL (not a JSON null: both read as None)."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(api_tokens.c.permissions.is_(None))
        ).scalar_one()


def photo_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def populate(client: TestClient) -> None:
    """A few cases through the API: photos at intake and on handling, a closed loop, a
    citizen report waiting for an operator, a self-handled one."""
    reporter = patrol_member(client)
    case = submit(client, report(reporter=reporter), files=files(png(), png(3, 3))).json()
    cid, handler = case["id"], case["assignee"]["number"]
    assert do(client, cid, "accept", handler).status_code == 200
    arrived = do(client, cid, "arrive", handler, position={"lng": 121.1101, "lat": 31.1501})
    assert arrived.status_code == 200, arrived.text
    photo = client.post(
        f"/api/v1/cases/{cid}/photos",
        files=files(png(4, 4)),
        headers=client.headers_for(handler),  # type: ignore[attr-defined]
    )
    assert photo.status_code == 201, photo.text
    photo_id = photo.json()["photos"][0]["id"]
    assert do(client, cid, "handle", handler, note="已清理", photos=[photo_id]).status_code == 200
    assert do(client, cid, "check", reporter, passed=True).status_code == 200
    assert do(client, cid, "close", OPERATOR).status_code == 200
    waiting = submit(client, report(channel="citizen_qr", description="路灯不亮 / lamp out"))
    assert waiting.status_code == 201, waiting.text
    second = submit(client, report(reporter=reporter, description="井盖缺失"), files=files(png()))
    assert second.status_code == 201, second.text
    second_handler = second.json()["assignee"]["number"]
    assert do(client, second.json()["id"], "accept", second_handler).status_code == 200
    assert do(client, second.json()["id"], "hold", COMMANDER, reason="季节性").status_code == 200
    own = submit(
        client, report(reporter=reporter, self_handled=True), files=files(png(5, 5), png(6, 6))
    )
    assert own.status_code == 201, own.text


def test_a_backup_restores_into_the_other_database_and_into_sqlite(
    env: Path,
    client: TestClient,
    demo: Platform,
    clock: DrivenClock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    populate(client)
    with demo.engine.begin() as connection:  # an SQL NULL beside the JSON nulls
        connection.execute(
            api_tokens.update()
            .where(api_tokens.c.id == sa.select(sa.func.min(api_tokens.c.id)).scalar_subquery())
            .values(permissions=sa.null())
        )
    archive = tmp_path_factory.mktemp("backups") / "chengyun.zip"
    made = run("backup", str(archive))
    assert made.exit_code == 0, made.output
    assert "5 photos" in made.output

    source_engine = demo.engine
    expected = rows(source_engine)
    assert len(expected["cases"]) == 4 and len(expected["case_photos"]) == 6
    expected_photos = photo_files(demo.photos.root)
    assert len(expected_photos) == 5  # png() twice is one file
    expected_audit = verify_audit(demo.uow())
    assert expected_audit[1] == [] and expected_audit[0] > 0

    manifest = verify_backup(archive)
    assert manifest.row_counts == {name: len(table) for name, table in expected.items()}
    assert manifest.dialect == source_engine.dialect.name
    assert manifest.revision == current_revision(source_engine)

    other = "postgresql" if source_engine.dialect.name == "sqlite" else "sqlite"
    for target in dict.fromkeys([other, "sqlite"]):
        data_dir = tmp_path_factory.mktemp(f"restored-{target}")
        with fresh_database(target, data_dir) as engine:
            use(monkeypatch, engine, data_dir)
            restored = run("restore", str(archive))
            assert restored.exit_code == 0, restored.output
            assert "5 photos copied" in restored.output

            assert rows(engine) == expected, target
            assert sql_nulls(engine) == sql_nulls(source_engine) == 1
            assert photo_files(data_dir / "photos") == expected_photos
            assert verify_audit(SqlUnitOfWork(engine)) == expected_audit
            assert run("audit", "verify").exit_code == 0

            # the restored platform works, and ids go on after the restored ones
            settings = Settings(
                mode="test", data_dir=data_dir, territory_refresh_seconds=0, database_url=None
            )
            platform = Platform(settings, clock=clock, engine_override=engine)
            reporter = patrol_member(client)
            with TestClient(create_app(platform=platform)) as restored_client:
                answer = restored_client.post(
                    "/api/v1/cases",
                    data={"case": json.dumps(report(reporter=reporter, description="又一件"))},
                    files=files(png(7, 7)),
                    # a token restored with the rest
                    headers=client.headers_for(reporter),  # type: ignore[attr-defined]
                )
            assert answer.status_code == 201, answer.text
            assert answer.json()["id"] == max(r[0] for r in expected["cases"]) + 1
            with platform.uow() as uow:
                account = uow.accounts.by_username(OPERATOR)
            assert account is not None
            _, token = issue_token(platform.uow(), clock, account, "after restore")
            assert token.id == max(r[0] for r in expected["api_tokens"]) + 1
            count, breaks, _ = verify_audit(platform.uow())
            assert breaks == [] and count > expected_audit[0]
            last = expected["audit_log"][-1][0]
            added = [r[0] for r in rows(engine)["audit_log"][expected_audit[0] :]]
            assert added == list(range(last + 1, last + 1 + count - expected_audit[0]))
            assert len(photo_files(data_dir / "photos")) == 6


def test_a_database_that_is_not_empty_is_refused_without_force(
    env: Path, client: TestClient, demo: Platform, tmp_path_factory: pytest.TempPathFactory
) -> None:
    reporter = patrol_member(client)
    assert submit(client, report(reporter=reporter), files=files(png())).status_code == 201
    archive = tmp_path_factory.mktemp("backups") / "b.zip"
    assert run("backup", str(archive), "--no-photos").exit_code == 0
    with zipfile.ZipFile(archive) as opened:
        assert not [n for n in opened.namelist() if n.startswith("photos/")]
    before = rows(demo.engine)

    refused = run("restore", str(archive))
    assert refused.exit_code == 1
    assert "not empty" in refused.output and "--force" in refused.output
    assert "cases: 1 rows" in " ".join(refused.output.split())

    # more data since the backup: --force puts the database back as it was backed up
    assert submit(client, report(reporter=reporter, description="后来的")).status_code == 201
    forced = run("restore", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    assert "after emptying it" in forced.output and "holds no photos" in forced.output
    assert rows(demo.engine) == before
    again = submit(client, report(reporter=reporter, description="恢复之后"))
    assert again.status_code == 201, again.text
    assert again.json()["id"] == before["cases"][-1][0] + 1


@pytest.fixture(scope="module")
def sqlite_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of the demo sub-district (no cases) made from SQLite."""
    where = tmp_path_factory.mktemp("sqlite-source")
    engine = make_engine(f"sqlite:///{where / 'source.sqlite3'}")
    try:
        upgrade(engine)
        load_demo(SqlUnitOfWork(engine))
        return create_backup(engine, where / "demo.zip", PhotoStore(where / "photos")).path
    finally:
        engine.dispose()


def rewrite(source: Path, target: Path, member: str, change: Any) -> None:
    """A copy of the archive with one member's bytes changed (the zip itself stays valid)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, change(data) if info.filename == member else data)


def test_damaged_and_foreign_archives_are_refused(
    sqlite_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database("sqlite", tmp_path) as engine:
        use(monkeypatch, engine, tmp_path)

        tampered = tmp_path / "tampered.zip"
        rewrite(sqlite_archive, tampered, "tables/grids.jsonl", lambda d: d.replace(b"1", b"2", 1))
        refused = run("restore", str(tampered))
        assert refused.exit_code == 1
        assert "damaged" in refused.output and "tables/grids.jsonl" in refused.output
        assert "checksum mismatch" in refused.output
        with pytest.raises(InvalidInput, match=r"tables/grids\.jsonl"):
            verify_backup(tampered)

        flipped = tmp_path / "flipped.zip"
        raw = bytearray(sqlite_archive.read_bytes())
        with zipfile.ZipFile(sqlite_archive) as opened:
            info = opened.getinfo("tables/people.jsonl")
        middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
        raw[middle] ^= 0xFF
        flipped.write_bytes(bytes(raw))
        refused = run("restore", str(flipped))
        assert refused.exit_code == 1
        assert "damaged" in refused.output and "tables/people.jsonl" in refused.output

        unlisted = tmp_path / "unlisted.zip"
        with zipfile.ZipFile(unlisted, "w") as opened:
            opened.writestr("manifest.json", "{}")
        refused = run("restore", str(unlisted))
        assert refused.exit_code == 1 and "not a chengyun backup" in refused.output

        text = tmp_path / "notes.zip"
        text.write_text("not a zip", "utf-8")
        refused = run("restore", str(text))
        assert refused.exit_code == 1 and "not a zip archive" in refused.output

        missing = run("restore", str(tmp_path / "nowhere.zip"))
        assert missing.exit_code == 1 and "no such file" in missing.output

        assert all(not table for table in rows(engine).values())  # nothing was touched
        assert run("restore", str(sqlite_archive)).exit_code == 0


def forge(source: Path, target: Path, member: str, change: Any) -> None:
    """A copy of the archive with one member changed and the manifest made to agree: only
    the database can find what is wrong."""
    with zipfile.ZipFile(source) as old:
        manifest = json.loads(old.read("manifest.json"))
        data = change(old.read(member))
        manifest["members"][member] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        with zipfile.ZipFile(target, "w") as new:
            for info in old.infolist():
                if info.filename == "manifest.json":
                    new.writestr(info, json.dumps(manifest))
                else:
                    new.writestr(info, data if info.filename == member else old.read(info))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_failed_restore_leaves_the_database_as_it_was(
    kind: str, sqlite_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dangling(data: bytes) -> bytes:  # the last assignment points at a unit that is not
        lines = data.splitlines(keepends=True)
        row = json.loads(lines[-1])
        row[4] = "999999999999999"
        return b"".join(lines[:-1]) + json.dumps(row).encode() + b"\n"

    broken = tmp_path / "broken.zip"
    forge(sqlite_archive, broken, "tables/assignments.jsonl", dangling)
    with fresh_database(kind, tmp_path) as engine:
        use(monkeypatch, engine, tmp_path)
        refused = run("restore", str(broken))
        assert refused.exit_code == 1
        assert "assignments" in refused.output and "left as it was" in refused.output
        assert all(not table for table in rows(engine).values())

        assert run("restore", str(sqlite_archive)).exit_code == 0
        restored = rows(engine)
        refused = run("restore", str(broken), "--force")  # emptied and refilled, or neither
        assert refused.exit_code == 1
        assert rows(engine) == restored


def test_the_schema_must_be_at_the_backups_revision(
    sqlite_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database("sqlite", tmp_path, revision=None) as engine:
        use(monkeypatch, engine, tmp_path)
        refused = run("restore", str(sqlite_archive))
        assert refused.exit_code == 1
        assert "no schema" in refused.output and "chengyun db upgrade" in refused.output
    with fresh_database("sqlite", tmp_path, revision="20261127_0800") as engine:
        use(monkeypatch, engine, tmp_path)
        refused = run("restore", str(sqlite_archive))
        assert refused.exit_code == 1
        assert "20261127_0800" in refused.output and "revision" in refused.output
        assert run("db", "upgrade").exit_code == 0
        restored = run("restore", str(sqlite_archive))
        assert restored.exit_code == 0, restored.output
        assert "the backup holds no photos" not in restored.output
        assert "0 photos copied" in restored.output
