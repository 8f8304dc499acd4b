"""Repositories: the only place that writes SQL, translating rows to domain values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.read_cache import ReadCache, bump
from chengyun.domain.forces import Assignment, Department, Person, Post, Roster, Shift, TeamType
from chengyun.domain.territory import (
    Area,
    AreaKind,
    ManagementUnit,
    ResponsibilityGrid,
    SubDistrict,
    Territory,
    UnitKind,
)


class SqlTerritoryRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def revision(self) -> int:
        value = self.connection.execute(sa.select(t.territory_meta.c.revision)).scalar()
        return int(value or 0)

    def get(self) -> Territory | None:
        meta = self.connection.execute(sa.select(t.territory_meta)).mappings().first()
        if meta is None:
            return None
        grids = tuple(
            ResponsibilityGrid(
                code=r.code,
                name=r.name,
                name_en=r.name_en,
                live_from=r.live_from,
                geometry=r.geometry,
            )
            for r in self.connection.execute(sa.select(t.grids).order_by(t.grids.c.code))
        )
        units = tuple(
            ManagementUnit(
                code=r.code,
                name=r.name,
                name_en=r.name_en,
                grid_code=r.grid_code,
                kind=UnitKind(r.kind),
                key=bool(r.key),
                geometry=r.geometry,
            )
            for r in self.connection.execute(sa.select(t.units).order_by(t.units.c.code))
        )
        areas = tuple(
            Area(
                code=r.code,
                name=r.name,
                name_en=r.name_en,
                kind=AreaKind(r.kind),
                geometry=r.geometry,
            )
            for r in self.connection.execute(sa.select(t.areas).order_by(t.areas.c.code))
        )
        return Territory(
            sub_district=SubDistrict(meta["code"], meta["name"], meta["name_en"]),
            grids=grids,
            units=units,
            areas=areas,
            illustrative=bool(meta["illustrative"]),
            note=meta["note"],
        )

    def replace(self, territory: Territory) -> int:
        c = self.connection
        revision = self.revision() + 1
        # Assignments keep their codes; rows pointing at removed codes were refused earlier.
        c.execute(t.units.delete().where(~t.units.c.code.in_([u.code for u in territory.units])))
        c.execute(t.grids.delete().where(~t.grids.c.code.in_([g.code for g in territory.grids])))
        c.execute(t.areas.delete())
        _upsert(
            c,
            t.grids,
            "code",
            [
                {
                    "code": g.code,
                    "name": g.name,
                    "name_en": g.name_en,
                    "live_from": g.live_from,
                    "geometry": dict(g.geometry),
                }
                for g in territory.grids
            ],
        )
        _upsert(
            c,
            t.units,
            "code",
            [
                {
                    "code": u.code,
                    "grid_code": u.grid_code,
                    "name": u.name,
                    "name_en": u.name_en,
                    "kind": u.kind.value,
                    "key": u.key,
                    "geometry": dict(u.geometry),
                }
                for u in territory.units
            ],
        )
        if territory.areas:
            c.execute(
                t.areas.insert(),
                [
                    {
                        "code": a.code,
                        "name": a.name,
                        "name_en": a.name_en,
                        "kind": a.kind.value,
                        "geometry": dict(a.geometry),
                    }
                    for a in territory.areas
                ],
            )
        c.execute(t.territory_meta.delete())
        sd = territory.sub_district
        c.execute(
            t.territory_meta.insert().values(
                id=1,
                code=sd.code,
                name=sd.name,
                name_en=sd.name_en,
                illustrative=territory.illustrative,
                note=territory.note,
                revision=revision,
                updated_at=datetime.now(UTC),
            )
        )
        return revision


def _upsert(c: Connection, table: sa.Table, key: str, rows: list[dict[str, Any]]) -> None:
    """Update the rows that exist, insert the others (portable across SQLite and PostgreSQL)."""
    if not rows:
        return
    existing = set(c.execute(sa.select(table.c[key])).scalars())
    updates = [r for r in rows if r[key] in existing]
    inserts = [r for r in rows if r[key] not in existing]
    if inserts:
        c.execute(table.insert(), inserts)
    if updates:
        params = [{**r, "_key": r[key]} for r in updates]
        values: dict[str, Any] = {col: sa.bindparam(col) for col in updates[0] if col != key}
        c.execute(table.update().where(table.c[key] == sa.bindparam("_key")).values(values), params)


def _person(row: Any) -> Person:
    return Person(
        number=row.number,
        name=row.name,
        phone=row.phone,
        post=Post(row.post),
        team=TeamType(row.team) if row.team else None,
        department=Department(row.department) if row.department else None,
    )


def _assignment(row: Any) -> Assignment:
    return Assignment(
        number=row.number,
        shift=Shift(row.shift),
        grid_code=row.grid_code,
        unit_code=row.unit_code,
        note=row.note,
    )


def _person_row(p: Person) -> dict[str, Any]:
    return {
        "number": p.number,
        "name": p.name,
        "phone": p.phone,
        "post": p.post.value,
        "team": p.team.value if p.team else None,
        "department": p.department.value if p.department else None,
    }


def _assignment_row(a: Assignment) -> dict[str, Any]:
    return {
        "number": a.number,
        "shift": a.shift.value,
        "grid_code": a.grid_code,
        "unit_code": a.unit_code,
        "note": a.note,
    }


class SqlForcesRepository:
    def __init__(self, connection: Connection, cache: ReadCache | None = None) -> None:
        self.connection = connection
        self.cache = cache
        self.written = False

    def _changed(self) -> None:
        self.written = True
        bump(self.connection, "forces")

    def roster(self) -> Roster:
        if self.cache is None or self.written:  # never cache what this transaction changed
            return self._load_roster()
        return self.cache.get(self.connection, "forces", self._load_roster)

    def _load_roster(self) -> Roster:
        people = tuple(
            _person(r)
            for r in self.connection.execute(sa.select(t.people).order_by(t.people.c.number))
        )
        assignments = tuple(
            _assignment(r)
            for r in self.connection.execute(sa.select(t.assignments).order_by(t.assignments.c.id))
        )
        return Roster(people, assignments)

    def get(self, number: str) -> Person | None:
        if self.cache is not None and not self.written:
            return self.roster().person(number)  # the cached roster: no statement
        row = self.connection.execute(
            sa.select(t.people).where(t.people.c.number == number)
        ).first()
        return _person(row) if row else None

    def assignments_of(self, number: str) -> list[Assignment]:
        rows = self.connection.execute(
            sa.select(t.assignments)
            .where(t.assignments.c.number == number)
            .order_by(t.assignments.c.id)
        )
        return [_assignment(r) for r in rows]

    def save_person(self, person: Person, assignments: Sequence[Assignment]) -> None:
        self._changed()
        _upsert(self.connection, t.people, "number", [_person_row(person)])
        self.connection.execute(
            t.assignments.delete().where(t.assignments.c.number == person.number)
        )
        if assignments:
            self.connection.execute(
                t.assignments.insert(), [_assignment_row(a) for a in assignments]
            )

    def delete_person(self, number: str) -> bool:
        self._changed()
        self.connection.execute(t.assignments.delete().where(t.assignments.c.number == number))
        result = self.connection.execute(t.people.delete().where(t.people.c.number == number))
        return bool(result.rowcount)

    def replace(self, roster: Roster, shifts: Sequence[Shift]) -> None:
        c = self.connection
        self._changed()
        _upsert(c, t.people, "number", [_person_row(p) for p in roster.people])
        c.execute(
            t.assignments.delete().where(t.assignments.c.shift.in_([s.value for s in shifts]))
        )
        rows = [_assignment_row(a) for a in roster.assignments if a.shift in shifts]
        if rows:
            c.execute(t.assignments.insert(), rows)
        # People left without any assignment and absent from the new tables are removed.
        keep = {p.number for p in roster.people}
        orphans = sa.select(t.people.c.number).where(
            ~t.people.c.number.in_(sa.select(t.assignments.c.number).distinct())
        )
        gone = [n for n in c.execute(orphans).scalars() if n not in keep]
        if gone:
            c.execute(t.people.delete().where(t.people.c.number.in_(gone)))

    def count_assignments_outside(self, grid_codes: set[str], unit_codes: set[str]) -> int:
        a = t.assignments
        query = (
            sa.select(sa.func.count())
            .select_from(a)
            .where(
                sa.or_(
                    sa.and_(a.c.grid_code.is_not(None), a.c.grid_code.not_in(grid_codes)),
                    sa.and_(a.c.unit_code.is_not(None), a.c.unit_code.not_in(unit_codes)),
                )
            )
        )
        return int(self.connection.execute(query).scalar() or 0)
