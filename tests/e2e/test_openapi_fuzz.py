"""Schemathesis against the app's own OpenAPI: generated requests (valid and not) never
produce a server error, and every response matches its documented schema."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import issue_token

OPERATOR = "YPC-ZB01"
EXAMPLES = int(os.environ.get("CHENGYUN_FUZZ_EXAMPLES", "15"))


def test_no_server_errors_and_responses_match_the_schema(demo: Platform) -> None:
    with demo.uow() as uow:
        account = uow.accounts.by_username(OPERATOR)
    assert account is not None
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform=demo))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        # a token per operation: fuzzing DELETE /auth/tokens/{id} or logout may end one
        raw, _ = issue_token(demo.uow(), demo.clock, account, "fuzz")
        statuses = fuzz_operation(operation, {"Authorization": f"Bearer {raw}"})
        assert statuses and statuses.count(401) < len(statuses), operation.label


def fuzz_operation(operation: Any, headers: dict[str, str]) -> list[int]:
    """Run generated cases of one operation; the status codes it answered."""
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
        statuses.append(response.status_code)

    fuzz()
    return statuses
