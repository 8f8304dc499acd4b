"""The capacity simulation: deterministic for a seed, and its answers move the right way
when the roster or the cameras change (small, fast configurations of a few days)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from chengyun.domain.cases import Channel
from chengyun.domain.errors import InvalidInput
from chengyun.domain.forces import Roster, Shift, TeamType
from chengyun.domain.measures import all_measures
from chengyun.domain.territory import Territory
from chengyun.simulation.config import (
    CameraConfig,
    HandlingConfig,
    IncidentConfig,
    SimulationConfig,
    config_from_mapping,
    load_config,
)
from chengyun.simulation.discovery import Timeline
from chengyun.simulation.engine import SimulationResult, simulate
from chengyun.simulation.incidents import Places, generate, read_recorded, write_recorded

URGENT_MIX = {"E0701": 2.0, "C0101": 1.0, "E0402": 1.0, "E0704": 1.0, "E0602": 1.0}
NIGHT_HOURS = tuple(1.0 if (h < 8 or h >= 17) else 0.0 for h in range(24))


@pytest.fixture(scope="module")
def territory() -> Territory:
    from chengyun.adapters.geo.geojson import territory_from_geojson
    from chengyun.demo.loader import demo_territory_geojson

    return territory_from_geojson(demo_territory_geojson())


@pytest.fixture(scope="module")
def places(territory: Territory) -> Places:
    return Places(territory)


@pytest.fixture(scope="module")
def roster(territory: Territory) -> Roster:
    from chengyun.demo.roster import demo_roster

    return demo_roster(territory)


def small(**incidents: object) -> SimulationConfig:
    return SimulationConfig(
        start=date(2025, 6, 9),
        days=2,
        incidents=IncidentConfig(**incidents),  # type: ignore[arg-type]
    )


def run(
    territory: Territory, places: Places, roster: Roster, config: SimulationConfig
) -> SimulationResult:
    return simulate(territory, roster, config, places=places)


def ample(roster: Roster, copies: int = 4) -> Roster:
    """Every first-line and department person ``copies`` times over, on the same posts."""
    people = {p.number: p for p in roster.people}
    extra_people = []
    extra_assignments = []
    for i in range(1, copies):
        for person in roster.people:
            if person.team or person.department:
                extra_people.append(replace(person, number=f"{person.number}-X{i}"))
        for a in roster.assignments:
            person = people[a.number]
            if person.team or person.department:
                extra_assignments.append(replace(a, number=f"{a.number}-X{i}"))
    return Roster((*roster.people, *extra_people), (*roster.assignments, *extra_assignments))


def half_night_social_security(roster: Roster) -> Roster:
    """Half of the night social security team, the other half taking over their beats."""
    people = {p.number: p for p in roster.people}
    members = sorted(
        {
            a.number
            for a in roster.assignments
            if a.shift is Shift.NIGHT and people[a.number].team is TeamType.SOCIAL_SECURITY
        }
    )
    moved = {n: members[i - 1] for i, n in enumerate(members) if i % 2 == 1}
    kept = {}
    for a in roster.assignments:
        if a.shift is Shift.NIGHT and a.number in moved:
            a = replace(a, number=moved[a.number])
        kept.setdefault(a.key, a)
    return Roster(roster.people, tuple(kept.values()))


def rate(result: SimulationResult, measure: str, shift: Shift | None = None) -> float:
    figures = result.figures if shift is None else result.by_shift[shift]
    value = figures[measure].value  # type: ignore[union-attr]
    assert value is not None, measure
    return value


# --- determinism ---------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_run(
    territory: Territory, places: Places, roster: Roster
) -> None:
    config = replace(small(per_day=200.0), days=1)
    first = run(territory, places, roster, config)
    second = run(territory, places, roster, config)
    assert first.incidents == second.incidents > 100
    assert [(f.number, f.status, f.channel, f.assignee, f.closed_at) for f in first.facts] == [
        (f.number, f.status, f.channel, f.assignee, f.closed_at) for f in second.facts
    ]
    assert first.figures == second.figures
    assert [s.busy_minutes for s in first.staff] == [s.busy_minutes for s in second.staff]
    other = run(territory, places, roster, replace(config, seed=2))
    assert [f.number for f in other.facts] != [f.number for f in first.facts]


def test_the_figures_are_the_platforms_own_measures(
    territory: Territory, places: Places, roster: Roster
) -> None:
    result = run(territory, places, roster, replace(small(per_day=200.0), days=1))
    assert result.figures == all_measures(result.facts, result.period.start, result.period.end)
    assert sum(result.channels.values()) == result.figures["first_discovery_rate"].denominator  # type: ignore[union-attr]
    assert result.found + result.undiscovered == result.incidents
    closed = [f for f in result.facts if f.closed_at is not None]
    assert closed, "some cases close within the day"
    # every closed case went through the whole loop (or was solved on the spot)
    assert all(f.self_handled or (f.dispatches and f.checks) for f in closed)
    assert {h.hour for h in result.by_hour} == set(range(24))
    assert result.worst_hours(3)


# --- directions ----------------------------------------------------------------------------


def test_ample_staff_bring_urgent_arrival_near_one_hundred_percent(
    territory: Territory, places: Places, roster: Roster
) -> None:
    config = small(per_day=120.0, subclass_weights=URGENT_MIX)
    base = run(territory, places, roster, config)
    plenty = run(territory, places, ample(roster), config)
    assert rate(plenty, "urgent_on_time_arrival_rate") >= 0.9
    assert rate(plenty, "urgent_on_time_arrival_rate") > rate(base, "urgent_on_time_arrival_rate")


def test_halving_the_night_social_security_team_lowers_urgent_arrival_at_night(
    territory: Territory, places: Places, roster: Roster
) -> None:
    config = small(per_day=150.0, subclass_weights={"E0701": 1.0}, hour_weights=NIGHT_HOURS)
    full = run(territory, places, roster, config)
    half = run(territory, places, half_night_social_security(roster), config)
    night = "urgent_on_time_arrival_rate"
    assert rate(half, night, Shift.NIGHT) < rate(full, night, Shift.NIGHT) - 0.1
    assert full.incidents == half.incidents  # the same incidents for both rosters


def test_without_cameras_nothing_is_found_by_an_algorithm(
    territory: Territory, places: Places, roster: Roster
) -> None:
    config = replace(small(per_day=200.0), days=1)
    with_cameras = run(territory, places, roster, config)
    blind = run(
        territory,
        places,
        roster,
        replace(config, cameras=CameraConfig(street_coverage=0.0, community_coverage=0.0)),
    )
    assert rate(with_cameras, "intelligent_discovery_share") > 0.05
    assert rate(blind, "intelligent_discovery_share") == 0
    assert blind.channels.get(Channel.VIDEO_AI.value, 0) == 0


def test_slower_handling_lowers_on_time_handling(
    territory: Territory, places: Places, roster: Roster
) -> None:
    config = replace(small(per_day=200.0), days=1)
    slow = replace(config, handling=HandlingConfig(minutes={}, general_minutes=200.0))
    assert rate(run(territory, places, roster, slow), "on_time_handling_rate") < rate(
        run(territory, places, roster, config), "on_time_handling_rate"
    )


# --- incidents -----------------------------------------------------------------------------


def _workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["发生时间 occurred_at", "小类 subclass", "管理单元 unit_code", "渠道 channel"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_recorded_incidents_are_replayed(
    territory: Territory, places: Places, roster: Roster
) -> None:
    from chengyun.adapters.taxonomy_file import load_default_taxonomy

    unit = places.units[0].code
    data = _workbook(
        [
            [datetime(2025, 6, 3, 9, 0), "E0102", unit, "hotline"],
            [datetime(2025, 6, 3, 10, 30), "E0504", unit, None],
            ["2025-06-03T23:15:00", "E0701", unit, "police_diversion"],
            [None, None, None, None],
        ]
    )
    first, incidents = read_recorded(data, places, load_default_taxonomy())
    assert first == date(2025, 6, 3)
    assert [i.subclass for i in incidents] == ["E0102", "E0504", "E0701"]
    assert incidents[0].channel is Channel.HOTLINE and incidents[1].channel is None
    result = simulate(
        territory, roster, SimulationConfig(start=first, days=1), incidents, places=places
    )
    channels = {f.subclass: f.channel for f in result.facts}
    assert channels["E0102"] is Channel.HOTLINE
    assert channels["E0701"] is Channel.POLICE_DIVERSION
    assert result.incidents == 3


def test_generated_incidents_round_trip_through_xlsx(places: Places) -> None:
    from chengyun.adapters.taxonomy_file import load_default_taxonomy

    taxonomy = load_default_taxonomy()
    made = generate(IncidentConfig(per_day=50.0), places, taxonomy, 1, seed=3)
    first, back = read_recorded(write_recorded(made, date(2025, 6, 9)), places, taxonomy)
    assert first == date(2025, 6, 9)
    assert [(i.subclass, i.spot.unit_code, i.spot.street) for i in back] == [
        (i.subclass, i.spot.unit_code, i.spot.street) for i in made
    ]


def test_a_bad_recorded_list_names_the_row(places: Places) -> None:
    from chengyun.adapters.taxonomy_file import load_default_taxonomy

    data = _workbook([["yesterday", "X9999", "nowhere", "fax"]])
    with pytest.raises(InvalidInput) as caught:
        read_recorded(data, places, load_default_taxonomy())
    located = {p.location[-1] for p in caught.value.problems}
    assert {"occurred_at", "subclass", "unit_code", "channel"} <= located
    assert all(p.location[1] == 2 for p in caught.value.problems)
    with pytest.raises(InvalidInput):
        read_recorded(b"not a workbook", places, load_default_taxonomy())


# --- config --------------------------------------------------------------------------------


def test_a_config_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(
        'start = "2025-07-01"\n'
        "[incidents]\nper_day = 10\n[incidents.subclass_weights]\nE0102 = 3\n"
        "[cameras]\nstreet_coverage = 0\n[patrol.interval_minutes.night]\nproperty = 60\n",
        "utf-8",
    )
    config = load_config(path)
    assert config.start == date(2025, 7, 1)
    assert config.incidents.per_day == 10.0
    assert config.incidents.subclass_weights["E0102"] == 3.0
    assert config.incidents.subclass_weights["E0504"] == 10.0  # defaults kept
    assert config.cameras.street_coverage == 0.0
    assert config.patrol.interval_minutes["night"]["property"] == 60.0
    assert config.patrol.interval_minutes["day"]["property"] == 120.0
    json_path = tmp_path / "sim.json"
    json_path.write_text('{"handling": {"speed_kmh": 20}}', "utf-8")
    assert load_config(json_path).handling.speed_kmh == 20.0


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"incidents": {"per_dya": 3}}, "per_dya"),
        ({"incidents": {"per_day": "many"}}, "per_day"),
        ({"cameras": {"street_coverage": 1.5}}, "street_coverage"),
        ({"incidents": {"hour_weights": [1, 2]}}, "hour_weights"),
        ({"start": "soon"}, "start"),
        ({"days": -1}, "days"),
    ],
)
def test_a_wrong_setting_is_named(data: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        config_from_mapping(data)
    assert caught.value.problems[0].location[-1] == where


def test_the_timeline_follows_the_working_calendar() -> None:
    from chengyun.adapters.calendar import china_calendar

    timeline = Timeline(china_calendar(), date(2025, 6, 9), 7)  # Monday
    assert timeline.shift_at(9 * 60) is Shift.DAY
    assert timeline.shift_at(20 * 60) is Shift.NIGHT
    assert timeline.shift_at(5 * 1440 + 10 * 60) is Shift.NIGHT  # Saturday
    assert timeline.next_change(0) == 8 * 60 + 30
    assert timeline.minutes_on(Shift.DAY, 1440) == 8 * 60


def test_units_nobody_walks_are_never_found_by_patrol(
    territory: Territory, places: Places, roster: Roster
) -> None:
    from chengyun.simulation.config import PatrolConfig

    config = replace(small(per_day=100.0), days=1)
    unwalked = replace(
        config, patrol=PatrolConfig(unit_factor={u.code: 0.0 for u in territory.units})
    )
    assert run(territory, places, roster, config).channels[Channel.PATROL.value] > 0
    assert run(territory, places, roster, unwalked).channels.get(Channel.PATROL.value, 0) == 0
