"""Discovery (发现): who finds a problem first, and when — which decides its channel.

Four ways compete for every incident: patrol rounds (the first-line forces on duty at
the place, each walking their beat; a Poisson process whose rate changes with the
shift), cameras with an algorithm (coverage × recall, after a short delay), a citizen
scanning the QR code, and a 12345 (or diverted 110) call after a longer delay. The
earliest wins; an incident nobody finds before the end is not a case at all. Who is on
duty comes from the platform's own ``domain.duty.on_duty``.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import accumulate

from chengyun.domain.cases import Channel
from chengyun.domain.duty import on_duty
from chengyun.domain.forces import Roster, Shift
from chengyun.domain.territory import Territory
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar
from chengyun.simulation.config import SimulationConfig, patrol_interval
from chengyun.simulation.incidents import Incident, Places


class Timeline:
    """The day and night segments (日间/夜间) of the simulated period, in minutes from its
    start, by the platform's working calendar."""

    def __init__(self, calendar: WorkingCalendar, start: date, days: int) -> None:
        self.calendar = calendar
        self.origin = datetime.combine(start, time(0), CHINA_TZ)
        bounds: list[float] = [0.0]
        shifts: list[Shift] = []
        day_start = _minutes(calendar.day_start)
        day_end = _minutes(calendar.day_end)
        for offset in range(days + 2):
            base = offset * 1440.0
            if calendar.is_working_day(start + timedelta(days=offset)):
                pieces = [(base, Shift.NIGHT), (base + day_start, Shift.DAY)]
                pieces.append((base + day_end, Shift.NIGHT))
            else:
                pieces = [(base, Shift.NIGHT)]
            for at, shift in pieces:
                if shifts and shifts[-1] is shift:
                    continue
                if shifts:
                    bounds.append(at)
                shifts.append(shift)
        self.bounds = bounds  # bounds[i] starts segment i
        self.shifts = shifts
        self.end = (days + 2) * 1440.0

    def at(self, minute: float) -> datetime:
        return self.origin + timedelta(minutes=minute)

    def index(self, minute: float) -> int:
        return max(0, bisect_right(self.bounds, minute) - 1)

    def shift_at(self, minute: float) -> Shift:
        return self.shifts[self.index(minute)]

    def next_change(self, minute: float) -> float:
        i = self.index(minute) + 1
        return self.bounds[i] if i < len(self.bounds) else self.end

    def segments(self, minute: float) -> Iterator[tuple[float, float, Shift]]:
        """``(from, to, shift)`` from ``minute`` on to the end of the timeline."""
        i = self.index(minute)
        start = minute
        while i < len(self.shifts):
            end = self.bounds[i + 1] if i + 1 < len(self.bounds) else self.end
            yield start, end, self.shifts[i]
            start = end
            i += 1

    def minutes_on(self, shift: Shift, until: float) -> float:
        """Minutes of ``shift`` in [0, until)."""
        total = 0.0
        for start, end, each in self.segments(0.0):
            if start >= until:
                break
            if each is shift:
                total += min(end, until) - start
        return total


def _minutes(t: time) -> float:
    return t.hour * 60.0 + t.minute + t.second / 60.0


@dataclass(frozen=True)
class Walkers:
    """Who patrols one place on one shift, and how often each passes by (per minute,
    detection included)."""

    numbers: tuple[str, ...]
    cumulative: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    def pick(self, u: float) -> str:
        return self.numbers[bisect_right(self.cumulative, u * self.rate)]


