"""Patrol coverage over HTTP: phones post the positions they buffered; the centre reads a
day's coverage as JSON, or as GeoJSON for the map. Thin: parse, call one service, render."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from chengyun.adapters.calendar import warn_if_unknown
from chengyun.adapters.db.positions import SqlPositionStore
from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.geo.geojson import feature_collection, unit_feature
from chengyun.adapters.geo.index import check_position
from chengyun.domain.access import Permission, Principal, mask_name
from chengyun.domain.coverage import MAX_BATCH, Track
from chengyun.domain.territory import Location
from chengyun.domain.working_time import as_china_time
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.platform import Platform
from chengyun.services.coverage import (
    PatrolCoverage,
    ReportedPosition,
    patrol_coverage,
    report_positions,
)

router = APIRouter(prefix="/patrol", tags=["patrol 巡查"])
Reporter = Annotated[Principal | None, Depends(requires(Permission.POSITIONS_REPORT))]
DutyReader = Annotated[Principal | None, Depends(requires(Permission.DUTY_READ))]
GEOJSON = "application/geo+json"

DateQuery = Annotated[
    date | None,
    Query(alias="date", description="the day, China time (2020-06-24); default today"),
]
GridQuery = Annotated[
    str | None, Query(max_length=15, description="only this grid's units and places")
]


class _PlatformPositioning:
    """The service's ``Positioning`` on the process's location index."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def to_wgs84(self, lng: float, lat: float, crs: str) -> tuple[float, float]:
        check_position(lng, lat)
        return to_wgs84(lng, lat, Crs(crs))

    def locate(self, lng: float, lat: float) -> Location:
        return self.platform.locate(lng, lat)


# --- posting positions --------------------------------------------------------------------------


class PositionIn(BaseModel):
    lng: float = Field(allow_inf_nan=False, description="经度 longitude")
    lat: float = Field(allow_inf_nan=False, description="纬度 latitude")
    crs: Crs = Field(Crs.WGS84, description="wgs84, gcj02 (phones in China) or bd09")
    at: datetime = Field(description="when the phone took it, with offset")
    accuracy_m: float | None = Field(
        None, ge=0, le=100_000, allow_inf_nan=False, description="the phone's accuracy, metres"
    )


class PositionsIn(BaseModel):
    positions: list[PositionIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"at most {MAX_BATCH} a batch"
    )


class PositionsOut(BaseModel):
    person: str
    received: int
    stored: int = Field(description="new positions stored")
    duplicates: int = Field(description="already stored (a re-sent batch) or repeated")
    outside: int = Field(description="outside the sub-district (stored without a unit)")


@router.post(
    "/positions",
    response_model=PositionsOut,
    summary="上报巡查定位 / Post a batch of patrol positions",
)
def post_positions(platform: PlatformDep, principal: Reporter, body: PositionsIn) -> PositionsOut:
    who = signed_in(principal)
    receipt = report_positions(
        SqlPositionStore(platform.engine),
        _PlatformPositioning(platform),
        platform.clock.now(),
        who.person_number,
        [ReportedPosition(p.lng, p.lat, p.at, p.crs.value, p.accuracy_m) for p in body.positions],
    )
    return PositionsOut(
        person=receipt.person,
        received=receipt.received,
        stored=receipt.stored,
        duplicates=receipt.duplicates,
        outside=receipt.outside,
    )


# --- reading coverage ---------------------------------------------------------------------------


def _minutes(span: timedelta) -> float:
    return round(span.total_seconds() / 60, 1)


def _at(moment: datetime | None) -> datetime | None:
    return as_china_time(moment) if moment is not None else None


class PersonRef(BaseModel):
    number: str
    name: str | None


class UnitPersonOut(PersonRef):
    minutes: float
    first_seen: datetime
    last_seen: datetime
    positions: int
    visits: int


