"""The audit record of a change made over HTTP (审计留痕): who (the request's principal),
what (method and route template), where (the path). The ``Audit`` middleware writes it
in a transaction of its own after the change; an endpoint whose service takes an
``AuditEntry`` has it written in the change's own transaction and says so with
``written_with_change``, and the middleware then leaves the request alone."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from chengyun.entrypoints.api.deps import kept_by_app
from chengyun.entrypoints.api.security import RouteInfo, all_routes
from chengyun.services.accounts import AuditEntry

#: Routes that audit themselves, with their outcome (sign-ins).
QUIET = frozenset({"/api/v1/auth/token"})
_WRITTEN = "audit_written"


def route_templates(app: Any) -> tuple[list[RouteInfo], dict[int, str]]:
    """Every route of ``app``, and the path template of each route included once (by the
    route's ``id``); built on the first call: the routes do not change once the app
    serves."""

    def index() -> tuple[list[RouteInfo], dict[int, str]]:
        routes = all_routes(app)
        paths: dict[int, set[str]] = {}
        for info in routes:
            paths.setdefault(id(info.route), set()).add(info.path)
        # the route the router chose, when it is included once (else its path is ambiguous)
        chosen = {route: found.pop() for route, found in paths.items() if len(found) == 1}
        return routes, chosen

    return kept_by_app(app, "route_templates", index)


def route_template(request: Request) -> str:
    """The matched route's path template (``/api/v1/cases/{case_id}``), else the path."""
    routes, chosen = route_templates(request.app)
    matched = request.scope.get("route")
    if matched is not None and id(matched) in chosen:
        return str(chosen[id(matched)])
    for info in routes:
        if (
            request.method in info.methods
            and info.path_regex is not None
            and (info.path_regex.match(request.url.path))
        ):
            return str(info.path)
    return request.url.path


def entry_for(scope: Scope, status: int) -> AuditEntry | None:
    """The record of the request in ``scope`` answered with ``status``; ``None`` for a
    route that audits itself."""
    request = Request(scope)
    template = route_template(request)
    if template in QUIET:
        return None
    principal = scope.get("state", {}).get("principal")
    return AuditEntry(
        principal.username if principal else "anonymous",
        f"{request.method} {template}",
        request.url.path,
        {"status": status},
    )


def written_with_change(request: Request) -> None:
    """The request's record was committed with its change: the middleware adds none."""
    request.scope.setdefault("state", {})[_WRITTEN] = True


def written(scope: Scope) -> bool:
    return bool(scope.get("state", {}).get(_WRITTEN))