class PatrolCoverage:
    """Patrol rates per place (grid, unit, street) and shift, from the roster."""

    def __init__(
        self, roster: Roster, territory: Territory, places: Places, config: SimulationConfig
    ) -> None:
        self.roster = roster
        self.config = config.patrol
        self._cache: dict[tuple[str, str, bool, Shift], Walkers] = {}
        # how many places each person's beat covers on a shift: a street patroller walks
        # the frontage of every unit of their grid, a shared community member each unit
        self._beats: dict[tuple[str, Shift], int] = {}
        street_units: dict[str, int] = {}
        for unit in territory.units:
            if places.street.get(unit.code):
                street_units[unit.grid_code] = street_units.get(unit.grid_code, 0) + 1
        for a in roster.assignments:
            key = (a.number, a.shift)
            size = street_units.get(a.grid_code or "", 1) if not a.unit_code else 1
            self._beats[key] = self._beats.get(key, 0) + max(size, 1)

    def walkers(self, grid_code: str, unit_code: str, street: bool, shift: Shift) -> Walkers:
        key = (grid_code, unit_code, street, shift)
        found = self._cache.get(key)
        if found is None:
            numbers: list[str] = []
            rates: list[float] = []
            for duty in on_duty(
                self.roster, shift, grid_code=grid_code, unit_code=unit_code, street=street
            ):
                team = duty.person.team
                interval = patrol_interval(self.config, shift, team) if team else None
                if interval is None:
                    continue
                beat = self._beats.get((duty.person.number, shift), 1)
                numbers.append(duty.person.number)
                rates.append(self.config.detect_probability / (interval * beat))
            factor = self.config.unit_factor.get(unit_code, 1.0)
            found = Walkers(tuple(numbers), tuple(accumulate(r * factor for r in rates)))
            self._cache[key] = found
        return found


@dataclass(frozen=True)
class Discovery:
    """The first report of an incident: when, by which channel, by whom (patrol)."""

    minute: float
    channel: Channel
    reporter: str | None = None


def discover(
    incident: Incident,
    rng: random.Random,
    coverage: PatrolCoverage,
    timeline: Timeline,
    config: SimulationConfig,
    horizon: float,
) -> Discovery | None:
    """Who finds ``incident`` first before ``horizon`` (minutes), or ``None``.

    Draws the same random numbers in the same order whatever the roster, so that two
    rosters compared on one seed differ only by what the rosters change."""
    if incident.channel is not None:
        return Discovery(
            incident.found_minute or incident.minute, incident.channel, incident.reporter
        )
    spot = incident.spot
    start = incident.minute
    need, pick = rng.expovariate(1.0), rng.random()
    cam_seen, cam_recall, cam_delay = rng.random(), rng.random(), rng.expovariate(1.0)
    qr, qr_delay = rng.random(), rng.expovariate(1.0)
    call, call_delay = rng.random(), rng.expovariate(1.0)
    police, police_delay = rng.random(), rng.expovariate(1.0)
    found: list[Discovery] = []

    for seg_start, seg_end, shift in timeline.segments(start):
        if seg_start >= horizon:
            break
        walkers = coverage.walkers(spot.grid_code, spot.unit_code, spot.street, shift)
        rate = walkers.rate
        if rate > 0:
            span = min(seg_end, horizon) - seg_start
            if rate * span >= need:
                found.append(Discovery(seg_start + need / rate, Channel.PATROL, walkers.pick(pick)))
                break
            need -= rate * span

    cameras = config.cameras
    covered = cameras.unit_coverage.get(
        spot.unit_code, cameras.street_coverage if spot.street else cameras.community_coverage
    )
    recall = cameras.recall.get(incident.subclass, cameras.default_recall)
    if cam_seen < covered and cam_recall < recall:
        found.append(Discovery(start + cam_delay * cameras.delay_minutes, Channel.VIDEO_AI))
    citizens = config.citizens
    if qr < citizens.qr_probability:
        found.append(Discovery(start + qr_delay * citizens.qr_delay_minutes, Channel.CITIZEN_QR))
    if call < citizens.hotline_probability:
        found.append(
            Discovery(start + call_delay * citizens.hotline_delay_minutes, Channel.HOTLINE)
        )
    if incident.subclass in citizens.police_subclasses and police < citizens.police_probability:
        found.append(
            Discovery(
                start + police_delay * citizens.police_delay_minutes, Channel.POLICE_DIVERSION
            )
        )
    first = min(found, key=lambda d: d.minute, default=None)
    return first if first is not None and first.minute < horizon else None
