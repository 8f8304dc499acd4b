"""Patrol coverage (巡查覆盖): from the positions patrol phones report during a day, who
patrolled each management unit and for how long, which units nobody visited, each
person's track, and attendance (到岗) per shift against the day and night tables.

The rules, in one place:

* **Presence.** A person's consecutive positions in the same unit less than ``gap``
  (default 10 minutes) apart are one visit; the time between the first and the last
  position of a visit is time spent in the unit. A longer gap, a position in another
  unit or outside the sub-district ends the visit; time between two units is counted
  for neither. A lone position is a visit of no length: the unit was visited.
* **Attendance.** For each shift that runs on the day (the day shift only on working
  days), the expected people are the first-line forces on that shift's table for a
  place (a grid's street frontage or a unit: ``duty.on_duty``); an expected person is
  present who reported at least one position during the shift, anywhere, and seen in
  their place who reported one inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from chengyun.domain.duty import on_duty
from chengyun.domain.errors import Problem
from chengyun.domain.forces import Roster, Shift
from chengyun.domain.labels import Labelled
from chengyun.domain.measures import FIRST_YEAR, LAST_YEAR
from chengyun.domain.territory import Territory
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar, as_china_time

#: Positions further apart than this (or exactly this far) end a visit.
DEFAULT_GAP = timedelta(minutes=10)
#: How many positions a phone may send at once.
MAX_BATCH = 500
#: How far ahead of the platform's clock a phone's clock may run.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class PatrolPosition:
    """One position a patrol phone reported (巡查定位), in WGS-84; ``unit_code`` and
    ``grid_code`` are ``None`` outside the sub-district."""

    person: str
    at: datetime
    lng: float
    lat: float
    unit_code: str | None = None
    grid_code: str | None = None
    accuracy_m: float | None = None


def time_problems(times: Sequence[datetime], now: datetime) -> list[Problem]:
    """The reporting-time rules of a batch: every time carries an offset, falls in the
    platform's era and is not more than ``FUTURE_TOLERANCE`` ahead of ``now``; each
    problem names ``positions[i].at``."""
    problems: list[Problem] = []
    latest = now + FUTURE_TOLERANCE
    for i, at in enumerate(times):
        where = ("positions", i, "at")
        if not FIRST_YEAR <= at.year <= LAST_YEAR:
            problems.append(
                Problem(
                    where,
                    f"年份超出范围 / a time between {FIRST_YEAR} and {LAST_YEAR}, "
                    f"got {at.isoformat()}: check the phone's clock",
                    "range",
                )
            )
        elif at.tzinfo is None or at.utcoffset() is None:
            problems.append(
                Problem(
                    where,
                    "时间须带时区 / the time needs a UTC offset: write it like "
                    "2020-06-24T09:30:00+08:00",
                    "timezone",
                )
            )
        elif at > latest:
            problems.append(
                Problem(
                    where,
                    f"时间晚于当前时间超过5分钟 / {at.isoformat()} is more than "
                    f"{FUTURE_TOLERANCE.seconds // 60} minutes after the platform's time "
                    f"{as_china_time(now).isoformat(timespec='seconds')}: check the phone's clock",
                    "future",
                )
            )
    return problems


# --- the day's shifts --------------------------------------------------------------------------


def day_problems(day: date) -> list[Problem]:
    """A day coverage can be asked for: in the platform's era (names ``date``)."""
    if FIRST_YEAR <= day.year <= LAST_YEAR:
        return []
    return [
        Problem(
            ("query", "date"),
            f"年份超出范围 / a day between {FIRST_YEAR} and {LAST_YEAR}, got {day.isoformat()}",
            "range",
        )
    ]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day in China time: ``[00:00, next 00:00)``."""
    start = datetime.combine(day, time(0), CHINA_TZ)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class ShiftWindow:
    """A stretch of a day during which one shift is in force."""

    shift: Shift
    start: datetime
    end: datetime

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end


def shift_windows(day: date, calendar: WorkingCalendar) -> list[ShiftWindow]:
    """The shifts of a day in order: on a working day night, day, night; otherwise night
    from midnight to midnight (the same answer as ``calendar.shift_at`` at every moment)."""
    start, end = day_bounds(day)
    if not calendar.is_working_day(day):
        return [ShiftWindow(Shift.NIGHT, start, end)]
    day_start = datetime.combine(day, calendar.day_start, CHINA_TZ)
    day_end = datetime.combine(day, calendar.day_end, CHINA_TZ)
    return [
        ShiftWindow(Shift.NIGHT, start, day_start),
        ShiftWindow(Shift.DAY, day_start, day_end),
        ShiftWindow(Shift.NIGHT, day_end, end),
    ]


class ShiftState(Labelled):
    """Where a shift of the day stands at the moment the coverage is asked for."""

    UPCOMING = "upcoming", "未开始", "Not started"
    RUNNING = "running", "进行中", "In progress"
    OVER = "over", "已结束", "Over"


# --- visits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """An unbroken stretch of one person's presence in one unit."""

    person: str
    unit_code: str
    start: datetime
    end: datetime
    positions: int

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def _by_person(positions: Iterable[PatrolPosition]) -> dict[str, list[PatrolPosition]]:
    """Each person's positions in time order, one per moment (the first kept)."""
    found: dict[str, dict[datetime, PatrolPosition]] = {}
    for p in positions:
        found.setdefault(p.person, {}).setdefault(p.at, p)
    return {
        person: sorted(moments.values(), key=lambda p: p.at)
        for person, moments in sorted(found.items())
    }


