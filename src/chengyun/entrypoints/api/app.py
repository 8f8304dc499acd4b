"""The FastAPI application factory."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chengyun import __version__
from chengyun.config import Settings
from chengyun.entrypoints.api import errors, v1
from chengyun.entrypoints.api import open311 as open311_api
from chengyun.entrypoints.api.audit_trail import entry_for, route_templates, written
from chengyun.entrypoints.api.security import RateLimiter
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web import admin, command, dashboard, outbox_page, pages, wecom_login
from chengyun.entrypoints.web import citizen as citizen_pages
from chengyun.entrypoints.web import live as live_events
from chengyun.entrypoints.web import mobile as mobile_pages
from chengyun.services.accounts import audit

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
SWAGGER = "/static/vendor/swagger-ui"

DESCRIPTION = """
城运 chengyun — 一网统管城运网格管理平台 / city-operations grid management for a sub-district.

Errors answer with `{"message": "…", "detail": [{"loc": […], "msg": "…", "type": "…"}]}`:
the message says what was wrong and how to fix it, each detail names the place.
"""


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'"
)


NUL_FREE_TYPES = ("application/json", "application/x-www-form-urlencoded")
NUL_MESSAGE = "文本中不能含有 NUL 字符 / text may not contain NUL (\\u0000) characters"

# The three layers below are plain ASGI middleware rather than ``@app.middleware("http")``
# functions: Starlette's ``BaseHTTPMiddleware`` runs each request through an extra task,
# memory streams and a wrapped response per layer, which cost about as much CPU as a
# small route. Their order is as before: the NUL guard outside the audit, the audit
# outside the security headers (see ``create_app``).


def _header(scope: Scope, name: bytes) -> str:
    """The first value of a request header (``name`` in lower case), or ``""``."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


#: How a NUL is refused under a path prefix whose API has its own error format (Open311):
#: prefix → a function of the request's scope giving the answer.
NulAnswers = dict[str, Callable[[Scope], Response]]


class NulGuard:
    """Refuses a request whose query string, or JSON or form body, carries a NUL; the body
    it read is handed on to the app unchanged. The refusal is in the app's error format, or
    in the format ``answers`` gives for the request's path prefix."""

    def __init__(self, app: ASGIApp, answers: NulAnswers | None = None) -> None:
        self.app = app
        self.answers = answers if answers is not None else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"").lower():
            await self._refuse(scope, receive, send)
            return
        if not _header(scope, b"content-type").startswith(NUL_FREE_TYPES):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u0000" in body or b"\x00" in body or b"%00" in body:
            await self._refuse(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        own = next((a for prefix, a in self.answers.items() if path.startswith(prefix)), None)
        answer = (
            own(scope)
            if own is not None
            else JSONResponse(
                {
                    "message": NUL_MESSAGE,
                    "detail": [{"loc": ["body"], "msg": NUL_MESSAGE, "type": "nul_character"}],
                },
                status_code=422,
            )
        )
        await answer(scope, receive, send)


def install_nul_guard(app: FastAPI) -> None:
    """Text never carries NUL characters (PostgreSQL cannot store them): such a request is
    refused up front, naming the problem, instead of failing in the database. APIs with
    their own error format add their answer to ``app.state.nul_answers``."""
    app.state.nul_answers = {}
    app.add_middleware(NulGuard, answers=app.state.nul_answers)


class SecurityHeaders:
    """Adds the hardening headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, production: bool) -> None:
        self.app = app
        headers = [
            ("Content-Security-Policy", CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "same-origin"),
            ("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()"),
        ]
        if production:
            headers.append(("Strict-Transport-Security", "max-age=31536000"))
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI, production: bool) -> None:
    """A Content-Security-Policy without inline scripts, and the usual hardening headers."""
    app.add_middleware(SecurityHeaders, production=production)


class Audit:
    """Writes the audit record of a change that succeeded (an unsafe method answered below
    400) before the answer's first message goes out: who (the principal the request's
    authentication left in the request state), what (method and route template), where —
    unless the endpoint had it written in the change's own transaction."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        # the state dict exists before the app runs, so that the authentication's
        # ``request.state.principal`` lands in this very dict even if a router copies scope
        scope.setdefault("state", {})

        async def send_audited(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and message["status"] < 400
                and not written(scope)
            ):
                await self._record(scope, message["status"])
            await send(message)

        await self.app(scope, receive, send_audited)

    async def _record(self, scope: Scope, status: int) -> None:
        entry = entry_for(scope, status)
        if entry is None:
            return
        await run_in_threadpool(
            audit,
            self.platform.uow(),
            self.platform.clock,
            entry.actor,
            entry.action,
            entry.target,
            entry.details,
        )


