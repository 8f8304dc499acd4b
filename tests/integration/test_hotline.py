"""12345 hotline orders over HTTP on both databases: intake (idempotent on the number),
placement by coordinates, gazetteer or operator, the order's own rules driven by the
clock across a holiday, merging into a case already held, the outbox, and .xlsx."""

from __future__ import annotations

import io
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from chengyun.adapters.db.tables import cases, outbox
from chengyun.adapters.hotline import HotlineSender, hotline_routes
from chengyun.adapters.http import PeerError
from chengyun.adapters.spreadsheets.hotline_xlsx import (
    entries_from_xlsx,
    entries_to_xlsx,
    orders_from_xlsx,
    orders_to_xlsx,
)
from chengyun.clock import DrivenClock
from chengyun.domain.cases import Action
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.cli import app
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.senders import build_sender
from chengyun.services.accounts import issue_token
from chengyun.services.cases import act
from chengyun.services.delivery import RecordingSender, deliver_outbox
from chengyun.services.gazetteer import import_entries, list_entries, resolve_address
from chengyun.services.hotline import OrderIn, import_orders, orders_between, receive_order
from chengyun.services.records import PendingMessage
from tests.factories import CENTRE, GATEWAY, OPERATOR, report, submit

ORDERS = "/api/v1/hotline/orders"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def order(number: str = "HL20200624001", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_number": number,
        "received_at": "2020-06-24T09:00:00+08:00",
        "deadline": "2020-06-30T17:00:00+08:00",
        "urgent": False,
        "category": "乱堆物堆料",
        "address": "城中新苑5号楼",
        "caller": {"name": "王先生", "phone": "13912345678"},
        "content": "城中新苑5号楼门口堆放建筑垃圾 / rubble piled at the door",
    }
    body.update(changes)
    return body


def token(client: TestClient, username: str) -> dict[str, str]:
    """A token issued now (the driven clock outruns the tokens' 12 hours)."""
    platform: Platform = client.app.state.platform  # type: ignore[attr-defined]
    with platform.uow() as uow:
        account = uow.accounts.by_username(username)
    assert account is not None, username
    raw, _ = issue_token(platform.uow(), platform.clock, account, "test")
    return {"Authorization": f"Bearer {raw}"}


def send(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post(ORDERS, json=body, headers=token(client, GATEWAY))


def desk(client: TestClient) -> dict[str, str]:
    return token(client, OPERATOR)


def step(client: TestClient, number: str, action: str, **body: Any) -> Any:
    return client.post(f"{ORDERS}/{number}/{action}", json=body, headers=desk(client))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA_TZ)


def test_an_order_is_placed_by_the_gazetteer_and_becomes_a_hotline_case(
    client: TestClient, demo: Platform
) -> None:
    answer = send(client, order())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["placement"] == "gazetteer"
    assert body["confidence"] == 0.9
    assert body["status"] == "received"
    assert body["case_id"] is not None and body["merged"] is False
    case = client.get(f"/api/v1/cases/{body['case_id']}").json()
    assert case["channel"] == "hotline"
    assert case["subclass"]["code"] == "E0507"
    assert case["address"] == "城中新苑5号楼"
    assert case["status"] == "dispatched", case
    # the order's own deadline is the case's handling deadline
    assert case["deadlines"]["handle"] == "2020-06-30T17:00:00+08:00"
    with demo.uow() as uow:
        found = resolve_address(uow, "上海市青浦区城中新苑５号楼")
    assert found is not None and abs(found.lng - body["position"]["lng"]) < 1e-9


def test_an_order_and_its_repeat_send_no_rollback(
    client: TestClient, demo: Platform, rollbacks: list[str]
) -> None:
    """Taking in an order (its reads before and after its case is reported) and answering
    its repeat end without a ROLLBACK: on PostgreSQL it would make psycopg forget the
    connection's prepared statements, on the path 12345 orders come in all day."""
    headers = token(client, GATEWAY)
    rollbacks.clear()
    first = client.post(ORDERS, json=order(), headers=headers)
    assert first.status_code == 201 and first.json()["case_id"] is not None, first.text
    again = client.post(ORDERS, json=order(), headers=headers)
    assert again.status_code == 200 and again.json()["case_id"] == first.json()["case_id"]
    assert rollbacks == []


