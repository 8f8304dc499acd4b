"""Stage clocks, the sweep, escalation up the ladder and the outbox — with a driven clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables as t
from chengyun.clock import DrivenClock
from chengyun.domain.cases import Action, Channel
from chengyun.domain.errors import Conflict
from chengyun.entrypoints.api.v1.cases import view_of
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.worker import run, run_once
from chengyun.services.cases import ReportCommand, act, report_case, sweep
from chengyun.services.delivery import RecordingSender, deliver_outbox
from chengyun.services.records import OutboxMessage, PendingMessage
from tests.factories import CENTRE, COMMANDER, OPERATOR, Passes, patrol_member, report, submit
from tests.factories import do as act_on

LADDER = ["department_line", "deputy_grid_chief", "grid_chief", "command_centre", "district"]


def new_case(platform: Platform, reporter: str, **changes) -> int:
    command = ReportCommand(
        channel=changes.pop("channel", Channel.PATROL),
        subclass=changes.pop("subclass", "E0102"),
        lng=CENTRE[0],
        lat=CENTRE[1],
        reporter=reporter,
        **changes,
    )
    return report_case(platform.uow(), platform.cases, command).record.id


def escalations(platform: Platform, case_id: int) -> list[str]:
    with platform.engine.connect() as c:
        rows = c.execute(
            sa.select(t.case_events.c.data)
            .where(t.case_events.c.case_id == case_id, t.case_events.c.action == "escalate")
            .order_by(t.case_events.c.seq)
        ).scalars()
        return [r["level"] for r in rows]


def test_yellow_at_80_percent_then_red_and_up_the_whole_ladder(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    case_id = new_case(demo, patrol_member(client))
    case = client.get(f"/api/v1/cases/{case_id}").json()
    accept = next(s for s in case["stages"] if s["stage"] == "accept")
    assert case["light"] == "green"

    clock.tick(timedelta(minutes=12, seconds=1))  # 80 % of the 15-minute accept limit
    first = sweep(demo.uow(), demo.cases)
    assert (first.warned, first.escalated) == (1, 0)
    assert client.get(f"/api/v1/cases/{case_id}").json()["light"] == "yellow"
    assert sweep(demo.uow(), demo.cases).looked_at == 0  # nothing more until the deadline

    clock.set(accept_due := _parse(accept["due_at"]))
    assert sweep(demo.uow(), demo.cases).escalated == 1
    detail = client.get(f"/api/v1/cases/{case_id}").json()
    assert detail["light"] == "red" and detail["escalation_level"] == "department_line"
    assert sweep(demo.uow(), demo.cases).escalated == 0  # once per moment: idempotent

    for _ in range(12):
        clock.tick(timedelta(minutes=15))
        sweep(demo.uow(), demo.cases)
    levels = escalations(demo, case_id)
    assert levels == LADDER  # every rung, in order, once; nothing beyond the district
    detail = client.get(f"/api/v1/cases/{case_id}").json()
    assert detail["escalation_level"] == "district"
    recipients = {n["recipient"] for n in detail["notifications"] if n["topic"] == "escalation"}
    assert {"YPG1-001", "YPG1-002", "YPG1-003"} <= recipients  # grid chief and deputies
    assert any(n["topic"] == "district" for n in detail["notifications"])
    assert accept_due > _parse(case["reported_at"])

    delivered = deliver_outbox(demo.uow(), clock, RecordingSender())
    assert delivered.delivered >= len(detail["notifications"])
    after = client.get(f"/api/v1/cases/{case_id}").json()["notifications"]
    assert all(n["delivered_at"] for n in after)


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_accepting_in_time_stops_the_accept_clock(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    case_id = new_case(demo, patrol_member(client))
    handler = client.get(f"/api/v1/cases/{case_id}").json()["assignee"]["number"]
    clock.tick(timedelta(minutes=5))
    act(demo.uow(), demo.cases, case_id, Action.ACCEPT, handler, {})
    clock.tick(timedelta(minutes=20))
    result = sweep(demo.uow(), demo.cases)
    assert result.escalated == 0
    stages = {s["stage"]: s for s in client.get(f"/api/v1/cases/{case_id}").json()["stages"]}
    assert stages["accept"]["done_at"] and stages["accept"]["light"] == "green"


def test_a_hotline_order_keeps_its_own_deadline(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    due = clock.now() + timedelta(days=3)
    case_id = new_case(demo, None, channel=Channel.HOTLINE, due_at=due)
    stages = {s["stage"]: s for s in client.get(f"/api/v1/cases/{case_id}").json()["stages"]}
    assert _parse(stages["handle"]["due_at"]) == due


def test_the_worker_pass_and_a_failing_peer(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    new_case(demo, patrol_member(client))

    class Down:
        def send(self, message) -> None:
            raise ConnectionError("peer down")

    failed = deliver_outbox(demo.uow(), clock, Down(), max_attempts=2)
    assert failed.failed >= 1 and failed.dead == 0
    assert deliver_outbox(demo.uow(), clock, Down(), max_attempts=2).failed == 0  # backoff
    clock.tick(timedelta(minutes=2))
    dead = deliver_outbox(demo.uow(), clock, Down(), max_attempts=2)
    assert dead.dead == failed.failed
    clock.tick(timedelta(hours=2))
    assert deliver_outbox(demo.uow(), clock, RecordingSender()).delivered == 0  # dead letters wait
    sent = RecordingSender()
    run_once(demo, sent)  # delivers what the sweep writes now, never the dead letters
    with demo.engine.connect() as c:
        dead_rows = c.execute(
            sa.select(t.outbox.c.id, t.outbox.c.last_error, t.outbox.c.delivered_at).where(
                t.outbox.c.dead.is_(True)
            )
        ).all()
    assert len(dead_rows) == dead.dead
    assert all(r.delivered_at is None and "peer down" in r.last_error for r in dead_rows)
    assert {r.id for r in dead_rows}.isdisjoint(m.id for m in sent.sent)


def test_a_busy_worker_sweeps_once_a_second_and_delivers_between(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    case_id = new_case(demo, patrol_member(client))
    seen: list[list[str]] = []

    def between(waits: list[float]) -> None:
        # a message waiting at every pass (the worker stays busy); the case overdue from
        # the first pass on
        with demo.uow() as uow:
            uow.outbox.add(OutboxMessage("task", "P1", {"note": "派单"}), clock.now())
            uow.commit()
        if len(waits) == 1:
            clock.tick(timedelta(days=3))
        seen.append(escalations(demo, case_id))

    stop = Passes(7, between)
    sent = RecordingSender()
    run(demo, sent, interval=1.0, stop=stop, busy_interval=0.2)
    assert stop.waits == [0.2] * 7
    assert len(sent.sent) >= 7  # every pass delivered
    # the first pass swept (nothing due yet); the next sweep came once the waits made a
    # second — the sixth pass — and not in the four delivering passes between
    assert [bool(levels) for levels in seen] == [False] * 5 + [True] * 2


def test_a_long_sweep_delivers_between_its_batches(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    # a worker back after days away: five cases overdue at once, swept two at a time
    cases = [new_case(demo, patrol_member(client)) for _ in range(5)]
    deliver_outbox(demo.uow(), clock, RecordingSender())  # their tasks went out then
    clock.tick(timedelta(days=3))

    class Watching(RecordingSender):
        """Notes, with each message, how many of the cases were escalated by then."""

        def __init__(self) -> None:
            super().__init__()
            self.escalated_then: list[int] = []

        def send(self, message: PendingMessage) -> None:
            super().send(message)
            self.escalated_then.append(sum(bool(escalations(demo, c)) for c in cases))

    sender = Watching()
    done = run_once(demo, sender, sweep_batch=2)
    assert done.sweep.escalated >= 5 and done.delivery.delivered == len(sender.sent) > 0
    assert all(escalations(demo, c) for c in cases)
    # the first batch's messages went out before the sweep reached the last cases
    assert min(sender.escalated_then) < 5


def test_duplicates_video_alerts_merge_others_are_offered(
    client: TestClient, demo: Platform
) -> None:
    first = submit(client, report(reporter=patrol_member(client))).json()
    near = {"lng": CENTRE[0] + 0.0001, "lat": CENTRE[1], "crs": "wgs84"}
    alert_answer = submit(client, report(channel="video_ai", position=near))
    assert alert_answer.status_code == 201, alert_answer.text
    alert = alert_answer.json()
    assert alert["status"] == "merged"
    original = client.get(f"/api/v1/cases/{first['id']}").json()
    assert [d["channel"] for d in original["duplicates"]] == ["video_ai"]
    citizen = submit(client, report(channel="citizen_qr", position=near)).json()
    assert citizen["status"] == "reported"
    assert citizen["possible_duplicates"][0]["id"] == first["id"]
    merged = client.post(
        f"/api/v1/cases/{citizen['id']}/actions/merge",
        json={"into": first["id"]},
        headers=client.headers_for(OPERATOR),
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["status"] == "merged"
    original = client.get(f"/api/v1/cases/{first['id']}").json()
    assert [d["channel"] for d in original["duplicates"]] == ["video_ai", "citizen_qr"]
    far = {"lng": CENTRE[0] + 0.002, "lat": CENTRE[1], "crs": "wgs84"}  # ~190 m away
    assert submit(client, report(channel="video_ai", position=far)).json()["status"] == "dispatched"


def test_joint_handling_and_consultation(client: TestClient, demo: Platform) -> None:
    case = submit(client, report(reporter=patrol_member(client))).json()
    cid = case["id"]

    def do(action: str, actor: str, **body):
        return act_on(client, cid, action, actor, **body)

    joint = do("start_joint", OPERATOR, lead="urban_management", partners=["market", "police"])
    assert joint.status_code == 200, joint.text
    market = client.get("/api/v1/people", params={"department": "market", "limit": 1}).json()
    contributed = do(
        "contribute",
        market["items"][0]["number"],
        department="market",
        note="已查验执照 / licence checked",
    )
    assert contributed.status_code == 200, contributed.text
    assert contributed.json()["joint"]["contributions"][0]["department"] == "market"
    assert do("consult", COMMANDER, note="跨部门疑难 / hard case").status_code == 200
    decided = do(
        "decide",
        COMMANDER,
        decision="城管牵头整治 / urban management leads",
        follow_ups=["市场所协查 / market office assists"],
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["agenda"][0]["decision"].startswith("城管牵头")
    manual = do("escalate", case["assignee"]["number"], reason="需要协调 / needs coordination")
    assert manual.json()["escalation_level"] == "department_line"


def test_a_case_s_view_is_what_its_visibility_reads_of_the_whole_case(
    client: TestClient, demo: Platform
) -> None:
    """``view`` (a photo's and an upload's scope check) reads a few columns and three
    values of a case's state instead of the case with its events: the same ``CaseView`` as
    the whole case gives, for a new case, one handled and one handled jointly."""
    reporter = patrol_member(client)
    new, handled, joint = (submit(client, report(reporter=reporter)).json() for _ in range(3))
    holder = handled["assignee"]["number"]
    for action in ("accept", "arrive", "handle"):
        answer = act_on(client, handled["id"], action, holder, note="已处置 / done")
        assert answer.status_code == 200, answer.text
    started = act_on(
        client, joint["id"], "start_joint", OPERATOR, lead="urban_management", partners=["market"]
    )
    assert started.status_code == 200, started.text
    with demo.uow(reading=True) as uow:
        views = {c["id"]: uow.cases.view(c["id"]) for c in (new, handled, joint)}
        records = {c["id"]: uow.cases.get(c["id"]) for c in (new, handled, joint)}
        assert uow.cases.view(10**9) is None
        uow.commit()
    for case_id, record in records.items():
        assert record is not None
        assert views[case_id] == view_of(record), case_id
    seen = {
        case_id: (v.handlers, v.joint_departments, v.responsible)
        for case_id, v in views.items()
        if v
    }
    assert seen[handled["id"]][0] == (holder,)
    assert seen[joint["id"]][1] == ("urban_management", "market")
    assert seen[new["id"]][2] is not None


def _pg_only(platform: Platform) -> None:
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks with SKIP LOCKED are a PostgreSQL feature; SQLite has one writer")


def test_two_handlers_accepting_at_once_one_wins(client: TestClient, demo: Platform) -> None:
    _pg_only(demo)
    case_id = new_case(demo, patrol_member(client))
    handler = client.get(f"/api/v1/cases/{case_id}").json()["assignee"]["number"]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept() -> None:
        barrier.wait()
        try:
            act(demo.uow(), demo.cases, case_id, Action.ACCEPT, handler, {})
            outcomes.append("won")
        except Conflict:
            outcomes.append("409")

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409", "won"]
    events = client.get(f"/api/v1/cases/{case_id}").json()["timeline"]
    assert [e["action"] for e in events].count("accept") == 1


def test_two_workers_sweeping_at_once_escalate_each_case_once(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _pg_only(demo)
    reporter = patrol_member(client)
    ids = [new_case(demo, reporter) for _ in range(40)]
    clock.tick(timedelta(minutes=16))  # every accept clock is red
    barrier = threading.Barrier(2)
    results = []

    def work() -> None:
        barrier.wait()
        results.append(sweep(demo.uow(), demo.cases, batch=7))
        while (more := sweep(demo.uow(), demo.cases, batch=7)).looked_at:
            results.append(more)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.escalated for r in results) == len(ids)
    assert all(escalations(demo, i) == ["department_line"] for i in ids)


def test_working_hours_skip_the_dragon_boat_festival(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    from datetime import datetime

    from chengyun.domain.working_time import CHINA_TZ

    clock.set(datetime(2020, 6, 24, 15, 30, tzinfo=CHINA_TZ))
    case_id = new_case(demo, patrol_member(client))  # E0102: handle within 2 working hours
    stages = {s["stage"]: s for s in client.get(f"/api/v1/cases/{case_id}").json()["stages"]}
    # 1 hour on Wednesday, the 25th–27th are holidays, Sunday the 28th is a working day
    assert _parse(stages["handle"]["due_at"]) == datetime(2020, 6, 28, 9, 30, tzinfo=CHINA_TZ)


def test_dispatch_follows_the_day_and_night_tables(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    from datetime import datetime

    from chengyun.domain.working_time import CHINA_TZ

    reporter = patrol_member(client)
    clock.set(datetime(2020, 6, 24, 16, 29, tzinfo=CHINA_TZ))
    by_day = client.get(f"/api/v1/cases/{new_case(demo, reporter)}").json()["assignee"]["number"]
    clock.set(datetime(2020, 6, 24, 16, 31, tzinfo=CHINA_TZ))
    at_night = client.get(f"/api/v1/cases/{new_case(demo, reporter)}").json()["assignee"]
    night = client.get("/api/v1/duty", params={"at": "2020-06-24T16:31:00+08:00"}).json()
    night_numbers = {
        p["number"]
        for g in night["grids"]
        for p in [*g["street"], *(q for u in g["units"] for q in u["on_duty"])]
    }
    assert at_night is not None and at_night["number"] in night_numbers
    day = client.get("/api/v1/duty", params={"at": "2020-06-24T16:29:00+08:00"}).json()
    day_numbers = {
        p["number"]
        for g in day["grids"]
        for p in [*g["street"], *(q for u in g["units"] for q in u["on_duty"])]
    }
    assert by_day in day_numbers


def test_a_worker_that_dies_mid_sweep_loses_and_doubles_nothing(
    client: TestClient, demo: Platform, clock: DrivenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chengyun.adapters.db.case_repository import SqlOutboxRepository

    reporter = patrol_member(client)
    ids = [new_case(demo, reporter) for _ in range(12)]
    clock.tick(timedelta(minutes=16))
    original = SqlOutboxRepository.add
    written = {"n": 0}

    def dies_after_some(self, message, at):  # the process "dies" half-way through a batch
        written["n"] += 1
        if written["n"] == 9:
            raise SystemExit("killed")
        return original(self, message, at)

    monkeypatch.setattr(SqlOutboxRepository, "add", dies_after_some)
    with pytest.raises(SystemExit):
        sweep(demo.uow(), demo.cases)
    monkeypatch.setattr(SqlOutboxRepository, "add", original)
    assert all(escalations(demo, i) == [] for i in ids)  # the batch rolled back whole
    assert sweep(demo.uow(), demo.cases).escalated == len(ids)
    assert sweep(demo.uow(), demo.cases).escalated == 0
    assert all(escalations(demo, i) == ["department_line"] for i in ids)
    with demo.engine.connect() as c:
        per_case = c.execute(
            sa.select(t.outbox.c.case_id, sa.func.count())
            .where(t.outbox.c.topic == "escalation")
            .group_by(t.outbox.c.case_id)
        ).all()
    assert len(per_case) == len(ids) and len({n for _, n in per_case}) == 1
