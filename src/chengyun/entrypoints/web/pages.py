"""Server-rendered pages: signing in and out (the command centre and phone pages follow)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import TooManyRequests, Unauthorized
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    Argon2Passwords,
    limit_anonymous,
    requires,
    session_cookie,
    signed_in,
)
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import authenticate, sign_out_everywhere
from chengyun.services.records import Account

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
LOGIN_CSRF = "chengyun_login_csrf"
router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]


def _safe_next(target: str | None) -> str:
    """Only local paths, so the login page cannot be used to send people elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/docs"


def _login_page(
    request: Request,
    platform: Any,
    *,
    error: str = "",
    username: str = "",
    next_: str = "/docs",
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(24)
    try:
        sub_district = platform.territory_index.get().territory.sub_district.name
    except Exception:  # no territory yet: the page still works
        sub_district = ""
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            "csrf": token,
            "error": error,
            "username": username,
            "next": next_,
            "sub_district": sub_district,
            "demo": platform.settings.mode == "demo",
            "wecom_login": platform.settings.wecom_enabled,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        httponly=True,
        samesite="strict",
        secure=platform.settings.mode == "production",
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, platform: PlatformDep, _: Anyone, next: str | None = None
) -> Response:
    return _login_page(request, platform, next_=_safe_next(next))


@router.post("/login", dependencies=[Depends(limit_anonymous)])
def login(
    request: Request,
    platform: PlatformDep,
    _: Anyone,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/docs",
) -> Response:
    target = _safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _login_page(
            request,
            platform,
            error="页面已过期，请重新提交 / the page expired: please sign in again",
            username=username,
            next_=target,
            status=403,
        )
    try:
        account = authenticate(
            platform.uow(), platform.clock, Argon2Passwords(), username, password
        )
    except (Unauthorized, TooManyRequests) as failure:
        status = 429 if isinstance(failure, TooManyRequests) else 401
        return _login_page(
            request, platform, error=failure.message, username=username, next_=target, status=status
        )
    response = signed_in_redirect(platform, account, target)
    response.delete_cookie(LOGIN_CSRF)
    return response


def signed_in_redirect(platform: Platform, account: Account, target: str) -> RedirectResponse:
    """On to ``target`` with the session cookie of ``account`` (any way of signing in)."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(platform.settings.secret_key, account.id, account.session_epoch),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=platform.settings.mode == "production",
    )
    return response


@router.post("/logout")
def logout(
    platform: PlatformDep,
    principal: Annotated[Principal | None, Depends(requires(Permission.AUTHENTICATED))],
) -> Response:
    sign_out_everywhere(platform.uow(), platform.clock, signed_in(principal))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request, _: Anyone) -> Response:
    """The API documentation, from vendored Swagger UI (no CDN, no inline script)."""
    return TEMPLATES.TemplateResponse(request, "docs.html", {})


@router.get("/")
def root(_: Anyone) -> RedirectResponse:
    return RedirectResponse("/docs")