class UnitOut(BaseModel):
    code: str
    name: str
    grid_code: str
    key: bool
    visited: bool
    minutes: float = Field(description="how long someone was there (overlaps once)")
    person_minutes: float = Field(description="everyone's time added up")
    positions: int
    first_seen: datetime | None
    last_seen: datetime | None
    people: list[UnitPersonOut]


class UnitRef(BaseModel):
    code: str
    name: str
    grid_code: str
    key: bool


class PersonDayOut(PersonRef):
    positions: int
    outside: int = Field(description="positions outside the sub-district")
    minutes: float
    units: list[str]
    first_seen: datetime
    last_seen: datetime


class ExpectedOut(PersonRef):
    present: bool = Field(description="reported a position during the shift")
    seen_here: bool = Field(description="reported one inside this place during the shift")


class PlaceOut(BaseModel):
    grid_code: str
    unit_code: str | None = Field(description="null: the grid's street frontage")
    name: str
    expected: int
    present: int
    people: list[ExpectedOut]


class WindowOut(BaseModel):
    start: datetime
    end: datetime


class ShiftOut(BaseModel):
    shift: str
    shift_label: str
    state: str
    state_label: str
    windows: list[WindowOut]
    expected: int
    present: int
    absent: list[PersonRef]
    unexpected: list[PersonRef] = Field(
        description="reported positions during the shift without being on its table here"
    )
    places: list[PlaceOut]


class SummaryOut(BaseModel):
    units: int
    visited: int
    not_visited: int
    people: int
    positions: int
    outside: int


class CoverageOut(BaseModel):
    date: date
    grid: str | None
    gap_minutes: float = Field(description="positions this far apart end a visit")
    summary: SummaryOut
    units: list[UnitOut]
    not_visited: list[UnitRef]
    people: list[PersonDayOut]
    attendance: list[ShiftOut]


class _Names:
    """People's names (masked without the contacts permission) and places' names."""

    def __init__(self, found: PatrolCoverage, contacts: bool) -> None:
        self.people = {p.number: p.name for p in found.roster.people}
        self.units = {u.code: u for u in found.territory.units}
        self.grids = {g.code: g.name for g in found.territory.grids}
        self.contacts = contacts

    def person(self, number: str) -> str | None:
        name = self.people.get(number)
        if name is None or self.contacts:
            return name
        return mask_name(name)

    def ref(self, number: str) -> PersonRef:
        return PersonRef(number=number, name=self.person(number))

    def unit(self, code: str) -> UnitRef:
        u = self.units[code]
        return UnitRef(code=u.code, name=u.name, grid_code=u.grid_code, key=u.key)


