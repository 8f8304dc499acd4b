"""Open311 GeoReport v2 (``/open311/v2``) on both databases: every JSON answer is checked
against the JSON Schemas written from the spec (tests/schemas/open311), every XML answer
is parsed and must carry the same fields; requests become cases on the application's
channel, idempotently, and never show who sent them."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx2 as httpx
import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.db.tables_open311 import open311_requests
from chengyun.clock import DrivenClock
from chengyun.domain.errors import InvalidInput
from chengyun.entrypoints.cli import app as cli
from chengyun.entrypoints.platform import Platform
from chengyun.services import open311
from tests.factories import CENTRE, OPERATOR, png

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "open311"
KEY = "demo-open311-key"
ROOTS = {
    "discovery": "discovery",
    "services": "services",
    "service_definition": "service_definition",
    "request_created": "service_requests",
    "service_requests": "service_requests",
    "tokens": "service_requests",
    "errors": "errors",
}
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
PHONE, EMAIL = "13912345678", "zhang.wei@example.com"


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text("utf-8"))
    jsonschema_rs.meta.validate(loaded)
    return loaded


def valid(response: httpx.Response, name: str, status: int = 200) -> Any:
    """The JSON body, after checking the status, the content type and the schema."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    jsonschema_rs.Draft7Validator(schema(name)).validate(body)
    return body