def visits(positions: Iterable[PatrolPosition], gap: timedelta = DEFAULT_GAP) -> list[Visit]:
    """The visits in the positions, by person and time (see the module's rules)."""
    found: list[Visit] = []
    for person, track in _by_person(positions).items():
        current: list[PatrolPosition] = []
        for p in track:
            if current and (p.unit_code != current[-1].unit_code or p.at - current[-1].at >= gap):
                found.append(_visit(person, current))
                current = []
            if p.unit_code is not None:
                current.append(p)
        if current:
            found.append(_visit(person, current))
    return found


def _visit(person: str, positions: list[PatrolPosition]) -> Visit:
    unit = positions[0].unit_code
    assert unit is not None
    return Visit(person, unit, positions[0].at, positions[-1].at, len(positions))


def covered(stretches: Iterable[tuple[datetime, datetime]]) -> timedelta:
    """The length of the union of the stretches (someone was there)."""
    total = timedelta(0)
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(stretches):
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            total += current[1] - current[0]
        current = (start, end)
    if current is not None:
        total += current[1] - current[0]
    return total


# --- the answer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonInUnit:
    """One person's presence in one unit over the day."""

    person: str
    time_spent: timedelta
    first_seen: datetime
    last_seen: datetime
    positions: int
    visits: int


@dataclass(frozen=True)
class UnitCoverage:
    """Who patrolled a unit during the day; ``covered`` is how long at least one of them
    was there (overlapping visits count once)."""

    unit_code: str
    grid_code: str
    people: tuple[PersonInUnit, ...] = ()
    covered: timedelta = timedelta(0)
    positions: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    @property
    def visited(self) -> bool:
        return self.positions > 0

    @property
    def person_time(self) -> timedelta:
        """Everyone's time added up (two people for an hour: two hours)."""
        return sum((p.time_spent for p in self.people), timedelta(0))


@dataclass(frozen=True)
class TrackPoint:
    at: datetime
    lng: float
    lat: float
    unit_code: str | None
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Track:
    """A person's positions of the day in time order (巡查轨迹)."""

    person: str
    points: tuple[TrackPoint, ...]


@dataclass(frozen=True)
class PersonDay:
    """One person's day: positions (those outside the sub-district apart), time spent in
    units, the units visited."""

    person: str
    positions: int
    outside: int
    time_spent: timedelta
    units: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class PlaceAttendance:
    """A place of a shift's table: a unit, or a grid's street frontage (``unit_code``
    ``None``)."""

    grid_code: str
    unit_code: str | None
    expected: tuple[str, ...]
    present: tuple[str, ...]
    """Expected people who reported a position during the shift, anywhere."""
    seen_here: tuple[str, ...]
    """Expected people who reported a position inside the place during the shift."""

    @property
    def absent(self) -> tuple[str, ...]:
        return tuple(n for n in self.expected if n not in self.present)


@dataclass(frozen=True)
class ShiftAttendance:
    """Attendance for one shift of the day (到岗情况)."""

    shift: Shift
    windows: tuple[ShiftWindow, ...]
    state: ShiftState
    places: tuple[PlaceAttendance, ...]
    unexpected: tuple[str, ...] = ()
    """People who reported positions during the shift without being on its table here."""

    @property
    def expected(self) -> tuple[str, ...]:
        return tuple(sorted({n for p in self.places for n in p.expected}))

    @property
    def present(self) -> tuple[str, ...]:
        return tuple(sorted({n for p in self.places for n in p.present}))

    @property
    def absent(self) -> tuple[str, ...]:
        present = set(self.present)
        return tuple(n for n in self.expected if n not in present)


@dataclass(frozen=True)
class DayCoverage:
    """The coverage of one day (of the whole sub-district, or one grid)."""

    day: date
    gap: timedelta
    grid_code: str | None
    units: tuple[UnitCoverage, ...]
    people: tuple[PersonDay, ...]
    tracks: tuple[Track, ...]
    attendance: tuple[ShiftAttendance, ...]
    positions: int = 0
    outside: int = 0

    @property
    def not_visited(self) -> tuple[str, ...]:
        """The units nobody reported a position in during the day."""
        return tuple(u.unit_code for u in self.units if not u.visited)


def _state(windows: Sequence[ShiftWindow], now: datetime) -> ShiftState:
    if now < windows[0].start:
        return ShiftState.UPCOMING
    if now >= windows[-1].end:
        return ShiftState.OVER
    return ShiftState.RUNNING


