"""The Open311 section of the API fuzz: generated requests to every ``/open311/v2``
operation never produce a server error, and every answer — successes and errors alike — is
a GeoReport document (JSON valid against the spec's schemas, XML with the spec's root);
generated submissions with a valid api_key either become requests or are refused in the
spec's error format, never half-written."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema_rs
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from tests.factories import CENTRE
from tests.integration.test_open311 import KEY, count_intakes, schema

EXAMPLES = int(os.environ.get("CHENGYUN_FUZZ_EXAMPLES", "15"))
SUCCESS = {
    "GET /open311/v2/discovery.{format}": ("discovery", "discovery"),
    "GET /open311/v2/services.{format}": ("services", "services"),
    "GET /open311/v2/services/{service_code}.{format}": (
        "service_definition",
        "service_definition",
    ),
    "POST /open311/v2/requests.{format}": ("request_created", "service_requests"),
    "GET /open311/v2/requests.{format}": ("service_requests", "service_requests"),
    "GET /open311/v2/requests/{service_request_id}.{format}": (
        "service_requests",
        "service_requests",
    ),
    "GET /open311/v2/tokens/{token}.{format}": ("tokens", "service_requests"),
}


def _header(headers: Any, name: str) -> str:
    value = headers.get(name) or headers.get(name.title()) or ""
    return str(value[0] if isinstance(value, list) else value)


def check_document(label: str, status: int, content_type: str, body: bytes) -> None:
    json_schema, root = SUCCESS[label] if status < 400 else ("errors", "errors")
    if content_type.startswith("application/json"):
        jsonschema_rs.Draft7Validator(schema(json_schema)).validate(json.loads(body))
    else:
        assert content_type.startswith("text/xml"), (label, status, content_type)
        assert ET.fromstring(body).tag == root, (label, status)


def test_every_open311_operation_answers_in_geo_report_form(demo: Platform) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform=demo))
    operations = [r.ok() for r in api.get_all_operations()]
    mine = [o for o in operations if o.path.startswith("/open311/")]
    assert {o.label for o in mine} == set(SUCCESS)
    for operation in mine:
        assert fuzz_operation(operation), operation.label


def fuzz_operation(operation: Any) -> list[int]:
    """Run generated cases of one operation, checking each answer; the statuses seen."""
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        seen.append(response.status_code)
        check_document(
            operation.label,
            response.status_code,
            _header(response.headers, "content-type"),
            response.content,
        )

    fuzz()
    return seen


numbers = st.floats(allow_nan=True, allow_infinity=True).map(str) | st.sampled_from(
    [str(CENTRE[1]), str(CENTRE[0]), "31.1505", "121.1102", "", " ", "1e400"]
)
texts = st.text(max_size=60) | st.sampled_from(["", "C0101", "E0102", "true", "13912345678"])
submissions = st.fixed_dictionaries(
    {"api_key": st.just(KEY)},
    optional={
        "service_code": st.sampled_from(["E0102", "C0101", "c0101", "", "X1", "E0102 "]),
        "lat": numbers,
        "long": numbers,
        "address_string": texts,
        "address_id": texts,
        "description": texts,
        "media_url": st.sampled_from(["https://example.org/a.jpg", "javascript:x", ""]) | texts,
        "phone": texts,
        "first_name": texts,
        "attribute[hazard]": texts,
        "attribute[object_code]": texts,
        "attribute[other]": texts,
    },
)


def test_generated_submissions_become_requests_or_clear_refusals(demo: Platform) -> None:
    with TestClient(create_app(platform=demo), raise_server_exceptions=False) as client:

        @given(data=submissions, fmt=st.sampled_from(["json", "xml"]))
        @settings(
            max_examples=EXAMPLES * 4,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def submit(data: dict[str, str], fmt: str) -> None:
            cleaned = {k: v.replace("\x00", "") for k, v in data.items()}
            answer = client.post(f"/open311/v2/requests.{fmt}", data=cleaned)
            assert answer.status_code in (200, 201, 400, 404), answer.text
            check_document(
                "POST /open311/v2/requests.{format}",
                answer.status_code,
                answer.headers["content-type"],
                answer.content,
            )

        submit()
        made = client.get("/open311/v2/requests.json").json()
    assert count_intakes(demo.engine) == len(made)  # every request taken in became a case
