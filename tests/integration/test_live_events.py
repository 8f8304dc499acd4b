"""Live case changes: published as a transaction commits, never when it rolls back; heard
by every server process on PostgreSQL (LISTEN/NOTIFY), in-process on SQLite; streamed to
the command centre as server-sent events, each reader hearing only their scope's cases."""

from __future__ import annotations

import asyncio
import http.client
import json
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy.engine import Engine

from chengyun.adapters.db.engine import make_engine
from chengyun.adapters.events import (
    CHANNEL,
    CaseChange,
    InProcessBus,
    PostgresBus,
    bus_for,
    notify,
)
from chengyun.config import Settings
from chengyun.domain.access import Principal, Role, ScopeKind
from chengyun.domain.cases import Action
from chengyun.domain.territory import Territory
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web.live import QUEUE_SIZE, audible, frame, stream
from chengyun.services.cases import act
from tests.e2e.test_command_page import server
from tests.factories import G1, OPERATOR, do, patrol_member, report, submit

#: The app on a real port, shared with the command centre's browser test.
SHARED_FIXTURES = (server,)
WAIT = 2.0  # seconds: the promise for a report to reach the command centre


class Heard:
    """What a listener heard, in order; ``next()`` waits for the next change."""

    def __init__(self) -> None:
        self.changes: queue.Queue[CaseChange] = queue.Queue()
        self.arrived = threading.Event()

    def __call__(self, change: CaseChange) -> None:
        self.changes.put(change)
        self.arrived.set()

    def next(self, timeout: float = WAIT) -> CaseChange:
        try:
            return self.changes.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no case change within {timeout} s") from None


@pytest.fixture
def listening(demo: Platform) -> Iterator[Heard]:
    """A listener on the platform's own bus (LISTEN on PostgreSQL, in-process on SQLite)."""
    heard = Heard()
    subscription = bus_for(demo.engine.url).subscribe(heard)
    assert subscription.wait_ready(5), "the bus did not start listening"
    yield heard
    subscription.close()


def test_the_bus_follows_the_database(engine: Engine) -> None:
    bus = bus_for(engine.url)
    if engine.dialect.name == "postgresql":
        assert isinstance(bus, PostgresBus)
    else:
        assert isinstance(bus, InProcessBus)
    assert bus_for(engine.url) is bus  # one per process and database


def test_a_report_and_each_action_are_heard_as_they_commit(
    demo: Platform, client: TestClient, listening: Heard
) -> None:
    member = patrol_member(client)
    case = submit(client, report(reporter=member)).json()
    heard = listening.next()
    assert (heard.case_id, heard.number, heard.status) == (case["id"], case["number"], "dispatched")
    assert heard.kind == "dispatch"  # registered and dispatched in the same transaction
    assert heard.grid == G1 and heard.reporter == member
    assert heard.assignee == case["assignee"]["number"]
    assert do(client, case["id"], "accept", case["assignee"]["number"]).status_code == 200
    accepted = listening.next()
    assert (accepted.case_id, accepted.kind, accepted.status) == (case["id"], "accept", "accepted")
    assert accepted.version > heard.version


def test_several_changes_of_one_commit_are_heard_each_as_sent(
    demo: Platform, listening: Heard
) -> None:
    odd = 'say "城运" \\ back\\slash, tab\t, {braces} [and] \\u0041'
    changes = [
        CaseChange(i, "dispatch", f"N{i}", "dispatched", i, G1, reporter=odd, handlers=(odd,))
        for i in range(1, 4)
    ]
    with demo.engine.begin() as connection:
        notify(connection, changes)
    assert [listening.next() for _ in changes] == changes


def test_nothing_is_heard_of_a_change_that_rolled_back(
    demo: Platform, client: TestClient, listening: Heard
) -> None:
    member = patrol_member(client)
    case = submit(client, report(reporter=member)).json()
    listening.next()
    assignee = case["assignee"]["number"]
    # the transaction saves, then fails before committing: the database and the bus agree
    with pytest.raises(RuntimeError), demo.uow() as uow:
        record = uow.cases.get(case["id"])
        assert record is not None
        uow.cases.save(record, record.case.version)
        raise RuntimeError("fails after the save")
    refused = do(client, case["id"], "check", member, passed=True)  # not handled yet: 409
    assert refused.status_code == 409
    act(demo.uow(), demo.cases, case["id"], Action.ACCEPT, assignee, {})
    assert listening.next().kind == "accept"  # the first change heard is the committed one