def test_the_same_number_twice_same_answer_different_content_409(
    client: TestClient, demo: Platform
) -> None:
    first = send(client, order())
    again = send(client, order())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["case_id"] == first.json()["case_id"]
    changed = send(client, order(content="另一件事 / something else"))
    assert changed.status_code == 409, changed.text
    assert changed.json()["detail"][0]["loc"][-1] == "order_number"
    listed = client.get(ORDERS, headers=desk(client)).json()
    assert listed["total"] == 1
    with demo.engine.connect() as connection:
        hotline_cases = connection.execute(
            sa.select(sa.func.count()).select_from(cases).where(cases.c.channel == "hotline")
        ).scalar_one()
    assert hotline_cases == 1


def test_bad_orders_name_the_field(client: TestClient, demo: Platform) -> None:
    cases_ = [
        (order(category="外星人入侵"), "category"),
        (order(deadline="2020-06-23T09:00:00+08:00"), "deadline"),
        (order(address="", position=None), "address"),
        (order(received_at="2020-07-24T09:00:00+08:00"), "received_at"),
        (order(position={"lng": 0, "lat": 0}), "lng"),
    ]
    for body, field in cases_:
        answer = send(client, body)
        assert answer.status_code == 422, (field, answer.text)
        assert field in str(answer.json()["detail"]), (field, answer.text)
    assert client.get(ORDERS, headers=desk(client)).json()["total"] == 0


