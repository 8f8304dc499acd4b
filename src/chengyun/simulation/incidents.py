"""Incidents (事件发生) for a simulation: generated from rates by subclass, unit and hour,
or replayed from a recorded list in an ``.xlsx`` workbook.

An incident is a problem that appears at a place and a moment; whether and how it is
found is decided later (``discovery``). Places are drawn from a fixed pool of positions
per unit, located once with the platform's own point index, so every incident has the
grid, unit, street flag and areas the platform would give it.
"""

from __future__ import annotations

import io
import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import accumulate
from typing import Any

from openpyxl import Workbook, load_workbook

from chengyun.adapters.geo.index import TerritoryIndex
from chengyun.domain.cases import Channel
from chengyun.domain.errors import DomainError, InvalidInput, Problem
from chengyun.domain.taxonomy import CaseKind, Taxonomy
from chengyun.domain.territory import AreaKind, ManagementUnit, Territory
from chengyun.domain.working_time import CHINA_TZ, as_china_time
from chengyun.simulation.config import IncidentConfig

#: Positions drawn per unit and kind (street frontage or not) for the pool.
POOL_SIZE = 24
_MAX_TRIES = 4000

Position = tuple[float, float]


@dataclass(frozen=True)
class Spot:
    """A position in the territory as the platform locates it."""

    position: Position
    grid_code: str
    unit_code: str
    street: bool
    area_codes: tuple[str, ...]


@dataclass(frozen=True)
class Incident:
    """A problem that appears (发生) at ``minute`` after the simulation's start.

    ``channel``/``found_minute``/``reporter`` are set for a recorded incident whose
    discovery is known; otherwise the discovery model decides them."""

    id: int
    minute: float
    subclass: str
    spot: Spot
    hazard: bool = False
    channel: Channel | None = None
    found_minute: float | None = None
    reporter: str | None = None


class Places:
    """The pool of located positions per unit, street and not, and the sub-district's
    centre; deterministic for a territory."""

    def __init__(self, territory: Territory, index: TerritoryIndex | None = None) -> None:
        from shapely import prepare, unary_union
        from shapely.geometry import Point, shape

        self.territory = territory
        self.index = index or TerritoryIndex(territory)
        self.units = sorted(territory.units, key=lambda u: u.code)
        self.street: dict[str, list[Spot]] = {}
        self.inside: dict[str, list[Spot]] = {}
        streets = unary_union(
            [shape(a.geometry) for a in territory.areas if a.kind is AreaKind.STREET]
        )
        rng = random.Random(20200601)
        for unit in self.units:
            area = shape(unit.geometry)
            pools: dict[bool, list[Spot]] = {True: [], False: []}
            for street, region in ((True, area.intersection(streets)), (False, area - streets)):
                if region.is_empty:
                    continue
                prepare(region)
                x0, y0, x1, y1 = region.bounds
                for _ in range(_MAX_TRIES):
                    if len(pools[street]) >= POOL_SIZE:
                        break
                    x, y = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
                    if not region.contains(Point(x, y)):
                        continue
                    spot = self.spot((x, y))
                    if spot is not None and spot.unit_code == unit.code and spot.street is street:
                        pools[street].append(spot)
            if not pools[True] and not pools[False]:
                point = area.representative_point()
                spot = self.spot((round(point.x, 6), round(point.y, 6)))
                if spot is not None:
                    pools[spot.street].append(spot)
            self.street[unit.code] = pools[True]
            self.inside[unit.code] = pools[False] or pools[True]
        lngs = [s.position[0] for pool in self.inside.values() for s in pool]
        lats = [s.position[1] for pool in self.inside.values() for s in pool]
        self.centre: Position = (sum(lngs) / len(lngs), sum(lats) / len(lats)) if lngs else (0, 0)

    def spot(self, position: Position) -> Spot | None:
        try:
            location = self.index.locate(position[0], position[1])
        except DomainError:
            return None
        return Spot(
            position,
            location.grid.code,
            location.unit.code,
            location.on_street,
            tuple(a.code for a in location.areas),
        )

    def pick(self, unit_code: str, street: bool, rng: random.Random) -> Spot:
        pool = (self.street[unit_code] if street else self.inside[unit_code]) or (
            self.inside[unit_code]
        )
        return pool[rng.randrange(len(pool))]

    def home(self, grid_code: str | None, unit_code: str | None, spread: int = 0) -> Position:
        """Where a person posted to a unit, a grid's street frontage or the centre starts;
        ``spread`` spreads a grid's people over its units' street frontages."""
        if unit_code and self.inside.get(unit_code):
            pool = self.inside[unit_code]
            return pool[spread % len(pool)].position
        if grid_code:
            spots = [
                pool[0]
                for u in self.units
                if u.grid_code == grid_code
                for pool in [self.street[u.code] or self.inside[u.code]]
                if pool
            ]
            if spots:
                return spots[spread % len(spots)].position
        return self.centre


