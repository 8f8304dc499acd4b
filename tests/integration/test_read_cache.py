"""The per-process cache of the roster and the taxonomy sees every change, including
changes made by another process, and never keeps what a rolled-back transaction read."""

from __future__ import annotations

from chengyun.domain.forces import Assignment, Person, Post, Shift, TeamType
from chengyun.entrypoints.platform import Platform
from chengyun.services.forces import register_person


def test_another_process_changes_are_seen(demo: Platform) -> None:
    other = Platform(demo.settings, clock=demo.clock, engine_override=demo.engine)
    with demo.uow() as uow:
        before = uow.forces.roster()
    with demo.uow() as uow:
        assert uow.forces.roster() is before  # served from the cache
    person = Person("YPT-CACHE", "缓存", "13900009999", Post.PATROL, team=TeamType.PROPERTY)
    unit = next(a.unit_code for a in before.assignments if a.unit_code)
    register_person(
        other.uow(), person, [Assignment("YPT-CACHE", Shift.DAY, None, unit)]
    )  # "another process"
    with demo.uow() as uow:
        after = uow.forces.roster()
    assert after is not before and after.person("YPT-CACHE") == person


def test_a_rolled_back_change_is_not_cached(demo: Platform) -> None:
    with demo.uow() as uow:
        uow.forces.delete_person(uow.forces.roster().people[0].number)
        assert len(uow.forces.roster().people) == 271  # this transaction sees its change
        uow.rollback()
    with demo.uow() as uow:
        assert len(uow.forces.roster().people) == 272