def _coverage(
    platform: Platform, principal: Principal | None, day: date | None, grid: str | None
) -> tuple[PatrolCoverage, _Names]:
    now = platform.clock.now()
    wanted = day or as_china_time(now).date()
    found = patrol_coverage(
        platform.uow(reading=True),
        SqlPositionStore(platform.engine),
        platform.calendar,
        now,
        wanted,
        grid.strip() if grid and grid.strip() else None,
    )
    warn_if_unknown(platform.calendar, wanted)
    return found, _Names(found, signed_in(principal).may(Permission.CONTACTS))


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="巡查覆盖 / Who patrolled which unit, units not visited, attendance per shift",
)
def get_coverage(
    platform: PlatformDep, principal: DutyReader, day: DateQuery = None, grid: GridQuery = None
) -> CoverageOut:
    found, names = _coverage(platform, principal, day, grid)
    c = found.coverage
    units = [
        UnitOut(
            **names.unit(u.unit_code).model_dump(),
            visited=u.visited,
            minutes=_minutes(u.covered),
            person_minutes=_minutes(u.person_time),
            positions=u.positions,
            first_seen=_at(u.first_seen),
            last_seen=_at(u.last_seen),
            people=[
                UnitPersonOut(
                    **names.ref(p.person).model_dump(),
                    minutes=_minutes(p.time_spent),
                    first_seen=as_china_time(p.first_seen),
                    last_seen=as_china_time(p.last_seen),
                    positions=p.positions,
                    visits=p.visits,
                )
                for p in u.people
            ],
        )
        for u in c.units
    ]
    attendance = []
    for s in c.attendance:
        places = []
        for place in s.places:
            where = (
                names.units[place.unit_code].name
                if place.unit_code
                else f"{names.grids.get(place.grid_code, place.grid_code)} 街面 street frontage"
            )
            places.append(
                PlaceOut(
                    grid_code=place.grid_code,
                    unit_code=place.unit_code,
                    name=where,
                    expected=len(place.expected),
                    present=len(place.present),
                    people=[
                        ExpectedOut(
                            **names.ref(n).model_dump(),
                            present=n in place.present,
                            seen_here=n in place.seen_here,
                        )
                        for n in place.expected
                    ],
                )
            )
        attendance.append(
            ShiftOut(
                shift=s.shift.value,
                shift_label=s.shift.label,
                state=s.state.value,
                state_label=s.state.label,
                windows=[
                    WindowOut(start=as_china_time(w.start), end=as_china_time(w.end))
                    for w in s.windows
                ],
                expected=len(s.expected),
                present=len(s.present),
                absent=[names.ref(n) for n in s.absent],
                unexpected=[names.ref(n) for n in s.unexpected],
                places=places,
            )
        )
    return CoverageOut(
        date=c.day,
        grid=c.grid_code,
        gap_minutes=_minutes(c.gap),
        summary=SummaryOut(
            units=len(c.units),
            visited=sum(1 for u in c.units if u.visited),
            not_visited=len(c.not_visited),
            people=len(c.people),
            positions=c.positions,
            outside=c.outside,
        ),
        units=units,
        not_visited=[names.unit(code) for code in c.not_visited],
        people=[
            PersonDayOut(
                **names.ref(p.person).model_dump(),
                positions=p.positions,
                outside=p.outside,
                minutes=_minutes(p.time_spent),
                units=list(p.units),
                first_seen=as_china_time(p.first_seen),
                last_seen=as_china_time(p.last_seen),
            )
            for p in c.people
        ],
        attendance=attendance,
    )


def _track_feature(track: Track, names: _Names) -> dict[str, Any]:
    points = [[p.lng, p.lat] for p in track.points]
    geometry: dict[str, Any] = (
        {"type": "LineString", "coordinates": points}
        if len(points) > 1
        else {"type": "Point", "coordinates": points[0]}
    )
    return {
        "type": "Feature",
        "properties": {
            "layer": "track",
            "person": track.person,
            "name": names.person(track.person),
            "positions": len(points),
            "first_seen": as_china_time(track.points[0].at).isoformat(),
            "last_seen": as_china_time(track.points[-1].at).isoformat(),
            "times": [as_china_time(p.at).isoformat() for p in track.points],
            "units": [p.unit_code for p in track.points],
        },
        "geometry": geometry,
    }


@router.get(
    "/coverage.geojson",
    summary="巡查覆盖地图 / Units with their coverage and each person's track (GeoJSON)",
    response_class=JSONResponse,
)
def get_coverage_geojson(
    platform: PlatformDep, principal: DutyReader, day: DateQuery = None, grid: GridQuery = None
) -> JSONResponse:
    found, names = _coverage(platform, principal, day, grid)
    c = found.coverage
    features: list[dict[str, Any]] = []
    for u in c.units:
        feature = unit_feature(names.units[u.unit_code])
        feature["properties"].update(
            visited=u.visited,
            minutes=_minutes(u.covered),
            people=len(u.people),
            numbers=[p.person for p in u.people],
        )
        features.append(feature)
    features += [_track_feature(t, names) for t in c.tracks]
    body = feature_collection(features)
    body["chengyun"] = {"date": c.day.isoformat(), "grid": c.grid_code}
    return JSONResponse(body, media_type=GEOJSON)
