"""``chengyun taxonomy`` against a real database: export .json/.xlsx, import back, reset,
and bad files refused with a message, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.entrypoints.cli import app
from chengyun.entrypoints.platform import Platform

runner = CliRunner()


@pytest.fixture
def env(db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {s.title: list(s.values) for s in load_workbook(path).worksheets}


def test_help() -> None:
    for args in (["taxonomy", "--help"], ["taxonomy", "export", "--help"]):
        code, output = run(*args)
        assert code == 0 and "Usage" in output
    code, output = run("taxonomy", "--help")
    assert "import" in output and "export" in output and "reset" in output


def test_export_edit_import_and_reset(env: Path) -> None:
    shipped = len(load_default_taxonomy())
    as_json = env / "taxonomy.json"
    code, output = run("taxonomy", "export", str(as_json))
    assert code == 0, output
    document = json.loads(as_json.read_text("utf-8"))
    assert len(document["subclasses"]) == shipped
    e0102 = next(s for s in document["subclasses"] if s["code"] == "E0102")
    e0102["limits"]["handle"] = {"amount": 45, "unit": "minutes"}
    as_json.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    code, output = run("taxonomy", "import", str(as_json))
    assert code == 0, output
    assert f"{shipped} subclasses" in output

    as_xlsx = env / "taxonomy.xlsx"
    assert run("taxonomy", "export", str(as_xlsx))[0] == 0
    code, output = run("taxonomy", "import", str(as_xlsx))
    assert code == 0, output
    again = env / "again.xlsx"
    assert run("taxonomy", "export", str(again))[0] == 0
    assert values(again) == values(as_xlsx)
    exported = json.loads((as_json).read_text("utf-8"))
    assert run("taxonomy", "export", str(as_json))[0] == 0
    assert json.loads(as_json.read_text("utf-8"))["subclasses"] == exported["subclasses"]

    shipped_xlsx = env / "default.xlsx"
    assert run("taxonomy", "export", "--default", str(shipped_xlsx))[0] == 0
    assert values(shipped_xlsx) != values(as_xlsx)  # the edited limit is in force
    code, output = run("taxonomy", "reset")
    assert code == 0, output
    assert run("taxonomy", "export", str(again))[0] == 0
    assert values(again) == values(shipped_xlsx)
    shipped_json = env / "default.json"
    assert run("taxonomy", "export", "--default", str(shipped_json))[0] == 0
    assert json.loads(shipped_json.read_text("utf-8"))["source"]


def test_bad_files_give_errors_not_tracebacks(env: Path) -> None:
    junk = env / "junk.json"
    junk.write_text("{not json", "utf-8")
    code, output = run("taxonomy", "import", str(junk))
    assert code == 1 and "not valid JSON" in output and "Traceback" not in output

    broken = env / "broken.json"
    document = {"subclasses": [{"code": "E0102", "kind": "event"}]}
    broken.write_text(json.dumps(document), "utf-8")
    code, output = run("taxonomy", "import", str(broken))
    assert code == 1 and "subclasses / 0 / name_zh" in output and "Traceback" not in output

    workbook = env / "bad.xlsx"
    workbook.write_bytes(b"PK not really")
    code, output = run("taxonomy", "import", str(workbook))
    assert code == 1 and "xlsx" in output and "Traceback" not in output

    csv = env / "taxonomy.csv"
    csv.write_text("code\n", "utf-8")
    code, output = run("taxonomy", "import", str(csv))
    assert code == 1 and ".xlsx or .json" in output
    assert run("taxonomy", "export", str(env / "out.txt"))[0] == 1
    code, output = run("taxonomy", "import", str(env / "missing.json"))
    assert code == 2 and "does not exist" in output
    # nothing was stored by any of them
    code, output = run("taxonomy", "export", str(env / "now.json"))
    assert code == 0
    now = json.loads((env / "now.json").read_text("utf-8"))
    assert len(now["subclasses"]) == len(load_default_taxonomy())


def test_a_subclass_that_cases_use_cannot_be_dropped(
    env: Path, demo: Platform, client: TestClient
) -> None:
    reporter = client.get(
        "/api/v1/people", params={"post": "patrol", "grid": "310118002900001", "limit": 1}
    ).json()["items"][0]["number"]
    answer = client.post(
        "/api/v1/cases",
        json={
            "channel": "patrol",
            "subclass": "E0102",
            "position": {"lng": 121.110, "lat": 31.150},
            "reporter": reporter,
            "observed_at": "2020-06-24T09:20:00+08:00",
        },
        headers=client.headers_for(reporter),  # type: ignore[attr-defined]
    )
    assert answer.status_code == 201, answer.text
    source = env / "taxonomy.json"
    assert run("taxonomy", "export", str(source))[0] == 0
    document = json.loads(source.read_text("utf-8"))
    document["subclasses"] = [s for s in document["subclasses"] if s["code"] != "E0102"]
    source.write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    code, output = run("taxonomy", "import", str(source))
    assert code == 1 and "E0102" in output and "Traceback" not in output
