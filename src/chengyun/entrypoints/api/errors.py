"""Errors as HTTP answers, in one place: every kind of domain error has its status code,
and every answer says what was wrong, where, and how to fix it.

Body shape, shared with FastAPI's own validation errors::

    {"message": "…中文 / English…",
     "detail": [{"loc": ["body", "position", "lat"], "msg": "…", "type": "…"}]}
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from chengyun.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)

log = logging.getLogger(__name__)


def status_for(error: DomainError) -> int:
    if isinstance(error, Unauthorized):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, TooManyRequests):
        return 429
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    return 422


def error_body(error: DomainError) -> dict[str, object]:
    body: dict[str, object] = {
        "message": error.message,
        "detail": [
            {"loc": list(p.location), "msg": p.message, "type": p.kind} for p in error.problems
        ]
        or [{"loc": [], "msg": error.message, "type": error.code}],
    }
    allowed = getattr(error, "allowed", None)
    if allowed is not None:  # an action refused in this state: say what is possible instead
        body["allowed"] = [str(a) for a in allowed]
    return body


def invalid_body(
    error: ValidationError, prefix: tuple[str, ...] = ("body",)
) -> RequestValidationError:
    """A model validated by hand answers like FastAPI's own validation (422, located)."""
    return RequestValidationError(
        [{**e, "loc": (*prefix, *e.get("loc", ()))} for e in error.errors()]
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, error: DomainError) -> JSONResponse:
        headers = {}
        if isinstance(error, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, TooManyRequests):
            headers["Retry-After"] = str(error.retry_after)
        return JSONResponse(error_body(error), status_code=status_for(error), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        where = "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in detail[:5])
        return JSONResponse(
            jsonable_encoder(
                {"message": f"请求有误 / invalid request — {where}", "detail": detail}
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        message = str(error.detail)
        return JSONResponse(
            {"message": message, "detail": [{"loc": [], "msg": message, "type": "http"}]},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    async def _database_down(request: Request, error: Exception) -> JSONResponse:
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(error).__name__,
        )
        message = "数据库暂时不可用，请稍后重试 / the database is unavailable: retry shortly"
        return JSONResponse(
            {
                "message": message,
                "detail": [{"loc": [], "msg": message, "type": "database_unavailable"}],
            },
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "message": "服务器内部错误，已记录 / internal error; it has been logged",
                "detail": [{"loc": [], "msg": type(error).__name__, "type": "internal"}],
            },
            status_code=500,
        )