def test_unknown_addresses_wait_in_the_placement_queue_until_placed(
    client: TestClient, demo: Platform
) -> None:
    answer = send(client, order("HL-Q1", address="老街口那棵大树下面"))
    assert answer.status_code == 201
    assert answer.json()["placement"] == "pending" and answer.json()["case_id"] is None
    road_only = send(client, order("HL-Q2", address="公园路边上"))
    assert road_only.json()["placement"] == "pending"
    assert road_only.json()["suggestion"]["entry_name"] == "公园路"
    queue = client.get("/api/v1/hotline/placement-queue", headers=desk(client)).json()
    assert [o["order_number"] for o in queue] == ["HL-Q1", "HL-Q2"]
    placed = client.post(
        f"{ORDERS}/HL-Q1/place",
        json={"lng": CENTRE[0], "lat": CENTRE[1]},
        headers=desk(client),
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["placement"] == "placed" and placed.json()["case_id"] is not None
    again = client.post(
        f"{ORDERS}/HL-Q1/place",
        json={"lng": CENTRE[0] + 0.01, "lat": CENTRE[1]},
        headers=desk(client),
    )
    assert again.status_code == 409
    queue = client.get("/api/v1/hotline/placement-queue", headers=desk(client)).json()
    assert [o["order_number"] for o in queue] == ["HL-Q2"]


def test_contact_within_one_working_day_across_the_dragon_boat_holiday(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    clock.set(at("2020-06-24T15:00"))  # Wednesday; 25-27 June are holidays, 28th worked
    send(client, order(received_at="2020-06-24T14:30:00+08:00"))
    signed = step(client, "HL20200624001", "sign", note="已签收")
    assert signed.status_code == 200, signed.text
    assert signed.json()["contact_due_at"] == "2020-06-28T15:00:00+08:00"
    clock.set(at("2020-06-27T10:00"))  # Saturday, a holiday: still in time
    seen = client.get(f"{ORDERS}/HL20200624001", headers=desk(client))
    assert seen.status_code == 200, seen.text
    assert seen.json()["flags"] == []
    clock.set(at("2020-06-28T15:01"))  # the swapped working Sunday, just past
    late = client.get(f"{ORDERS}/HL20200624001", headers=desk(client)).json()
    assert late["flags"] == ["contact_overdue"]
    contacted = step(client, "HL20200624001", "contact", note="电话联系王先生")
    assert contacted.json()["status"] == "contacted"
    assert contacted.json()["flags"] == ["contact_overdue"]  # done late stays counted


def test_the_order_lifecycle_warning_order_and_outbox(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    number = "HL20200624001"
    send(client, order())
    assert step(client, number, "result", result="x").status_code == 409  # not signed yet
    step(client, number, "sign")
    clock.tick(timedelta(hours=1))
    step(client, number, "contact", note="已联系")
    missing = step(client, number, "result")
    assert missing.status_code == 422 and "result" in str(missing.json()["detail"])
    replied = step(client, number, "result", result="已清理 / cleared")
    assert replied.json()["status"] == "replied"
    clock.tick(timedelta(days=1))
    callback = {
        "order_number": number,
        "callback_id": "CB1",
        "satisfied": False,
        "note": "没清干净",
    }
    unhappy = client.post(
        "/api/v1/hotline/callbacks", json=callback, headers=token(client, GATEWAY)
    )
    assert unhappy.status_code == 200, unhappy.text
    body = unhappy.json()
    assert body["status"] == "warning" and body["warnings"] == 1
    repeat = client.post("/api/v1/hotline/callbacks", json=callback, headers=token(client, GATEWAY))
    assert repeat.json()["warnings"] == 1  # the same call-back twice counts once
    step(client, number, "contact", note="再次联系")
    step(client, number, "result", result="已彻底清理")
    happy = client.post(
        "/api/v1/hotline/callbacks",
        json={"order_number": number, "callback_id": "CB2", "satisfied": True},
        headers=token(client, GATEWAY),
    )
    assert happy.json()["status"] == "closed"
    assert step(client, number, "return", reason="x").status_code == 409
    with demo.engine.connect() as connection:
        topics = [
            r.topic
            for r in connection.execute(
                sa.select(outbox.c.topic)
                .where(outbox.c.recipient == "hotline")
                .order_by(outbox.c.id)
            )
        ]
    assert topics == [
        "hotline.signed",
        "hotline.contacted",
        "hotline.result",
        "hotline.contacted",
        "hotline.result",
    ]
    sender = RecordingSender()
    deliver_outbox(demo.uow(), demo.clock, sender)
    results = [m for m in sender.sent if m.topic == "hotline.result"]
    assert results[0].payload["order_number"] == number
    assert results[0].payload["result"] == "已清理 / cleared"


def test_returning_needs_a_reason(client: TestClient, demo: Platform) -> None:
    send(client, order())
    refused = step(client, "HL20200624001", "return", reason="  ")
    assert refused.status_code == 422 and "reason" in str(refused.json()["detail"])
    returned = step(client, "HL20200624001", "return", reason="非本街道辖区 / not ours")
    assert returned.json()["status"] == "returned"
    assert returned.json()["return_reason"] == "非本街道辖区 / not ours"
    assert step(client, "HL20200624001", "nonsense").status_code == 422
    assert step(client, "NOBODY", "sign").status_code == 404


def test_an_order_repeating_a_held_case_is_merged_and_the_case_keeps_its_first_discovery(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    patrol = submit(client, report(subclass="E0507", observed_at="2020-06-24T08:50:00+08:00"))
    assert patrol.status_code == 201, patrol.text
    held = patrol.json()
    answer = send(
        client,
        order(position={"lng": CENTRE[0] + 0.0001, "lat": CENTRE[1]}, address="城中居委会门口"),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["merged"] is True
    assert body["case_id"] == held["id"] and body["own_case_id"] != held["id"]
    own = client.get(f"/api/v1/cases/{body['own_case_id']}").json()
    assert own["status"] == "merged" and own["channel"] == "hotline"
    original = client.get(f"/api/v1/cases/{held['id']}").json()
    assert original["channel"] == "patrol"
    assert [d["channel"] for d in original["duplicates"]] == ["hotline"]
    with demo.engine.connect() as connection:
        first = connection.execute(
            sa.select(cases.c.first_channel).where(cases.c.id == held["id"])
        ).scalar_one()
    assert first == "patrol"  # the hotline order does not take the first discovery
    again = send(
        client,
        order(position={"lng": CENTRE[0] + 0.0001, "lat": CENTRE[1]}, address="城中居委会门口"),
    )
    assert again.status_code == 200 and again.json()["case_id"] == held["id"]


def test_orders_round_trip_through_xlsx_without_duplicates(
    client: TestClient, demo: Platform
) -> None:
    send(client, order("HL-X1"))
    send(client, order("HL-X2", address="无名小巷", urgent=True))
    with demo.uow() as uow:
        assert uow is not None
    records = orders_between(demo.uow(), None, None)
    data = orders_to_xlsx(records, demo.clock.now())
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None and sheet.cell(row=2, column=1).value == "HL-X1"
    title, rows = orders_from_xlsx(data)
    again = import_orders(demo.uow(), demo.cases, rows, title)
    assert (again.created, again.unchanged) == (0, 2)
    # a new workbook: one new order, one repeated row in the file → nothing imported
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.active
    assert sheet is not None
    sheet.cell(row=2, column=1).value = "HL-X3"
    sheet.cell(row=3, column=1).value = "HL-X3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    refused = client.post(
        "/api/v1/hotline/import.xlsx",
        files={"file": ("orders.xlsx", buffer.getvalue(), XLSX)},
        headers=desk(client),
    )
    assert refused.status_code == 422
    assert "HL-X3" in refused.text
    sheet.cell(row=3, column=1).value = "HL-X4"
    buffer = io.BytesIO()
    workbook.save(buffer)
    imported = client.post(
        "/api/v1/hotline/import.xlsx",
        files={"file": ("orders.xlsx", buffer.getvalue(), XLSX)},
        headers=desk(client),
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"created": 2, "unchanged": 0}
    exported = client.get("/api/v1/hotline/export.xlsx", headers=desk(client))
    assert exported.status_code == 200 and exported.headers["content-type"] == XLSX
    assert client.get(ORDERS, headers=desk(client)).json()["total"] == 4
    bad = client.post(
        "/api/v1/hotline/import.xlsx",
        files={"file": ("orders.xlsx", b"not a workbook", XLSX)},
        headers=desk(client),
    )
    assert bad.status_code == 422


def test_the_gazetteer_is_kept_by_operators_and_exchanged_as_xlsx(
    client: TestClient, demo: Platform
) -> None:
    made = client.post(
        "/api/v1/gazetteer",
        json={
            "kind": "landmark",
            "name": "老街大槐树",
            "aliases": ["大槐树"],
            "position": {"lng": CENTRE[0], "lat": CENTRE[1]},
        },
        headers=desk(client),
    )
    assert made.status_code == 201, made.text
    twice = client.post(
        "/api/v1/gazetteer",
        json=made.json() | {"position": {"lng": CENTRE[0], "lat": CENTRE[1]}},
        headers=desk(client),
    )
    assert twice.status_code == 409
    resolved = client.get(
        "/api/v1/gazetteer/resolve", params={"text": "大槐树下有人乱扔垃圾"}, headers=desk(client)
    ).json()
    assert resolved["found"] and resolved["entry_name"] == "老街大槐树"
    bad_road = client.post(
        "/api/v1/gazetteer",
        json={
            "kind": "road",
            "name": "新路",
            "position": {"lng": CENTRE[0], "lat": CENTRE[1]},
            "first": 2,
            "last": 9,
            "parity": "odd",
        },
        headers=desk(client),
    )
    assert bad_road.status_code == 422
    assert {"end", "first"} <= {d["loc"][-1] for d in bad_road.json()["detail"]}
    entry_id = made.json()["id"]
    deleted = client.delete(f"/api/v1/gazetteer/{entry_id}", headers=desk(client))
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/gazetteer/{entry_id}", headers=desk(client)).status_code == 404
    entries = list_entries(demo.uow())
    data = entries_to_xlsx(entries)
    title, rows = entries_from_xlsx(data)
    assert len(rows) == len(entries)
    added, updated = import_entries(demo.uow(), demo.clock, rows, title)
    assert (added, updated) == (0, len(entries))
    exported = client.get("/api/v1/gazetteer.xlsx", headers=desk(client))
    assert exported.status_code == 200
    # the hotline's own account may not edit the gazetteer
    refused = client.get("/api/v1/gazetteer", headers=token(client, GATEWAY))
    assert refused.status_code == 403


def test_the_command_line_exchanges_orders_and_the_gazetteer(
    demo: Platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "CHENGYUN_DATABASE_URL", demo.engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    places = tmp_path / "gazetteer.xlsx"
    result = runner.invoke(app, ["gazetteer", "export", str(places)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["gazetteer", "import", str(places)])
    assert result.exit_code == 0, result.output
    assert "0 added" in result.output
    records = [
        (
            2,
            OrderIn(
                "HL-C1",
                at("2020-06-24T09:00"),
                at("2020-06-30T17:00"),
                "堆物",
                category="乱堆物堆料",
                address="城中新苑",
            ),
        ),
        (
            3,
            OrderIn(
                "HL-C2",
                at("2020-06-24T09:10"),
                at("2020-06-30T17:00"),
                "堆物",
                category="E0507",
                address="不知道哪里",
            ),
        ),
    ]
    import_orders(demo.uow(), demo.cases, records, "工单 Orders")
    sheet = tmp_path / "orders.xlsx"
    result = runner.invoke(
        app, ["hotline", "export", str(sheet), "--from", "2020-06-24T09:05", "--to", "2020-06-25"]
    )
    assert result.exit_code == 0, result.output
    _, rows = orders_from_xlsx(sheet.read_bytes())
    assert [r.number for _, r in rows] == ["HL-C2"]
    result = runner.invoke(app, ["hotline", "import", str(sheet)])
    assert result.exit_code == 0, result.output
    assert "0 new, 1 already received" in result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"no")
    result = runner.invoke(app, ["hotline", "import", str(broken)])
    assert result.exit_code == 1
    assert "xlsx" in result.output
    result = runner.invoke(app, ["hotline", "export", str(sheet), "--from", "yesterday"])
    assert result.exit_code != 0


def test_a_dissatisfied_call_back_reopens_the_closed_case(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    number = "HL-R1"
    body = send(client, order(number, position={"lng": CENTRE[0], "lat": CENTRE[1]})).json()
    case_id = body["case_id"]
    handler = client.get(f"/api/v1/cases/{case_id}").json()["assignee"]["number"]
    for action, actor, params in (
        ("accept", handler, {}),
        ("arrive", handler, {"position": (CENTRE[0], CENTRE[1])}),
        ("handle", handler, {"note": "已清理"}),
        ("check", OPERATOR, {"passed": True}),
        ("close", OPERATOR, {}),
    ):
        clock.tick(timedelta(minutes=5))
        act(demo.uow(), demo.cases, case_id, Action(action), actor, params)
    for action, params in (("sign", {}), ("contact", {}), ("result", {"result": "已清理"})):
        assert step(client, number, action, **params).status_code == 200
    # the hotline's call-back: a warning order, and the centre is told
    unhappy = client.post(
        "/api/v1/hotline/callbacks",
        json={"order_number": number, "satisfied": False, "note": "仍有垃圾"},
        headers=token(client, GATEWAY),
    )
    assert unhappy.json()["status"] == "warning"
    with demo.engine.connect() as connection:
        told = connection.execute(
            sa.select(outbox.c.recipient).where(outbox.c.topic == "warning_order")
        ).all()
    assert [r.recipient for r in told] == ["command_centre"]
    case = client.get(f"/api/v1/cases/{case_id}", headers=token(client, "test-admin")).json()
    assert case["status"] == "closed"  # the platform itself does not reopen a case
    # handled again; the operator records the next call-back by phone: the case reopens
    for action, params in (("contact", {}), ("result", {"result": "再次清理"})):
        assert step(client, number, action, **params).status_code == 200
    recorded = step(client, number, "callback", satisfied=False, note="仍不满意")
    assert recorded.json()["status"] == "warning" and recorded.json()["warnings"] == 2
    case = client.get(f"/api/v1/cases/{case_id}", headers=token(client, "test-admin")).json()
    assert case["status"] == "registered"
    assert case["timeline"][-1]["action"] == "reopen"
    assert case["timeline"][-1]["actor"] == OPERATOR
    assert "HL-R1" in case["timeline"][-1]["reason"]


def test_the_same_order_sent_at_once_gives_one_order_and_one_case(demo: Platform) -> None:
    given = OrderIn(
        "HL-RACE",
        at("2020-06-24T09:00"),
        at("2020-06-30T17:00"),
        "堆物",
        category="乱堆物堆料",
        address="城中新苑",
    )
    answers: list[Any] = []
    failures: list[BaseException] = []

    def post() -> None:
        try:
            answers.append(receive_order(demo.uow(), demo.cases, given))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert sorted(a.created for a in answers) == [False, False, False, True]
    assert len({a.record.case_id for a in answers}) == 1
    with demo.engine.connect() as connection:
        hotline_cases = connection.execute(
            sa.select(sa.func.count()).select_from(cases).where(cases.c.channel == "hotline")
        ).scalar_one()
    assert hotline_cases == 1


def test_results_reach_the_hotline_over_http_and_failures_are_retried(
    platform: Platform,
) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    class Hotline(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.headers.get("Authorization", ""), body))
            status = 503 if body["order_number"] == "DOWN" else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            return None

    peer = HTTPServer(("127.0.0.1", 0), Hotline)
    thread = threading.Thread(target=peer.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{peer.server_port}/results"
        settings = platform.settings.model_copy(
            update={"hotline_result_url": url, "hotline_result_token": "secret"}
        )
        routed = build_sender(replace(platform, settings=settings))
        message = PendingMessage(7, "hotline.result", "hotline", {"order_number": "HL1"}, 0, None)
        routed.send(message)
        assert received == [
            (
                "Bearer secret",
                {"topic": "hotline.result", "message_id": 7, "order_number": "HL1"},
            )
        ]
        with pytest.raises(PeerError):
            HotlineSender(url).send(replace(message, payload={"order_number": "DOWN"}))
        assert hotline_routes(platform.settings) == {}  # not configured: recorded instead
    finally:
        peer.shutdown()
        peer.server_close()
        thread.join(5)
