"""What the Open311 intake speed-ups must not change: a new request is one transaction
holding its request record, its citizen and its audit record; a repeat is answered and
audited as before; api_keys remembered per process
still stop working when revoked, here at once and elsewhere within a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.case_repository import TAXONOMY
from chengyun.adapters.db.open311_repository import APPLICATIONS
from chengyun.adapters.db.read_cache import changed_here
from chengyun.adapters.db.tables_open311 import open311_requests
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.domain.errors import Forbidden, InvalidInput, NotFound
from chengyun.domain.taxonomy import Taxonomy
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.services import open311
from chengyun.services.taxonomy import replace_taxonomy
from tests.factories import CENTRE, statements_sent, write_commits

KEY = "demo-open311-key"
PATH = "/open311/v2/requests.json"
ACTION = "POST /open311/v2/requests.{format}"


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fields(**changes: str) -> dict[str, str]:
    return {
        "api_key": KEY,
        "service_code": "E0102",
        "lat": str(CENTRE[1]),
        "long": str(CENTRE[0]),
        "description": "人行道上有暴露垃圾 / exposed rubbish on the pavement",
        **changes,
    }


def _audit(platform: Platform) -> list[tuple[str, str, str, Any]]:
    with platform.engine.connect() as c:
        rows = c.execute(
            sa.select(
                t.audit_log.c.actor,
                t.audit_log.c.action,
                t.audit_log.c.target,
                t.audit_log.c.details,
            ).order_by(t.audit_log.c.id)
        ).all()
    return [(r.actor, r.action, r.target, r.details) for r in rows]


def _count(platform: Platform, table: sa.Table) -> int:
    with platform.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_new_request_is_one_transaction_with_its_citizen_and_audit_record(
    anonymous: TestClient, demo: Platform, rollbacks: list[str]
) -> None:
    warm = anonymous.post(PATH, data=_fields(), headers={"Idempotency-Key": "w-1"})
    assert warm.status_code == 201, warm.text  # the api_key is read (and touched) once
    before = len(_audit(demo))
    commits = write_commits(demo.engine)
    rollbacks.clear()
    made = anonymous.post(
        PATH,
        data=_fields(phone="13912345678", first_name="伟", last_name="张"),
        headers={"Idempotency-Key": "n-1"},
    )
    assert made.status_code == 201, made.text
    assert commits == ["commit"] and rollbacks == []
    assert _audit(demo)[before:] == [("anonymous", ACTION, PATH, {"status": 201})]
    number = made.json()[0]["service_request_id"]
    with demo.uow() as uow:
        stored = uow.cases.get_by_number(number)
        assert stored is not None
        citizen = uow.points.citizen(stored.extra["citizen_id"])
        assert uow.open311.token_of_case(stored.id) == made.json()[0]["token"]
    assert citizen is not None and citizen.nickname == "张伟"


def test_a_repeat_is_answered_and_audited_as_before(anonymous: TestClient, demo: Platform) -> None:
    headers = {"Idempotency-Key": "repeat-1"}
    first = anonymous.post(PATH, data=_fields(), headers=headers)
    assert first.status_code == 201, first.text
    before = len(_audit(demo))
    again = anonymous.post(PATH, data=_fields(), headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = anonymous.post(PATH, data=_fields(description="另一件事 / other"), headers=headers)
    assert other.status_code == 409 and other.json()[0]["code"] == 409
    assert _audit(demo)[before:] == [("anonymous", ACTION, PATH, {"status": 200})]
    assert _count(demo, open311_requests) == 1 and _count(demo, t.cases) == 1


def _revision(platform: Platform) -> int:
    with platform.uow() as uow:
        return uow.open311.revision()


def test_an_api_key_is_read_once_and_another_process_revoking_it_is_seen_within_a_second(
    demo: Platform,
) -> None:
    raw, _ = open311.register_application(demo.uow(), demo.clock, "缓存测试")
    ticks = Ticks()
    elsewhere = 0  # changes this "process" made itself: none, the revocation is another's
    cache = open311.ApplicationCache(lambda: _revision(demo), lambda: elsewhere, monotonic=ticks)
    first = cache.application(demo.uow(), demo.clock, raw)
    assert first.name == "缓存测试"
    ticks.now += 0.5
    with statements_sent(demo.engine) as seen:
        assert cache.application(demo.uow(), demo.clock, raw) is first
    assert seen == []  # no statement at all: served from the cache

    with demo.uow() as uow:  # another process revokes the key
        uow.open311.revoke(first.id, demo.clock.now())
        uow.commit()
    ticks.now += 0.4  # within the period the revision is not read again
    assert cache.application(demo.uow(), demo.clock, raw) is first
    ticks.now += 0.6
    for _ in range(2):  # refused, and never remembered
        with pytest.raises(Forbidden) as refused:
            cache.application(demo.uow(), demo.clock, raw)
        assert refused.value.problems[0].location == ("api_key",)


def test_a_key_revoked_in_this_process_is_refused_at_once(demo: Platform) -> None:
    raw, _ = open311.register_application(demo.uow(), demo.clock, "本进程吊销")
    cache = open311.ApplicationCache(
        lambda: _revision(demo), lambda: changed_here(APPLICATIONS), monotonic=Ticks()
    )
    assert cache.application(demo.uow(), demo.clock, raw).name == "本进程吊销"
    open311.revoke_application(demo.uow(), demo.clock, "本进程吊销")
    # the same tick: the counter is not read again, yet this process's change is seen
    with pytest.raises(Forbidden):
        cache.application(demo.uow(), demo.clock, raw)
    for missing in (None, "  "):
        with pytest.raises(Forbidden, match="api_key"):
            cache.application(demo.uow(), demo.clock, missing)


def _taxonomy_revision(platform: Platform) -> int:
    with platform.uow() as uow:
        return uow.taxonomy.revision()


def _submit(
    demo: Platform, raw: str, cache: open311.ServiceCache, code: str = "E0102"
) -> open311.Submitted:
    submission = open311.Submission(
        api_key=raw,
        service_code=code,
        lat=str(CENTRE[1]),
        long=str(CENTRE[0]),
        description="目录缓存 / the services cached",
    )
    return open311.submit_request(demo.uow(), demo.cases, submission, services=cache)


def test_the_services_are_read_once_and_another_process_changing_them_is_seen_within_a_second(
    demo: Platform,
) -> None:
    raw, _ = open311.register_application(demo.uow(), demo.clock, "目录缓存")
    ticks = Ticks()
    elsewhere = 0  # changes this "process" made itself: none, the change is another's
    cache = open311.ServiceCache(
        lambda: _taxonomy_revision(demo), lambda: elsewhere, monotonic=ticks
    )
    first = cache.taxonomy(demo.uow(), demo.cases)
    assert first.get("E0102") is not None
    ticks.now += 0.5
    with statements_sent(demo.engine) as seen:
        assert cache.taxonomy(demo.uow(), demo.cases) is first
    assert seen == []  # no statement at all: served from the cache
    assert _submit(demo, raw, cache, "E0504").service_request_id

    # another process takes E0102 (no case uses it) out of the taxonomy
    smaller = Taxonomy(tuple(s for s in first if s.code != "E0102"))
    replace_taxonomy(demo.uow(), smaller, default=demo.cases.default_taxonomy)
    ticks.now += 0.4  # within the period: the first check passes, the case's refuses
    assert cache.taxonomy(demo.uow(), demo.cases) is first
    with pytest.raises(InvalidInput, match="subclass"):
        _submit(demo, raw, cache)
    ticks.now += 0.6  # the counter read again: refused at the first check
    with pytest.raises(NotFound, match="E0102"):
        _submit(demo, raw, cache)


def test_the_services_changed_in_this_process_are_seen_at_once(demo: Platform) -> None:
    raw, _ = open311.register_application(demo.uow(), demo.clock, "本进程改目录")
    cache = open311.ServiceCache(
        lambda: _taxonomy_revision(demo), lambda: changed_here(TAXONOMY), monotonic=Ticks()
    )
    first = cache.taxonomy(demo.uow(), demo.cases)
    smaller = Taxonomy(tuple(s for s in first if s.code != "E0102"))
    replace_taxonomy(demo.uow(), smaller, default=demo.cases.default_taxonomy)
    # the same tick: the counter is not read again, yet this process's change is seen
    with pytest.raises(NotFound, match="E0102"):
        _submit(demo, raw, cache)


def test_with_the_territory_in_memory_a_request_is_checked_and_answered_the_same(
    demo: Platform, db: sa.Engine, clock: DrivenClock, tmp_path: Path
) -> None:
    """The route checks a request on its event loop while the territory is fresh in
    memory (the tests' platform checks it on every request, so in a thread)."""
    settings = Settings(
        mode="test",
        data_dir=tmp_path,
        database_url=db.url.render_as_string(hide_password=False),
        territory_refresh_seconds=60,
    )
    kept = Platform(settings, clock=clock, engine_override=db)
    with TestClient(create_app(platform=kept), raise_server_exceptions=False) as anonymous:
        warm = anonymous.post(PATH, data=_fields(), headers={"Idempotency-Key": "f-0"})
        assert warm.status_code == 201, warm.text
        assert kept.territory_index.fresh()
        headers = {"Idempotency-Key": "f-1"}
        first = anonymous.post(PATH, data=_fields(), headers=headers)
        again = anonymous.post(PATH, data=_fields(), headers=headers)
        other = anonymous.post(PATH, data=_fields(description="另一件事 / other"), headers=headers)
        outside = anonymous.post(PATH, data=_fields(lat="31.0", long="120.0"))
    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json() == first.json()
    assert other.status_code == 409
    assert outside.status_code == 400 and outside.json()[0]["description"]
    assert _count(kept, open311_requests) == 2 and _count(kept, t.cases) == 2
