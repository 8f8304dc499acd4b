"""Every route declares its permission, and every role is allowed or refused exactly as
the role table says — walked over all routes of the app with every role."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from chengyun.domain.access import ROLE_PERMISSIONS, Permission, Role, ScopeKind
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.api.security import RouteInfo, all_routes, route_permission
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import issue_token, provision_accounts
from chengyun.services.records import NewAccount

#: Framework pages that are public by nature: the API documentation and its assets.
FRAMEWORK = {"/docs", "/openapi.json", "/", "/static"}
SAMPLE = {
    "case_id": "987654",
    "number": "NOBODY-9",
    "code": "E0102",
    "action": "accept",
    "photo_id": "nothing",
    "token_id": "987654",
    # integrations: sample values for new path parameters below
    "format": "json",  # Open311: /open311/v2/….{format}
    "service_code": "E0102",
    "service_request_id": "NOBODY-9",
    "camera_id": "NO-SUCH-CAMERA",
    "verdict": "confirmed",
    "shop_id": "987654",
    "shop_token": "AQAAAAEAAWK1E5j8dnGx8TVnlYuQaoQ",
    "follow_token": "no-such-follow-token-at-all",
    "account_id": "987654",
}
SCOPES = {
    Role.GRID_CHIEF: (ScopeKind.GRID, "310118002900001"),
    Role.DEPUTY_GRID_CHIEF: (ScopeKind.GRID, "310118002900001"),
    Role.PATROL_MEMBER: (ScopeKind.GRID, "310118002900001"),
    Role.UNIT_LEADER: (ScopeKind.UNIT, "310118002001001"),
    Role.DEPARTMENT_HANDLER: (ScopeKind.DEPARTMENT, "police"),
}


def api_routes(platform: Platform) -> list[RouteInfo]:
    return [r for r in all_routes(create_app(platform=platform)) if isinstance(r.route, APIRoute)]


def test_every_route_declares_a_permission(platform: Platform) -> None:
    routes = all_routes(create_app(platform=platform))
    assert len(routes) > 40  # routers included under prefixes are walked too
    missing = [
        f"{sorted(r.methods)} {r.path}"
        for r in routes
        if isinstance(r.route, APIRoute) and route_permission(r.route) is None
    ]
    assert missing == [], "routes without a declared permission: " + ", ".join(missing)
    others = [
        r.path
        for r in routes
        if isinstance(r.route, Route | Mount)
        and not isinstance(r.route, APIRoute)
        and r.path not in FRAMEWORK
    ]
    assert others == [], f"non-API routes must be APIRoutes with a permission: {others}"


def test_dependencies_that_never_wait_are_not_sent_to_the_thread_pool(
    platform: Platform,
) -> None:
    """FastAPI runs a plain ``def`` dependency in its thread pool: for the platform and the
    unit of work, which every route asks for and which never wait, that hop cost about a
    tenth of a small request. The route functions themselves may be plain (they read the
    database); the shared dependencies in ``deps`` and ``security`` may not."""

    def plain(dependant: Any) -> Iterator[str]:
        for dependency in dependant.dependencies:
            call = dependency.call
            module = getattr(call, "__module__", "")
            if module.startswith("chengyun.entrypoints.api.") and not (
                inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
            ):
                yield f"{module}.{call.__qualname__}"
            yield from plain(dependency)

    found = {
        name
        for r in api_routes(platform)
        if isinstance(r.route, APIRoute)
        for name in plain(r.route.dependant)
        if name.startswith(("chengyun.entrypoints.api.deps.", "chengyun.entrypoints.api.security."))
    }
    assert found == set()


def _path(route: RouteInfo) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m.group(1), "x"), route.path)


def _refused_for_permission(answer) -> bool:
    """A 401/403 given because of who is asking (not a CSRF check or a missing case)."""
    if answer.status_code not in (401, 403):
        return False
    try:
        kinds = {d.get("type") for d in answer.json().get("detail", [])}
    except ValueError:
        return False
    return bool(kinds & {"forbidden", "anonymous", "token"})


def _tokens(platform: Platform) -> dict[Role, dict[str, str]]:
    accounts = []
    for role in Role:
        kind, code = SCOPES.get(role, (ScopeKind.SUB_DISTRICT, None))
        accounts.append(
            NewAccount(
                f"walk-{role.value}",
                None,
                role.value,
                kind.value,
                code,
                person_number=f"WALK-{role.value}",
            )
        )
    provision_accounts(platform.uow(), platform.clock, accounts)
    headers = {}
    with platform.uow() as uow:
        made = {r: uow.accounts.by_username(f"walk-{r.value}") for r in Role}
    for role, account in made.items():
        assert account is not None
        raw, _ = issue_token(platform.uow(), platform.clock, account, "walk")
        headers[role] = {"Authorization": f"Bearer {raw}"}
    return headers


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r.value if r else "anonymous")
def test_every_route_with_every_role(platform: Platform, role: Role | None) -> None:
    headers = _tokens(platform)[role] if role else {}
    granted = ROLE_PERMISSIONS[role] | {Permission.PUBLIC} if role else {Permission.PUBLIC}
    wrong = []
    with TestClient(create_app(platform=platform), raise_server_exceptions=False) as client:
        for route in api_routes(platform):
            permission = route_permission(route.route)
            for method in sorted(route.methods - {"HEAD"}):
                answer = client.request(method, _path(route), headers=headers, json={})
                allowed = permission in granted
                refused = _refused_for_permission(answer)
                if allowed and refused:
                    wrong.append(f"{method} {route.path}: {answer.status_code} but {permission}")
                if not allowed and (not refused or answer.status_code != (403 if role else 401)):
                    wrong.append(f"{method} {route.path}: {answer.status_code}, expected refusal")
                assert answer.status_code < 500, f"{method} {route.path}: {answer.text}"
    assert wrong == []
