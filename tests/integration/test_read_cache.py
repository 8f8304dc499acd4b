"""The per-process cache of the roster, the taxonomy and the phone salt sees every change,
including changes made by another process, and never keeps what a rolled-back transaction
read."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from chengyun.adapters.db.account_repository import ACCOUNTS
from chengyun.adapters.db.read_cache import changed_here
from chengyun.domain.forces import Assignment, Person, Post, Shift, TeamType
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import TokenCache
from chengyun.services.forces import register_person
from tests.factories import patrol_member, report, statements_sent, submit


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


def test_case_and_list_pages_read_the_counters_along_and_see_other_processes_changes(
    client: TestClient, demo: Platform
) -> None:
    def accounts_revision() -> int:
        with demo.uow(reading=True) as uow:
            return uow.accounts.revision()

    # the bearer tokens' cache reads the counters alone once a second of real time, which
    # a slow machine can let pass between the statements counted below: here it reads
    # them once, before
    client.app.state.TokenCache = TokenCache(  # type: ignore[attr-defined]
        accounts_revision, lambda: changed_here(ACCOUNTS), check_seconds=float("inf")
    )
    case = submit(client, report(reporter=patrol_member(client))).json()
    with statements_sent(demo.engine) as statements:
        assert client.get(f"/api/v1/cases/{case['id']}").status_code == 200
        assert client.get("/api/v1/cases", params={"open": "true"}).json()["total"] == 1
        # "another process" renames the case's assignee
        other = Platform(demo.settings, clock=demo.clock, engine_override=demo.engine)
        with other.uow() as uow:
            person = uow.forces.get(case["assignee"]["number"])
            assignments = uow.forces.assignments_of(person.number)
        renamed = replace(person, name="改名后")
        register_person(other.uow(), renamed, assignments, replace=True)
        statements.clear()
        detail = client.get(f"/api/v1/cases/{case['id']}").json()
        listed = client.get("/api/v1/cases", params={"open": "true"}).json()["items"][0]
    assert detail["assignee"]["name"] == listed["assignee"]["name"] == "改名后"
    counters_alone = [s for s in statements if s.lstrip().startswith("SELECT revisions.name")]
    if demo.engine.dialect.name == "postgresql":  # the page's and the count's statements
        assert counters_alone == []
    else:  # SQLite: the page is read in several statements, the counters alone among them
        assert len(counters_alone) == 1


def test_the_phone_salt_is_read_once_and_never_kept_from_an_undone_transaction(
    platform: Platform,
) -> None:
    now = platform.clock.now()
    with platform.uow() as uow:  # stores a salt, then is undone
        undone = uow.points.phone_salt("a" * 64, now)
        assert uow.points.phone_salt("b" * 64, now) == undone  # its own, while it lasts
        uow.rollback()
    with platform.uow() as uow:
        salt = uow.points.phone_salt("c" * 64, now)
        uow.commit()
    assert salt == "c" * 64  # the undone salt was neither stored nor remembered

    with statements_sent(platform.engine) as sent:
        for _ in range(3):
            with platform.uow() as uow:
                assert uow.points.phone_salt("d" * 64, now) == salt
                uow.commit()
        read = [s for s in sent if "settings_store" in s]
        assert len(read) == 1  # once, then from the process's cache
        other = Platform(platform.settings, clock=platform.clock, engine_override=platform.engine)
        with other.uow() as uow:  # "another process" reads the same salt
            assert uow.points.phone_salt("e" * 64, now) == salt