def test_a_change_committed_by_another_process_is_heard_within_two_seconds(
    demo: Platform, client: TestClient, db: Engine
) -> None:
    """Two platforms, two engines, one PostgreSQL database: what one commits, the other's
    listener hears (on SQLite the bus is in-process: one process only)."""
    if db.dialect.name != "postgresql":
        pytest.skip("several processes share a database on PostgreSQL only")
    url = db.url.render_as_string(hide_password=False)
    other_engine = make_engine(url)
    other = Platform(
        Settings(mode="test", data_dir=demo.settings.data_dir, database_url=url),
        clock=demo.clock,
        engine_override=other_engine,
    )
    listener = PostgresBus.for_url(url)  # a bus of its own, as in another process
    heard = Heard()
    subscription = listener.subscribe(heard)
    try:
        assert subscription.wait_ready(5)
        member = patrol_member(client)
        case = submit(client, report(reporter=member)).json()  # through the first platform
        change = heard.next()
        assert change.case_id == case["id"]
        assignee = case["assignee"]["number"]
        act(other.uow(), other.cases, case["id"], Action.ACCEPT, assignee, {})
        assert heard.next().kind == "accept"
    finally:
        subscription.close()
        listener.close()
        other_engine.dispose()


def test_the_in_process_bus_hands_changes_to_every_listener() -> None:
    bus = InProcessBus()
    first, second = Heard(), Heard()
    one = bus.subscribe(first)
    two = bus.subscribe(second)
    assert one.wait_ready(0)

    def broken(change: CaseChange) -> None:
        raise ValueError("a broken listener")

    three = bus.subscribe(broken)
    change = CaseChange(7, "report", "E0102202006240001", "reported", 1, G1)
    bus.publish([change])
    assert first.next(0) == change and second.next(0) == change
    two.close()
    three.close()
    bus.publish([CaseChange(8, "report")])
    assert first.next(0).case_id == 8
    assert second.changes.empty()
    one.close()


def test_a_change_travels_as_json_and_stays_under_the_notify_limit() -> None:
    change = CaseChange(
        3, "dispatch", "N1", "dispatched", 4, G1, "U1", "P1", "P2", "cleaning", ("P1",), ("police",)
    )
    assert CaseChange.from_json(change.to_json()) == change
    crowded = CaseChange(3, "handle", handlers=tuple(f"PERSON-{i:05d}" for i in range(2000)))
    payload = crowded.to_json()
    assert len(payload.encode()) < 8000
    assert CaseChange.from_json(payload) == CaseChange(3, "handle")
    for bad in ("", "null", "[]", '{"kind": "x"}', '{"case_id": "seven", "kind": "x"}'):
        assert CaseChange.from_json(bad) is None
    assert CHANNEL == "chengyun_cases"


def test_a_reader_hears_only_the_cases_they_may_read() -> None:
    change = CaseChange(1, "report", grid=G1, unit="U1", reporter="P9", responsible="police")
    centre = Principal(1, "op", Role.OPERATOR)
    mine = Principal(2, "pm", Role.PATROL_MEMBER, ScopeKind.GRID, G1, "P1")
    elsewhere = Principal(3, "pm2", Role.PATROL_MEMBER, ScopeKind.GRID, "OTHER", "P2")
    reporter = Principal(4, "pm3", Role.PATROL_MEMBER, ScopeKind.GRID, "OTHER", "P9")
    police = Principal(5, "h", Role.DEPARTMENT_HANDLER, ScopeKind.DEPARTMENT, "police", "P5")
    assert audible(centre, change) and audible(mine, change)
    assert not audible(elsewhere, change)
    assert audible(reporter, change) and audible(police, change)
    assert frame("case", {"id": 1}, "1.2") == 'event: case\nid: 1.2\ndata: {"id":1}\n\n'


def _frames(bus: InProcessBus, who: Principal, changes: list[CaseChange], **timing: float):
    """The frames of a stream that hears ``changes`` once it is ready, until it ends."""

    async def collect() -> list[str]:
        frames = []
        async for text in stream(bus, who, **timing):
            frames.append(text)
            if text.startswith("event: ready"):
                bus.publish(changes)
        return frames

    return asyncio.run(collect())


