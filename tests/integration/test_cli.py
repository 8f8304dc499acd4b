"""The command line against a real database: upgrade, territory and forces in and out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.entrypoints.cli import app

runner = CliRunner()


@pytest.fixture
def env(db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_help_everywhere() -> None:
    for args in (
        [],
        ["db"],
        ["territory"],
        ["forces"],
        ["demo", "--help"],
        ["serve", "--help"],
        ["territory", "import", "--help"],
        ["forces", "export", "--help"],
    ):
        code, output = run(*args, *([] if "--help" in args else ["--help"]))
        assert code == 0, (args, output)
        assert "Usage" in output


def test_territory_and_forces_round_trip(env: Path, demo_geojson: dict) -> None:
    source = env / "territory.geojson"
    source.write_text(json.dumps(demo_geojson, ensure_ascii=False), "utf-8")
    assert run("db", "upgrade")[0] == 0
    code, output = run("territory", "import", str(source))
    assert code == 0, output
    assert "34 units (19 key)" in output
    exported = env / "out.geojson"
    assert run("territory", "export", str(exported))[0] == 0
    data = json.loads(exported.read_text("utf-8"))
    assert len([f for f in data["features"] if f["properties"]["layer"] == "unit"]) == 34
    assert data["chengyun"]["illustrative"] is True

    template = env / "template.xlsx"
    assert run("forces", "export", str(template), "--template")[0] == 0
    sheets = load_workbook(template).sheetnames
    assert any(s.startswith("日间") for s in sheets) and any(s.startswith("夜间") for s in sheets)


def test_forces_import_from_the_demo_roster(env: Path, demo_territory) -> None:
    from chengyun.adapters.spreadsheets.forces_xlsx import roster_to_xlsx
    from chengyun.demo.roster import demo_roster

    book = env / "forces.xlsx"
    book.write_bytes(roster_to_xlsx(demo_roster(demo_territory), demo_territory))
    code, output = run("forces", "import", str(book))
    assert code == 1  # no territory yet: a clear error, not a traceback
    assert "no territory has been imported" in output
    territory = env / "territory.geojson"
    from chengyun.adapters.geo.geojson import territory_to_geojson

    territory.write_text(json.dumps(territory_to_geojson(demo_territory)), "utf-8")
    assert run("territory", "import", str(territory))[0] == 0
    code, output = run("forces", "import", str(book))
    assert code == 0, output
    again = env / "again.xlsx"
    assert run("forces", "export", str(again))[0] == 0
    first = {s.title: list(s.values) for s in load_workbook(book).worksheets}
    second = {s.title: list(s.values) for s in load_workbook(again).worksheets}
    assert first == second


def test_bad_files_give_errors_not_tracebacks(env: Path) -> None:
    junk = env / "junk.geojson"
    junk.write_text("{not json", "utf-8")
    code, output = run("territory", "import", str(junk))
    assert code == 1 and "not valid JSON" in output
    empty = env / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}', "utf-8")
    code, output = run("territory", "import", str(empty))
    assert code == 1 and "features / 0" in output and "nothing was imported" in output
    code, output = run("territory", "import", str(env / "missing.geojson"))
    assert code == 2 and "does not exist" in output
    code, output = run("territory", "export", str(env / "x.geojson"))
    assert code == 1 and "no territory" in output
    xlsx = env / "bad.xlsx"
    xlsx.write_bytes(b"PK not really")
    code, output = run("forces", "import", str(xlsx))
    assert code == 1


def test_demo_without_serving_builds_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHENGYUN_DATABASE_URL", raising=False)
    data_dir = tmp_path / "demo"
    data_dir.mkdir()
    (data_dir / "stale.txt").write_text("old", "utf-8")
    code, output = run("demo", "--data-dir", str(data_dir), "--no-serve")
    assert code == 0, output
    assert "34 units (19 key)" in output and "/api/v1/duty" in output
    assert "24 sample cases" in output
    assert not (data_dir / "stale.txt").exists()
    assert (data_dir / "chengyun.sqlite3").exists()
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(data_dir / "chengyun.sqlite3")) as db:
        statuses = dict(db.execute("SELECT status, count(*) FROM cases GROUP BY status"))
    assert sum(statuses.values()) == 24
    assert statuses.get("dispatched", 0) >= 10  # placed, classified and sent to someone


def test_measures_rebuild_recomputes_every_profile(env: Path, db: Engine) -> None:
    import sqlalchemy as sa

    from chengyun.adapters.db import tables as t

    code, output = run("demo", "--no-serve", "--data-dir", str(env / "demo"))
    assert code == 0, output
    demo_url = f"sqlite:///{env / 'demo' / 'chengyun.sqlite3'}"
    engine = sa.create_engine(demo_url)
    try:
        with engine.begin() as connection:
            before = connection.execute(
                sa.select(t.case_measures).order_by(t.case_measures.c.case_id)
            ).all()
            connection.execute(t.case_measures.delete())
    finally:
        engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHENGYUN_DATABASE_URL", demo_url)
        code, output = run("measures", "rebuild")
    assert code == 0, output
    assert f"profiles of {len(before)} cases rebuilt" in output
    engine = sa.create_engine(demo_url)
    try:
        with engine.connect() as connection:
            after = connection.execute(
                sa.select(t.case_measures).order_by(t.case_measures.c.case_id)
            ).all()
    finally:
        engine.dispose()
    assert len(before) == 24 and after == before