def _unit_coverage(unit_code: str, grid_code: str, unit_visits: list[Visit]) -> UnitCoverage:
    if not unit_visits:
        return UnitCoverage(unit_code, grid_code)
    people: list[PersonInUnit] = []
    by_person: dict[str, list[Visit]] = {}
    for v in unit_visits:
        by_person.setdefault(v.person, []).append(v)
    for person, own in sorted(by_person.items()):
        people.append(
            PersonInUnit(
                person,
                sum((v.duration for v in own), timedelta(0)),
                min(v.start for v in own),
                max(v.end for v in own),
                sum(v.positions for v in own),
                len(own),
            )
        )
    return UnitCoverage(
        unit_code,
        grid_code,
        tuple(people),
        covered((v.start, v.end) for v in unit_visits),
        sum(v.positions for v in unit_visits),
        min(v.start for v in unit_visits),
        max(v.end for v in unit_visits),
    )


def _attendance(
    windows: list[ShiftWindow],
    territory: Territory,
    roster: Roster,
    tracks: dict[str, list[PatrolPosition]],
    grid_code: str | None,
    now: datetime,
) -> list[ShiftAttendance]:
    grids = [g for g in territory.grids if grid_code in (None, g.code)]
    found: list[ShiftAttendance] = []
    for shift in Shift:
        own = [w for w in windows if w.shift is shift]
        if not own:
            continue
        during = {
            person: [p for p in track if any(w.holds(p.at) for w in own)]
            for person, track in tracks.items()
        }
        during = {person: track for person, track in during.items() if track}
        places: list[PlaceAttendance] = []
        for grid in grids:
            spots: list[tuple[str | None, list[str]]] = [
                (
                    None,
                    [
                        o.person.number
                        for o in on_duty(roster, shift, grid_code=grid.code, street=True)
                    ],
                )
            ]
            spots += [
                (
                    u.code,
                    [
                        o.person.number
                        for o in on_duty(roster, shift, grid_code=grid.code, unit_code=u.code)
                    ],
                )
                for u in territory.units_of(grid.code)
            ]
            for unit_code, expected in spots:
                present = [n for n in expected if n in during]
                here = [
                    n
                    for n in present
                    if any(
                        (p.unit_code == unit_code) if unit_code else (p.grid_code == grid.code)
                        for p in during[n]
                    )
                ]
                places.append(
                    PlaceAttendance(
                        grid.code, unit_code, tuple(expected), tuple(present), tuple(here)
                    )
                )
        expected_anywhere = {n for place in places for n in place.expected}
        unexpected = sorted(
            person
            for person, track in during.items()
            if person not in expected_anywhere
            and (grid_code is None or any(p.grid_code == grid_code for p in track))
        )
        found.append(
            ShiftAttendance(shift, tuple(own), _state(own, now), tuple(places), tuple(unexpected))
        )
    return found


def day_coverage(
    day: date,
    positions: Iterable[PatrolPosition],
    territory: Territory,
    roster: Roster,
    calendar: WorkingCalendar,
    now: datetime,
    *,
    grid_code: str | None = None,
    gap: timedelta = DEFAULT_GAP,
) -> DayCoverage:
    """The coverage of ``day`` (China time) from the positions reported in it (others are
    ignored), for the whole sub-district or the grid ``grid_code``: each unit's
    visitors and time, every person's day and track, attendance per shift as of ``now``."""
    start, end = day_bounds(day)
    kept = [p for p in positions if start <= p.at < end]
    tracks = _by_person(kept)
    all_visits = visits(kept, gap)
    by_unit: dict[str, list[Visit]] = {}
    for v in all_visits:
        by_unit.setdefault(v.unit_code, []).append(v)
    units = tuple(
        _unit_coverage(u.code, u.grid_code, by_unit.get(u.code, []))
        for u in sorted(territory.units, key=lambda u: u.code)
        if grid_code in (None, u.grid_code)
    )
    in_scope = {
        person: track
        for person, track in tracks.items()
        if grid_code is None or any(p.grid_code == grid_code for p in track)
    }
    people: list[PersonDay] = []
    for person, track in in_scope.items():
        own = [v for v in all_visits if v.person == person]
        people.append(
            PersonDay(
                person,
                len(track),
                sum(1 for p in track if p.unit_code is None),
                sum((v.duration for v in own), timedelta(0)),
                tuple(sorted({v.unit_code for v in own})),
                track[0].at,
                track[-1].at,
            )
        )
    return DayCoverage(
        day=day,
        gap=gap,
        grid_code=grid_code,
        units=units,
        people=tuple(people),
        tracks=tuple(
            Track(
                person,
                tuple(TrackPoint(p.at, p.lng, p.lat, p.unit_code, p.accuracy_m) for p in track),
            )
            for person, track in in_scope.items()
        ),
        attendance=tuple(
            _attendance(shift_windows(day, calendar), territory, roster, tracks, grid_code, now)
        ),
        positions=sum(len(t) for t in in_scope.values()),
        outside=sum(1 for t in in_scope.values() for p in t if p.unit_code is None),
    )
