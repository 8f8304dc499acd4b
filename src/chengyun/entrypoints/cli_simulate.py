"""``chengyun simulate``: replay a period of incidents against the day and night force
tables and write the predicted measures, SLA misses and staff load (docs/simulation.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chengyun.domain.errors import DomainError
from chengyun.domain.forces import Assignment, Person, Roster
from chengyun.domain.territory import Territory

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(error: DomainError) -> typer.Exit:
    err.print(f"[bold red]✗ {error.message}[/]")
    for problem in error.problems[:50]:
        where = " / ".join(str(p) for p in problem.location) or "-"
        err.print(f"  [yellow]{where}[/]: {problem.message}")
    return typer.Exit(code=1)


def load_territory(path: Path | None) -> Territory:
    import json

    from chengyun.adapters.geo.geojson import territory_from_geojson
    from chengyun.demo.loader import demo_territory_geojson

    data = json.loads(path.read_text("utf-8")) if path else demo_territory_geojson()
    return territory_from_geojson(data)


def load_roster(files: Sequence[Path], territory: Territory) -> Roster:
    """The roster of one or more force-table workbooks (a day table and a night table, or
    one workbook holding both); without files, the demo roster."""
    from chengyun.adapters.spreadsheets.forces_xlsx import roster_from_xlsx
    from chengyun.demo.roster import demo_roster

    if not files:
        return demo_roster(territory)
    people: dict[str, Person] = {}
    assignments: dict[tuple[object, ...], Assignment] = {}
    for file in files:
        roster, _shifts = roster_from_xlsx(file.read_bytes(), territory)
        for person in roster.people:
            people.setdefault(person.number, person)
        for assignment in roster.assignments:
            assignments.setdefault(assignment.key, assignment)
    return Roster(tuple(people.values()), tuple(assignments.values()))


def _name(files: Sequence[Path], fallback: str) -> str:
    if not files:
        return fallback
    stems = "+".join(f.stem for f in files)
    return re.sub(r"[^\w.+-]+", "_", stems)[:60] or fallback


@contextmanager
def _progress(label: str) -> Iterator[object]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("h"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = bar.add_task(label, total=None)
    with bar:

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def simulate(
    days: Annotated[int, typer.Option(min=1, max=366, help="simulated days / 仿真天数")] = 30,
    forces: Annotated[
        list[Path] | None,
        typer.Option(
            "--forces",
            exists=True,
            dir_okay=False,
            help="force table .xlsx (day 附件2, night 附件3; repeat for two files); "
            "default: the demo roster",
        ),
    ] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option(
            "--compare",
            exists=True,
            dir_okay=False,
            help="force tables of a second roster, run on the same incidents and shown "
            "side by side",
        ),
    ] = None,
    incidents: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="recorded incidents .xlsx to replay"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="parameters (.toml or .json)"),
    ] = None,
    territory: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="territory GeoJSON; default: the demo"),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed: the same seed, the same run")] = 1,
    start: Annotated[
        str | None, typer.Option(help="first simulated day (YYYY-MM-DD); default from config")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="folder for simulation.xlsx and the PNG charts")
    ] = Path("simulation"),
) -> None:
    """Capacity simulation: predict KPIs and SLA misses of a roster / 力量仿真推演."""
    from dataclasses import replace
    from datetime import date

    from chengyun.adapters.taxonomy_file import load_default_taxonomy
    from chengyun.simulation.config import SimulationConfig, load_config
    from chengyun.simulation.engine import SimulationResult
    from chengyun.simulation.engine import simulate as run_simulation
    from chengyun.simulation.incidents import Places, generate, read_recorded
    from chengyun.simulation.outputs import value_of, write_comparison, write_outputs

    try:
        settings = load_config(config) if config else SimulationConfig()
        settings = replace(settings, days=days, seed=seed)
        if start:
            try:
                settings = replace(settings, start=date.fromisoformat(start))
            except ValueError:
                err.print(
                    f"[bold red]✗ --start 须为日期 / --start must be a date, got {start!r}[/]"
                )
                raise typer.Exit(code=2) from None
        land = load_territory(territory)
        places = Places(land)
        taxonomy = load_default_taxonomy()
        if incidents is not None:
            first, replayed = read_recorded(incidents.read_bytes(), places, taxonomy, seed)
            settings = replace(settings, start=first)
        else:
            replayed = generate(settings.incidents, places, taxonomy, settings.days, seed)
        rosters = [(_name(forces or [], "baseline"), load_roster(forces or [], land))]
        if compare:
            rosters.append((_name(compare, "alternative"), load_roster(compare, land)))
    except DomainError as error:
        raise _fail(error) from error
    if len(rosters) == 2 and rosters[0][0] == rosters[1][0]:
        rosters[1] = (rosters[1][0] + "-2", rosters[1][1])
    results: list[SimulationResult] = []
    for name, roster in rosters:
        with _progress(f"仿真 simulating {name}") as tick:
            result = run_simulation(
                land,
                roster,
                settings,
                replayed,
                places=places,
                taxonomy=taxonomy,
                progress=tick,  # type: ignore[arg-type]
                name=name,
            )
        results.append(result)
        folder = out_dir / name if len(rosters) > 1 else out_dir
        written = write_outputs(result, folder)
        figures = result.figures
        out.print(
            f"✓ {name}: {result.incidents} 事件 incidents, {result.found} 案件 cases in "
            f"{result.elapsed_seconds:.1f} s — 先行发现率 first discovery "
            f"{_pct(value_of(figures['first_discovery_rate']))}, 结案率 closure "
            f"{_pct(value_of(figures['closure_rate']))}, 紧急15分钟到场率 urgent on scene "
            f"{_pct(value_of(figures['urgent_on_time_arrival_rate']))}, 按期处置率 on-time "
            f"{_pct(value_of(figures['on_time_handling_rate']))}, 智能发现 video AI "
            f"{_pct(value_of(figures['intelligent_discovery_share']))}"
        )
        worst = ", ".join(f"{h.hour:02d}:00 ({h.miss_share:.0%})" for h in result.worst_hours(3))
        out.print(f"  最差时段 worst hours (share gone red): {worst or '-'}")
        out.print("  " + ", ".join(str(p) for p in written))
    if len(results) > 1:
        written = write_comparison(results, out_dir)
        out.print("✓ 对比 comparison: " + ", ".join(str(p) for p in written))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