def distance_m(a: Position, b: Position) -> float:
    """Metres between two WGS-84 positions (equirectangular: exact enough in a district)."""
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (a[0] - b[0]) * 111_320.0 * math.cos(lat)
    dy = (a[1] - b[1]) * 110_540.0
    return math.hypot(dx, dy)


def _unit_weight(unit: ManagementUnit, weights: Mapping[str, float]) -> float:
    weight = weights.get(unit.code)
    if weight is not None:
        return weight
    factor = weights.get(unit.kind.value, 1.0)
    if unit.key:
        factor *= weights.get("key", 1.0)
    return factor


def check_subclasses(codes: Iterable[str], taxonomy: Taxonomy, where: str) -> None:
    unknown = sorted({c for c in codes if taxonomy.get(c) is None})
    if unknown:
        raise InvalidInput(
            f"未知的小类 / unknown subclasses in {where}",
            [
                Problem((where, c), f"{c} 不在分类中 / not in the taxonomy", "unknown")
                for c in unknown
            ],
        )


def generate(
    config: IncidentConfig,
    places: Places,
    taxonomy: Taxonomy,
    days: int,
    seed: int,
) -> list[Incident]:
    """Incidents over ``days`` days: a Poisson process whose rate for a subclass, unit and
    hour is ``per_day`` × the three normalised weights. Deterministic for ``seed``; the
    roster plays no part, so two rosters face the same incidents."""
    subclasses = sorted(c for c, w in config.subclass_weights.items() if w > 0)
    check_subclasses(subclasses, taxonomy, "incidents.subclass_weights")
    units = places.units
    if not subclasses or not units or config.per_day <= 0:
        return []
    sub_cum = list(accumulate(config.subclass_weights[c] for c in subclasses))
    unit_cum = list(accumulate(_unit_weight(u, config.unit_weights) for u in units))
    hours = config.hour_weights
    total_hours = sum(hours)
    rng = random.Random(seed)
    found: list[Incident] = []
    for day in range(days):
        for hour in range(24):
            rate = config.per_day * hours[hour] / total_hours / 60.0  # per minute
            if rate <= 0:
                continue
            t = rng.expovariate(rate)
            while t < 60.0:
                code = subclasses[bisect_right(sub_cum, rng.random() * sub_cum[-1])]
                unit = units[bisect_right(unit_cum, rng.random() * unit_cum[-1])]
                street = rng.random() < config.street_share
                spot = places.pick(unit.code, street, rng)
                rule = taxonomy.get(code)
                hazard = (
                    rule is not None
                    and rule.kind is CaseKind.COMPONENT
                    and rng.random() < config.hazard_share
                )
                minute = day * 1440.0 + hour * 60.0 + t
                found.append(Incident(len(found) + 1, minute, code, spot, hazard))
                t += rng.expovariate(rate)
    return found


# --- recorded incidents (.xlsx) -------------------------------------------------------------

#: The columns of a recorded list; a header cell matches if one of its words is an alias.
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "occurred_at": ("occurred_at", "发生时间", "time", "observed_at"),
    "subclass": ("subclass", "小类"),
    "unit_code": ("unit_code", "管理单元", "unit"),
    "lng": ("lng", "经度", "longitude"),
    "lat": ("lat", "纬度", "latitude"),
    "street": ("street", "街面"),
    "hazard": ("hazard", "隐患"),
    "channel": ("channel", "渠道", "发现渠道"),
    "found_at": ("found_at", "发现时间"),
    "reporter": ("reporter", "上报人"),
}
HEADERS = (
    "发生时间 occurred_at",
    "小类 subclass",
    "管理单元 unit_code",
    "经度 lng",
    "纬度 lat",
    "街面 street",
    "隐患 hazard",
    "渠道 channel",
    "发现时间 found_at",
    "上报人 reporter",
)
_TRUE = {"1", "true", "yes", "y", "是", "t"}


def _field_of(header: Any) -> str | None:
    words = str(header or "").replace("/", " ").replace("（", " ").replace("）", " ").split()
    for name, aliases in COLUMNS.items():
        if any(w.strip().casefold() in aliases for w in words):
            return name
    return None


def _moment(value: Any, where: tuple[str | int, ...], problems: list[Problem]) -> datetime | None:
    if value is None or value == "":
        return None
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            problems.append(
                Problem(where, f"须为时间 / a time like 2025-06-02 09:30, got {value!r}")
            )
            return None
    return moment.replace(tzinfo=CHINA_TZ) if moment.tzinfo is None else as_china_time(moment)


def _channel(value: Any, where: tuple[str | int, ...], problems: list[Problem]) -> Channel | None:
    text = str(value or "").strip()
    if not text:
        return None
    for channel in Channel:
        if text in (channel.value, channel.zh, channel.en) or text.casefold() == channel.value:
            return channel
    problems.append(
        Problem(where, "未知渠道 / unknown channel: " + ", ".join(c.value for c in Channel))
    )
    return None