def _from_xml(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    if element.tag in ITEMS:
        assert all(c.tag == ITEMS[element.tag] for c in children), element.tag
        return [_from_xml(c) for c in children]
    return {c.tag: _from_xml(c) for c in children}


def _as_xml_text(value: Any) -> Any:
    """A JSON value as the XML form writes it (text; true/false; empty for null or [])."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == []:
        return ""
    if isinstance(value, list):
        return [_as_xml_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_xml_text(v) for k, v in value.items()}
    return str(value)


def parsed_xml(response: httpx.Response, name: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(response.content)
    assert root.tag == ROOTS[name]
    content = _from_xml(root)
    return [] if content == "" and name != "discovery" else content


def same_in_xml(json_body: Any, response: httpx.Response, name: str, status: int = 200) -> None:
    """The XML answer carries exactly the fields and values of the JSON one."""
    expected = [] if json_body == [] else _as_xml_text(json_body)
    assert parsed_xml(response, name, status) == expected


def both(client: TestClient, path: str, name: str, status: int = 200, **kwargs: Any) -> Any:
    """GET ``path`` as .json and .xml; checks both and returns the JSON body."""
    body = valid(client.get(f"{path}.json", **kwargs), name, status)
    same_in_xml(body, client.get(f"{path}.xml", **kwargs), name, status)
    return body


def fields(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "api_key": KEY,
        "service_code": "E0102",
        "lat": str(CENTRE[1]),
        "long": str(CENTRE[0]),
        "description": "人行道上有暴露垃圾 / exposed rubbish on the pavement",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def post(
    client: TestClient, fmt: str = "json", key: str | None = None, **changes: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/open311/v2/requests.{fmt}", data=fields(**changes), headers=headers)


def created(client: TestClient, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = valid(post(client, **changes), "request_created", 201)[0]
    return body


def case_of(client: TestClient, number: str) -> dict[str, Any]:
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    items = client.get("/api/v1/cases", params={"q": number}, headers=operator).json()["items"]
    assert [c["number"] for c in items] == [number]
    case: dict[str, Any] = items[0]
    return case


def count_intakes(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(open311_requests.select()).all())


# --- discovery and services ------------------------------------------------------------------


def test_discovery_names_the_spec_and_both_formats(anonymous: TestClient, demo: Platform) -> None:
    body = both(anonymous, "/open311/v2/discovery", "discovery")
    endpoint = body["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}


def test_services_come_from_the_taxonomy_in_chinese_with_english_keywords(
    anonymous: TestClient, demo: Platform
) -> None:
    body = both(anonymous, "/open311/v2/services", "services")
    taxonomy = demo.cases.default_taxonomy
    assert [s["service_code"] for s in body] == [rule.code for rule in taxonomy]
    by_code = {s["service_code"]: s for s in body}
    cover = by_code["C0101"]
    assert cover["service_name"] == "上水井盖"
    assert "Water-supply manhole cover" in cover["keywords"]
    assert "Public utilities" in cover["group"]
    assert cover["metadata"] is True and cover["type"] == "realtime"
    assert by_code["E0102"]["metadata"] is False

    english = both(
        anonymous, "/open311/v2/services", "services", headers={"Accept-Language": "en-GB,zh;q=0.5"}
    )
    assert {s["service_code"]: s["service_name"] for s in english}["C0101"] == (
        "Water-supply manhole cover"
    )
    answer = anonymous.get("/open311/v2/services.json", headers={"Accept-Language": "en"})
    assert answer.headers["content-language"] == "en"
    assert "Accept-Language" in answer.headers["vary"]


def test_service_definitions_carry_the_attributes_a_subclass_needs(
    anonymous: TestClient, demo: Platform
) -> None:
    component = both(anonymous, "/open311/v2/services/C0101", "service_definition")
    assert component["service_code"] == "C0101"
    codes = {a["code"]: a for a in component["attributes"]}
    assert set(codes) == {"object_code", "hazard"}
    assert codes["hazard"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in codes["hazard"]["values"]} == {"true", "false"}
    event = both(anonymous, "/open311/v2/services/E0102", "service_definition")
    assert event == {"service_code": "E0102", "attributes": []}
    lower = valid(anonymous.get("/open311/v2/services/c0101.json"), "service_definition")
    assert lower["service_code"] == "C0101"


def test_unknown_service_codes_resources_and_formats_answer_in_the_spec_error_format(
    anonymous: TestClient, demo: Platform
) -> None:
    errors = both(anonymous, "/open311/v2/services/X9999", "errors", 404)
    assert errors[0]["code"] == 404 and "X9999" in errors[0]["description"]
    valid(anonymous.get("/open311/v2/nothing/here.json"), "errors", 404)
    valid(anonymous.get("/open311/v2/services.yaml"), "errors", 404)
    parsed_xml(anonymous.get("/open311/v2/requests/NOPE.xml"), "errors", 404)
    # a broken bearer header fails in a dependency: still the Open311 format
    refused = anonymous.get("/open311/v2/services.json", headers={"Authorization": "Basic x"})
    assert valid(refused, "errors", 401)[0]["code"] == 401


def test_a_configured_jurisdiction_is_checked(anonymous: TestClient, demo: Platform) -> None:
    demo.settings.open311_jurisdiction_id = "yingpu.qingpu.sh.cn"
    assert anonymous.get(
        "/open311/v2/services.json", params={"jurisdiction_id": "yingpu.qingpu.sh.cn"}
    ).is_success
    wrong = anonymous.get("/open311/v2/services.json", params={"jurisdiction_id": "elsewhere"})
    assert "jurisdiction_id" in valid(wrong, "errors", 404)[0]["description"]


# --- posting ----------------------------------------------------------------------------------


def test_a_request_becomes_a_citizen_case_and_reads_back_without_contacts(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    answer = post(
        anonymous,
        service_code="C0101",
        phone=PHONE,
        email=EMAIL,
        first_name="伟",
        last_name="张",
        media_url="https://example.org/media/cover.jpg",
        description=f"井盖缺失，请回电 {PHONE} 或 {EMAIL}",
        **{"attribute[hazard]": "true", "attribute[object_code]": "3101180010000001"},
    )
    made = valid(answer, "request_created", 201)[0]
    assert made["service_notice"] and made["account_id"] is None
    number, token = made["service_request_id"], made["token"]
    case = case_of(client, number)
    assert case["channel"] == "citizen_qr" and case["status"] == "reported"
    assert case["urgency"] == "urgent"  # a component hazard, as the seed says
    assert case["position"] == {"lng": CENTRE[0], "lat": CENTRE[1]}

    record = both(anonymous, f"/open311/v2/requests/{number}", "service_requests")[0]
    assert record["service_request_id"] == number
    assert record["status"] == "open" and record["service_code"] == "C0101"
    assert record["service_name"] == "上水井盖"
    assert (record["lat"], record["long"]) == (CENTRE[1], CENTRE[0])
    assert record["media_url"] == "https://example.org/media/cover.jpg"
    assert record["requested_datetime"] == "2020-06-24T09:30:00+08:00"
    assert record["agency_responsible"] == "一体化养护公司"
    expected = datetime.fromisoformat(record["expected_datetime"])
    assert expected > datetime.fromisoformat(record["requested_datetime"])
    assert "139****5678" in record["description"] and "z***@example.com" in record["description"]
    for text in (answer.text, json.dumps(record, ensure_ascii=False)):
        assert PHONE not in text and EMAIL not in text and "张伟" not in text

    tokens = both(anonymous, f"/open311/v2/tokens/{token}", "tokens")
    assert tokens == [{"service_request_id": number, "token": token}]
    valid(anonymous.get("/open311/v2/tokens/unknown-token.json"), "errors", 404)

    with demo.uow() as uow:
        stored = uow.cases.get_by_number(number)
        assert stored is not None
        citizen = uow.points.citizen(stored.extra["citizen_id"])
    assert citizen is not None and citizen.phone == "139****5678" and citizen.nickname == "张伟"


def test_json_bodies_and_xml_answers(anonymous: TestClient, demo: Platform) -> None:
    body = {
        "api_key": KEY,
        "service_code": "C0101",
        "lat": CENTRE[1],
        "long": CENTRE[0],
        "attribute": {"hazard": "false"},
        "description": "JSON",
    }
    first = anonymous.post("/open311/v2/requests.json", json=body, headers={"Idempotency-Key": "j"})
    made = valid(first, "request_created", 201)
    again = anonymous.post("/open311/v2/requests.xml", json=body, headers={"Idempotency-Key": "j"})
    same_in_xml(made, again, "request_created", 200)
    assert again.headers["idempotent-replayed"] == "true"


def test_posting_is_idempotent_per_application_and_key(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    first = valid(post(anonymous, key="phone-42"), "request_created", 201)
    replay = post(anonymous, key="phone-42")
    assert valid(replay, "request_created", 200) == first
    assert replay.headers["idempotent-replayed"] == "true"
    different = post(anonymous, key="phone-42", description="另一件事 / something else")
    assert "Idempotency-Key" in valid(different, "errors", 409)[0]["description"]
    second = created(anonymous)  # no key: a new request each time
    assert second["service_request_id"] != first[0]["service_request_id"]
    listed = both(anonymous, "/open311/v2/requests", "service_requests")
    assert len(listed) == 2
    assert client.get("/api/v1/cases").json()["total"] == 2
    assert count_intakes(demo.engine) == 2


def test_the_same_request_sent_twice_at_once_is_one_request(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(anonymous, key="twice-at-once"), range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 201], [a.text for a in answers]
    assert len({json.dumps(valid(a, "request_created", a.status_code)) for a in answers}) == 1
    assert client.get("/api/v1/cases").json()["total"] == 1
    assert count_intakes(demo.engine) == 1


BAD_REQUESTS: list[tuple[dict[str, Any], int, str]] = [
    ({"api_key": None}, 403, "api_key"),
    ({"api_key": "not-a-key"}, 403, "api_key"),
    ({"service_code": None}, 400, "service_code"),
    ({"service_code": "E9999"}, 404, "E9999"),
    ({"lat": "31.23", "long": "121.47"}, 400, "outside the sub-district"),
    ({"lat": "0", "long": "0"}, 400, "not in China"),
    ({"long": None}, 400, "long"),
    ({"lat": "north"}, 400, "lat"),
    ({"lat": None, "long": None}, 400, "lat & long"),
    ({"lat": None, "long": None, "address_id": "77"}, 400, "address_id"),
    ({"lat": None, "long": None, "address_string": "火星路1号"}, 400, "address"),
    ({"attribute[colour]": "red"}, 400, "attribute[colour]"),
    ({"service_code": "C0101", "attribute[hazard]": "maybe"}, 400, "hazard"),
    ({"service_code": "C0101", "attribute[object_code]": "ABC"}, 400, "object_code"),
    ({"media_url": "ftp://example.org/x.jpg"}, 400, "media_url"),
    ({"phone": "12345"}, 400, "phone"),
    ({"description": "长" * 4001}, 400, "description"),
    ({"address_string": "路" * 201}, 400, "address_string"),
]


def test_bad_requests_are_refused_with_the_spec_errors_and_leave_nothing(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    for changes, status, words in BAD_REQUESTS:
        answer = post(anonymous, **changes)
        error = valid(answer, "errors", status)[0]
        assert error["code"] == status and words in error["description"], (changes, error)
        same_in_xml([error], post(anonymous, "xml", **changes), "errors", status)
    assert client.get("/api/v1/cases").json()["total"] == 0
    assert count_intakes(demo.engine) == 0


def test_malformed_bodies_and_uploads_are_refused(anonymous: TestClient, demo: Platform) -> None:
    not_json = anonymous.post(
        "/open311/v2/requests.json", content=b"{", headers={"content-type": "application/json"}
    )
    assert "JSON" in valid(not_json, "errors", 400)[0]["description"]
    nul = anonymous.post("/open311/v2/requests.xml", json=fields(description="a\u0000b"))
    assert "NUL" in parsed_xml(nul, "errors", 400)[0]["description"]
    nul_query = anonymous.get("/open311/v2/requests.json", params={"status": "open\u0000"})
    assert "NUL" in valid(nul_query, "errors", 400)[0]["description"]
    nul_form = anonymous.post("/open311/v2/requests.json", data=fields(description="a\u0000"))
    valid(nul_form, "errors", 400)
    listed = anonymous.post("/open311/v2/requests.json", json=[1, 2])
    valid(listed, "errors", 400)
    nested = anonymous.post("/open311/v2/requests.json", json={**fields(), "lat": {"x": 1}})
    valid(nested, "errors", 400)
    two = anonymous.post(
        "/open311/v2/requests.json",
        data=fields(),
        files=[("media", ("a.png", io.BytesIO(png()), "image/png"))] * 2,
    )
    assert "one file" in valid(two, "errors", 400)[0]["description"]
    text = anonymous.post(
        "/open311/v2/requests.json",
        data=fields(),
        files={"media": ("a.txt", io.BytesIO(b"not a picture"), "text/plain")},
    )
    valid(text, "errors", 400)
    both_ways = anonymous.post(
        "/open311/v2/requests.json",
        data=fields(media_url="https://example.org/a.jpg"),
        files={"media": ("a.png", io.BytesIO(png()), "image/png")},
    )
    assert "media_url" in valid(both_ways, "errors", 400)[0]["description"]
    assert count_intakes(demo.engine) == 0


def test_a_photo_uploaded_as_media_is_served_as_the_media_url(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    def upload() -> httpx.Response:
        return anonymous.post(
            "/open311/v2/requests.json",
            data=fields(),
            files={"media": ("p.png", io.BytesIO(png(3, 3)), "image/png")},
            headers={"Idempotency-Key": "with-photo"},
        )

    made = valid(upload(), "request_created", 201)
    assert valid(upload(), "request_created", 200) == made
    number = made[0]["service_request_id"]
    record = both(anonymous, f"/open311/v2/requests/{number}", "service_requests")[0]
    assert record["media_url"].startswith("http://testserver/open311/v2/media/")
    served = anonymous.get(record["media_url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content.startswith(b"\x89PNG")
    case = case_of(client, number)
    detail = client.get(f"/api/v1/cases/{case['id']}").json()
    assert [p["id"] for p in detail["photos"]] == [record["media_url"].rsplit("/", 1)[-1]]

    # photos of other cases are not public
    other = client.post(
        "/api/v1/cases",
        data={
            "case": json.dumps(
                {
                    "channel": "citizen_qr",
                    "subclass": "E0102",
                    "position": {"lng": CENTRE[0], "lat": CENTRE[1]},
                }
            )
        },
        files={"photos": ("q.png", io.BytesIO(png(4, 4)), "image/png")},
        headers=client.headers_for("gateway"),  # type: ignore[attr-defined]
    )
    assert other.status_code == 201, other.text
    hidden = client.get(f"/api/v1/cases/{other.json()['id']}").json()["photos"][0]["id"]
    valid(anonymous.get(f"/open311/v2/media/{hidden}"), "errors", 404)


def test_an_address_from_the_gazetteer_places_the_request(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    made = created(anonymous, lat=None, long=None, address_string="城中公园")
    case = case_of(client, made["service_request_id"])
    assert case["grid"] is not None and case["address"] == "城中公园"


def test_an_application_bound_to_another_channel_and_a_revoked_key(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    raw, application = open311.register_application(
        demo.uow(), demo.clock, "街道热线对接", channel="hotline"
    )
    assert raw.startswith("o311_") and application.channel == "hotline"
    made = created(anonymous, api_key=raw)
    case = case_of(client, made["service_request_id"])
    assert case["channel"] == "hotline" and case["status"] == "dispatched"
    open311.revoke_application(demo.uow(), demo.clock, "街道热线对接")
    assert valid(post(anonymous, api_key=raw), "errors", 403)[0]["code"] == 403
    assert created(anonymous)["service_request_id"]  # the demo key still works


# --- reading back -----------------------------------------------------------------------------


def test_filters_and_the_default_span_of_90_days(
    client: TestClient, anonymous: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    old = created(anonymous)["service_request_id"]
    clock.tick(timedelta(days=100))
    cover = created(anonymous, service_code="C0101")["service_request_id"]
    rubbish = created(anonymous)["service_request_id"]

    def listed(**params: str) -> list[str]:
        body = both(anonymous, "/open311/v2/requests", "service_requests", params=params)
        return [r["service_request_id"] for r in body]

    assert listed() == [rubbish, cover]  # newest first, the last 90 days
    assert listed(start_date="2020-06-01T00:00:00+08:00") == [old]  # 90 days from the start
    assert listed(end_date="2020-07-01T00:00:00Z") == [old]  # 90 days up to the end
    both_spans = {"start_date": "2020-06-01T00:00:00Z", "end_date": "2020-12-31T00:00:00Z"}
    assert listed(**both_spans) == [rubbish, cover, old]
    assert listed(**both_spans, service_code="C0101") == [cover]
    assert listed(**both_spans, service_code="C0101,E0102") == [rubbish, cover, old]
    repeated = anonymous.get(
        "/open311/v2/requests.json",
        params=[("service_code", "C0101"), ("service_code", "E0102"), *both_spans.items()],
    )
    assert len(valid(repeated, "service_requests")) == 3
    assert listed(service_request_id=f"{old},{cover}", status="closed") == [cover, old]

    case = case_of(client, rubbish)
    rejected = client.post(
        f"/api/v1/cases/{case['id']}/actions/reject",
        json={"reason": f"重复上报，已联系 {PHONE}", "reason_kind": "duplicate"},
        headers=client.headers_for(OPERATOR),  # type: ignore[attr-defined]
    )
    assert rejected.status_code == 200, rejected.text
    closed = both(
        anonymous, "/open311/v2/requests", "service_requests", params={"status": "closed"}
    )
    assert [r["service_request_id"] for r in closed] == [rubbish]
    assert closed[0]["expected_datetime"] is None
    assert "重复上报" in closed[0]["status_notes"] and PHONE not in closed[0]["status_notes"]
    assert listed(status="open") == [cover]
    assert listed(status="open,closed") == [rubbish, cover]
    assert closed[0]["updated_datetime"] >= closed[0]["requested_datetime"]

    for params in (
        {"status": "pending"},
        {"start_date": "yesterday"},
        {"start_date": "2020-06-01T00:00:00"},
        {"start_date": "2020-12-01T00:00:00Z", "end_date": "2020-06-01T00:00:00Z"},
    ):
        valid(anonymous.get("/open311/v2/requests.json", params=params), "errors", 400)


def test_only_requests_that_came_through_open311_are_listed(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    patrol = client.post(
        "/api/v1/cases",
        json={
            "channel": "citizen_qr",
            "subclass": "E0102",
            "position": {"lng": CENTRE[0], "lat": CENTRE[1]},
        },
        headers=client.headers_for("gateway"),  # type: ignore[attr-defined]
    )
    assert patrol.status_code == 201, patrol.text
    assert both(anonymous, "/open311/v2/requests", "service_requests") == []
    number = patrol.json()["number"]
    valid(anonymous.get(f"/open311/v2/requests/{number}.json"), "errors", 404)


def test_the_request_query_follows_the_spec() -> None:
    now = datetime(2020, 6, 24, 1, 30, tzinfo=UTC)
    default = open311.request_query(now)
    assert (default.start, default.end, default.limit) == (now - timedelta(days=90), None, 1000)
    chosen = open311.request_query(now, "A1, B2", "C0101", "nonsense", None, "bogus")
    assert chosen.numbers == ("A1", "B2") and not chosen.subclasses and chosen.start is None
    with pytest.raises(InvalidInput):
        open311.request_query(now, status="bogus")
    spaced = open311.request_query(now, start_date="2020-06-01T00:00:00 08:00")
    assert spaced.start is not None and spaced.start.utcoffset() == timedelta(hours=8)


def test_contacts_in_free_text_are_masked() -> None:
    text = "张先生 13912345678、+86 139 1234 5678，座机 021-59721234，邮箱 wei@example.com"
    masked = open311.mask_contacts(text)
    assert "13912345678" not in masked and "1234 5678" not in masked
    assert "59721234" not in masked and "wei@example.com" not in masked
    assert masked.count("139****5678") == 2 and "w***@example.com" in masked


# --- the demo and the command line -----------------------------------------------------------


def test_the_demo_holds_one_application_with_the_demo_key(demo: Platform) -> None:
    applications = open311.list_applications(demo.uow())
    assert [(a.name, a.channel) for a in applications] == [("demo-open311", "citizen_qr")]
    assert open311.resolve_api_key(demo.uow(), demo.clock, KEY).name == "demo-open311"
    with demo.uow() as uow:  # stored hashed, never in clear
        stored = uow.open311.application_by_key(open311.key_hash(KEY))
    assert stored is not None


def test_the_apps_commands(db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(cli, ["apps", "add", "随申办", "--channel", "citizen_qr"])
    assert added.exit_code == 0, added.output
    raw = added.output.strip().splitlines()[-1]
    assert raw.startswith("o311_")
    listed = runner.invoke(cli, ["apps", "list"])
    assert listed.exit_code == 0 and "随申办" in listed.output and raw not in listed.output
    twice = runner.invoke(cli, ["apps", "add", "随申办"])
    assert twice.exit_code == 1
    wrong = runner.invoke(cli, ["apps", "add", "other", "--channel", "fax"])
    assert wrong.exit_code == 1 and "channel" in wrong.output
    assert runner.invoke(cli, ["apps", "revoke", "随申办"]).exit_code == 0
    assert runner.invoke(cli, ["apps", "revoke", "nobody"]).exit_code == 1
    with db.connect() as connection:
        rows = connection.exec_driver_sql("SELECT key_hash, revoked_at FROM open311_applications")
        (stored, revoked_at), *_ = rows.all()
    assert stored == open311.key_hash(raw) and revoked_at is not None