def install_audit(app: FastAPI, platform: Platform) -> None:
    """Every change that succeeded goes into the hash-chained audit log: who, what, when."""
    app.add_middleware(Audit, platform=platform)


def telemetry_wanted(environ: Mapping[str, str]) -> bool:
    """Whether the operator set up OpenTelemetry (its ``OTEL_…`` variables, or FastAPI's
    ``FASTAPI_OTEL_AUTO_CONFIGURE=true``): only then does FastAPI's own instrumentation
    look for a configured provider on every request (a tenth of a small request's time)."""
    return environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true" or any(
        name.startswith("OTEL_") for name in environ
    )


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform(settings or Settings())
    app = FastAPI(
        title="chengyun 城运",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by the pages from vendored assets: intranets have no CDN
        redoc_url=None,
        telemetry=None
        if telemetry_wanted(os.environ)
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    app.state.rate_limiter = RateLimiter()
    errors.install(app)
    install_security_headers(app, production=platform.settings.mode == "production")
    install_audit(app, platform)
    install_nul_guard(app)
    # Routes are matched one after another in this order, 2 to 4 µs a route passed over:
    # the cases' first (intake, the case list and page: the busiest by far; their 6 routes
    # cost the others 25 µs), Open311's 9, the rest of /api/v1, then the pages.
    cases_api, *rest_of_v1 = v1.ROUTERS
    app.include_router(cases_api, prefix=v1.PREFIX)
    open311_api.install(app)  # the router, and NULs refused in the Open311 error format
    for router in rest_of_v1:
        app.include_router(router, prefix=v1.PREFIX)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.include_router(pages.router)
    app.include_router(command.router)
    # integrations and pages outside /api/v1 (/m/, /c/, /admin/ …), one line each
    app.include_router(outbox_page.router)
    app.include_router(citizen_pages.router)
    app.include_router(mobile_pages.router)
    app.include_router(live_events.router)
    app.include_router(wecom_login.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    return app


#: New objects (net of those freed) after which a server process collects its youngest
#: generation (``ready_to_serve``); Python's default is 700.
YOUNG_GC_THRESHOLD = 7000


def ready_to_serve(app: FastAPI) -> FastAPI:
    """Readies a server process's app before its first request, and returns it.

    - FastAPI builds its routers' route contexts on a router's first request: 50 to
      200 ms, paid by whoever comes first to each router after every start. They are
      built here, with the audit trail's index of route templates.
    - What the process made so far (modules, routes, schemas: some 200,000 objects) is
      moved out of the garbage collector's reach (``gc.freeze``). Otherwise every full
      collection walks it all again: under load one came every 2 to 3 seconds and took
      130 to 200 ms, during which the process answered nothing.
    - The youngest generation is collected after ``YOUNG_GC_THRESHOLD`` new objects
      rather than Python's 700. Nearly all a request makes is freed as soon as it is
      done with, yet at 700 a server process under the intake benchmark's load collected
      about 90 times a second (every 4 or 5 reports; one in a hundred a full collection
      of up to 15 ms), some 4 % of its CPU; at 7,000, about once in 10 seconds.

    For server processes only: what a frozen object holds is never collected, so a test
    making many apps would keep them all."""
    route_templates(app)
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
    return app