def read_recorded(
    data: bytes, places: Places, taxonomy: Taxonomy, seed: int = 1
) -> tuple[date, list[Incident]]:
    """The incidents of a recorded list and the first day they cover.

    Each row needs a time and a subclass, and a unit code or a position (WGS-84) in the
    territory; a channel (and optionally the time it was found and the reporter) replays
    the discovery as recorded. Refuses the whole file, naming each row, on any problem."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise InvalidInput(
            "无法读取事件表 / cannot read the incidents as an .xlsx workbook",
            [Problem(("file",), f"{type(exc).__name__}: {exc}", "format")],
        ) from exc
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    fields = {i: f for i, cell in enumerate(header) if (f := _field_of(cell)) is not None}
    problems: list[Problem] = []
    missing = [f for f in ("occurred_at", "subclass") if f not in fields.values()]
    if missing:
        workbook.close()
        raise InvalidInput(
            "事件表缺少列 / the incidents sheet lacks columns",
            [Problem((sheet.title, 1), "缺少 / missing: " + ", ".join(missing), "header")],
        )
    units = {u.code for u in places.units}
    rng = random.Random(seed)
    raw: list[tuple[datetime, str, Spot, bool, Channel | None, datetime | None, str | None]] = []
    for number, values in enumerate(rows, start=2):
        row = {fields[i]: v for i, v in enumerate(values) if i in fields}
        if not any(v not in (None, "") for v in row.values()):
            continue
        here: list[Problem] = []
        at = _moment(row.get("occurred_at"), (sheet.title, number, "occurred_at"), here)
        if at is None and not here:
            here.append(Problem((sheet.title, number, "occurred_at"), "缺少时间 / time missing"))
        code = str(row.get("subclass") or "").strip().upper()
        if taxonomy.get(code) is None:
            here.append(
                Problem((sheet.title, number, "subclass"), f"未知小类 / unknown subclass {code!r}")
            )
        street = str(row.get("street") or "").strip().casefold() in _TRUE
        spot: Spot | None = None
        lng, lat = row.get("lng"), row.get("lat")
        unit_code = str(row.get("unit_code") or "").strip()
        if isinstance(lng, int | float) and isinstance(lat, int | float):
            spot = places.spot((float(lng), float(lat)))
            if spot is None:
                here.append(
                    Problem((sheet.title, number, "lng"), "位置不在辖区内 / outside the territory")
                )
        elif unit_code in units:
            spot = places.pick(unit_code, street, rng)
        else:
            here.append(
                Problem(
                    (sheet.title, number, "unit_code"),
                    f"须有管理单元编号或经纬度 / a known unit code or lng/lat, got {unit_code!r}",
                )
            )
        channel = _channel(row.get("channel"), (sheet.title, number, "channel"), here)
        found_at = _moment(row.get("found_at"), (sheet.title, number, "found_at"), here)
        reporter = str(row.get("reporter") or "").strip() or None
        hazard = str(row.get("hazard") or "").strip().casefold() in _TRUE
        problems.extend(here)
        if not here and at is not None and spot is not None:
            raw.append((at, code, spot, hazard, channel, found_at, reporter))
    workbook.close()
    if problems:
        raise InvalidInput(
            f"事件表有 {len(problems)} 处问题 / the incidents sheet has {len(problems)} problem(s)",
            problems[:200],
        )
    if not raw:
        raise InvalidInput(
            "事件表为空 / the incidents sheet has no rows",
            [Problem((sheet.title,), "at least one incident", "missing")],
        )
    raw.sort(key=lambda r: r[0])
    first = raw[0][0].date()
    origin = datetime.combine(first, time(0), CHINA_TZ)
    incidents = []
    for i, (at, code, spot, hazard, channel, found_at, reporter) in enumerate(raw, start=1):
        minute = (at - origin) / timedelta(minutes=1)
        found = None
        if channel is not None:
            found = max(minute, (found_at - origin) / timedelta(minutes=1)) if found_at else minute
        incidents.append(Incident(i, minute, code, spot, hazard, channel, found, reporter))
    return first, incidents


def write_recorded(incidents: Sequence[Incident], start: date) -> bytes:
    """A recorded list in the format ``read_recorded`` reads (no channel: the discovery
    is simulated again on replay)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("事件 Incidents")
    sheet.append(list(HEADERS))
    origin = datetime.combine(start, time(0))
    for incident in incidents:
        spot = incident.spot
        sheet.append(
            [
                origin + timedelta(minutes=round(incident.minute, 2)),
                incident.subclass,
                spot.unit_code,
                spot.position[0],
                spot.position[1],
                "是" if spot.street else "否",
                "是" if incident.hazard else "否",
                incident.channel.value if incident.channel else None,
                None,
                incident.reporter,
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