def test_a_quiet_stream_beats_and_ends_on_time_for_the_browser_to_reconnect() -> None:
    operator = Principal(1, "op", Role.OPERATOR)
    frames = _frames(InProcessBus(), operator, [], seconds=0.25, heartbeat=0.05)
    assert frames[0] == "retry: 3000\n\n"
    assert frames[1] == 'event: ready\ndata: {"live":true}\n\n'
    assert len(frames) >= 4 and set(frames[2:]) == {": heartbeat\n\n"}


def test_a_reader_flooded_with_changes_is_told_to_reload_once() -> None:
    operator = Principal(1, "op", Role.OPERATOR)
    many = [CaseChange(i, "escalate", grid=G1) for i in range(1, QUEUE_SIZE + 50)]
    frames = _frames(InProcessBus(), operator, many, seconds=0.3, heartbeat=0.1)
    cases = [f for f in frames if f.startswith("event: case")]
    assert len(cases) == QUEUE_SIZE
    assert [f for f in frames if f.startswith("event: reload")] == ["event: reload\ndata: {}\n\n"]


# --- the stream over HTTP --------------------------------------------------------------------


class Stream:
    """A server-sent event stream read on a thread of its own: ``next()`` waits for the
    next event (heartbeats and ``retry`` lines are skipped)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.netloc, timeout=10)
        self.connection.request(
            "GET", parts.path, headers={**headers, "Accept": "text/event-stream"}
        )
        self.response = self.connection.getresponse()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event, data = "message", ""
        try:
            while line := self.response.readline():
                text = line.decode().rstrip("\r\n")
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    data = text[6:]
                elif text == "" and data:
                    self.events.put((event, json.loads(data)))
                    event, data = "message", ""
        except (OSError, ValueError, http.client.HTTPException):
            pass  # closed by the test

    def next(self, timeout: float = WAIT) -> tuple[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s") from None

    def close(self) -> None:
        sock = self.connection.sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)  # the reader sees the end, then we close
        self.thread.join(5)
        self.connection.close()


def _point_in(territory: Territory, grid_code: str) -> dict[str, Any]:
    unit = territory.units_of(grid_code)[0]
    point = shape(unit.geometry).representative_point()
    return {"lng": point.x, "lat": point.y, "crs": "wgs84"}


def test_the_stream_sends_each_reader_the_changes_in_their_scope(
    demo: Platform, client: TestClient, server: str, demo_territory: Territory
) -> None:
    grids = [g.code for g in demo_territory.grids]
    other = next(code for code in grids if code != G1 and demo_territory.units_of(code))
    member_g1 = patrol_member(client)
    member_other = patrol_member(client, other)
    auth = client.headers_for  # type: ignore[attr-defined]
    centre = Stream(f"{server}/command/events", auth(OPERATOR))
    local = Stream(f"{server}/command/events", auth(member_other))
    try:
        assert centre.response.status == 200
        assert centre.response.headers["content-type"].startswith("text/event-stream")
        assert centre.next() == ("ready", {"live": True})
        assert local.next() == ("ready", {"live": True})
        first = submit(client, report(reporter=member_g1)).json()
        kind, data = centre.next()
        assert kind == "case" and data["id"] == first["id"] and data["number"] == first["number"]
        assert set(data) == {"id", "number", "kind", "status", "version"}  # no names, no text
        second = submit(
            client,
            report(reporter=member_other, position=_point_in(demo_territory, other)),
        ).json()
        assert centre.next()[1]["id"] == second["id"]
        assert local.next()[1]["id"] == second["id"]  # grid 1's report never reached them
    finally:
        centre.close()
        local.close()


def test_the_stream_refuses_who_may_not_read_and_what_is_not_an_event_source(
    demo: Platform, client: TestClient, anonymous: TestClient
) -> None:
    refused = anonymous.get("/command/events", headers={"Accept": "text/event-stream"})
    assert refused.status_code == 401
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    plain = client.get("/command/events", headers={**operator, "Accept": "application/json"})
    assert plain.status_code == 422
    assert plain.json()["detail"][0]["loc"] == ["header", "Accept"]
