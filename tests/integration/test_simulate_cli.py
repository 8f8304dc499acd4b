"""``chengyun simulate`` end to end: force tables in, workbook and charts out, two rosters
compared on the same incidents."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from PIL import Image
from typer.testing import CliRunner

from chengyun.adapters.spreadsheets.forces_xlsx import roster_to_xlsx
from chengyun.demo.roster import demo_roster
from chengyun.domain.forces import Roster, Shift, TeamType
from chengyun.domain.territory import Territory
from chengyun.entrypoints.cli import app

runner = CliRunner()
QUICK = "[incidents]\nper_day = 120\n"


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _tables(tmp_path: Path, territory: Territory) -> tuple[Path, Path, Path]:
    roster = demo_roster(territory)
    day = tmp_path / "day.xlsx"
    night = tmp_path / "night.xlsx"
    day.write_bytes(roster_to_xlsx(roster, territory, [Shift.DAY]))
    night.write_bytes(roster_to_xlsx(roster, territory, [Shift.NIGHT]))
    people = {p.number: p for p in roster.people}
    thin = Roster(
        roster.people,
        tuple(
            a
            for a in roster.assignments
            if not (a.shift is Shift.NIGHT and people[a.number].team is TeamType.SOCIAL_SECURITY)
        ),
    )
    fewer = tmp_path / "night-thin.xlsx"
    fewer.write_bytes(roster_to_xlsx(thin, territory, [Shift.NIGHT]))
    return day, night, fewer


def test_simulate_writes_the_workbook_and_the_charts(
    tmp_path: Path, demo_territory: Territory
) -> None:
    day, night, _ = _tables(tmp_path, demo_territory)
    config = tmp_path / "sim.toml"
    config.write_text(QUICK, "utf-8")
    out = tmp_path / "out"
    code, output = _invoke(
        "simulate",
        "--days", "1",
        "--forces", str(day),
        "--forces", str(night),
        "--config", str(config),
        "--seed", "1",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert "first discovery" in output and "worst hours" in output
    workbook = load_workbook(out / "simulation.xlsx", read_only=True)
    assert {"概要 Summary", "网格 Grids", "管理单元 Units", "时段 Hours", "人员 Staff"} <= set(
        workbook.sheetnames
    )
    summary = [row for row in workbook["概要 Summary"].iter_rows(values_only=True) if row]
    assert any(row[1] == "First-discovery rate" for row in summary)
    assert len(list(workbook["管理单元 Units"].iter_rows())) > 10
    workbook.close()
    for name in ("hours.png", "measures.png", "channels.png", "utilisation.png"):
        with Image.open(out / name) as image:
            assert image.size == (960, 540)
    # the list of incidents that was simulated can be replayed as recorded incidents
    replay = tmp_path / "replay"
    code, output = _invoke(
        "simulate", "--days", "1", "--incidents", str(out / "incidents.xlsx"), "--out", str(replay)
    )
    assert code == 0, output
    assert (replay / "simulation.xlsx").exists()


def test_compare_runs_two_rosters_on_the_same_incidents(
    tmp_path: Path, demo_territory: Territory
) -> None:
    day, night, fewer = _tables(tmp_path, demo_territory)
    config = tmp_path / "sim.toml"
    config.write_text(QUICK, "utf-8")
    out = tmp_path / "cmp"
    code, output = _invoke(
        "simulate",
        "--days", "1",
        "--forces", str(day), "--forces", str(night),
        "--compare", str(day), "--compare", str(fewer),
        "--config", str(config),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert (out / "comparison.xlsx").exists() and (out / "comparison.png").exists()
    sheet = load_workbook(out / "comparison.xlsx", read_only=True)["总量 Totals"]
    rows = {row[0]: row[1:] for row in sheet.iter_rows(values_only=True)}
    assert rows["项目 Item"] == ("day+night", "day+night-thin")
    incidents = rows["发生事件 Incidents"]
    assert incidents[0] == incidents[1] > 0  # the same incidents for both
    assert (out / "day+night" / "simulation.xlsx").exists()
    assert (out / "day+night-thin" / "simulation.xlsx").exists()


def test_bad_inputs_are_refused_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[incidents]\nper_dya = 3\n", "utf-8")
    code, output = _invoke("simulate", "--days", "1", "--config", str(bad), "--out", str(tmp_path))
    assert code == 1 and "per_dya" in output
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    code, output = _invoke("simulate", "--forces", str(junk), "--out", str(tmp_path))
    assert code == 1 and "xlsx" in output
    code, output = _invoke("simulate", "--help")
    assert code == 0 and "--compare" in output
    code, output = _invoke("demo", "--help")
    assert code == 0 and "--speed" in output and "--no-simulation" in output
