"""The FastAPI application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from chengyun import __version__
from chengyun.config import Settings
from chengyun.entrypoints.api import errors
from chengyun.entrypoints.api.security import RateLimiter, all_routes
from chengyun.entrypoints.api.v1 import router as v1_router
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web import command, pages
from chengyun.services.accounts import audit

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
SWAGGER = "/static/vendor/swagger-ui"

DESCRIPTION = """
城运 chengyun — 一网统管城运网格管理平台 / city-operations grid management for a sub-district.

Errors answer with `{"message": "…", "detail": [{"loc": […], "msg": "…", "type": "…"}]}`:
the message says what was wrong and how to fix it, each detail names the place.
"""


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
QUIET = frozenset({"/api/v1/auth/token"})  # sign-ins audit themselves, with their outcome


CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'"
)


NUL_FREE_TYPES = ("application/json", "application/x-www-form-urlencoded")


def install_nul_guard(app: FastAPI) -> None:
    """Text never carries NUL characters (PostgreSQL cannot store them): such a request is
    refused up front, naming the problem, instead of failing in the database."""

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Any) -> Any:
        query = request.url.query.lower()
        bad = "%00" in query
        if not bad and request.headers.get("content-type", "").startswith(NUL_FREE_TYPES):
            body = await request.body()
            bad = b"\\u0000" in body or b"\x00" in body or b"%00" in body
        if bad:
            message = "文本中不能含有 NUL 字符 / text may not contain NUL (\\u0000) characters"
            return JSONResponse(
                {
                    "message": message,
                    "detail": [{"loc": ["body"], "msg": message, "type": "nul_character"}],
                },
                status_code=422,
            )
        return await call_next(request)


def install_security_headers(app: FastAPI, production: bool) -> None:
    """A Content-Security-Policy without inline scripts, and the usual hardening headers."""

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def _template(request: Request) -> str:
    """The matched route's path template (``/api/v1/cases/{case_id}``), else the path."""
    routes = request.app.state.__dict__.setdefault("_route_index", all_routes(request.app))
    for info in routes:
        if (
            request.method in info.methods
            and info.path_regex is not None
            and (info.path_regex.match(request.url.path))
        ):
            return str(info.path)
    return request.url.path


def install_audit(app: FastAPI, platform: Platform) -> None:
    """Every change that succeeded goes into the hash-chained audit log: who, what, when."""

    @app.middleware("http")
    async def audit_changes(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        if request.method in UNSAFE and response.status_code < 400:
            template = _template(request)
            if template not in QUIET:
                principal = getattr(request.state, "principal", None)
                actor = principal.username if principal else "anonymous"
                await run_in_threadpool(
                    audit,
                    platform.uow(),
                    platform.clock,
                    actor,
                    f"{request.method} {template}",
                    request.url.path,
                    {"status": response.status_code},
                )
        return response


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform(settings or Settings())
    app = FastAPI(
        title="chengyun 城运",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by the pages from vendored assets: intranets have no CDN
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.rate_limiter = RateLimiter()
    errors.install(app)
    install_security_headers(app, production=platform.settings.mode == "production")
    install_audit(app, platform)
    install_nul_guard(app)
    app.include_router(v1_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.include_router(pages.router)
    app.include_router(command.router)
    # integrations and pages outside /api/v1 (Open311, /m/, /c/, /admin/ …), one line each
    return app
