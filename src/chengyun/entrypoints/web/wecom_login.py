"""Staff sign-in through government WeChat (政务微信网页授权): the browser goes to the
authorize page with a signed state bound to a cookie, comes back with a code, the code
becomes a WeChat user id, the user id the person, the person their own account — and the
browser gets the same session cookie as after the password sign-in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chengyun.adapters.http import PeerError
from chengyun.adapters.wecom import InvalidCode, NotAMember
from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import Forbidden
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import (
    limit_anonymous,
    requires,
)
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.staff_channels import wecom_client
from chengyun.entrypoints.web.pages import _login_page, signed_in_redirect
from chengyun.services.wecom_users import sign_in_with_wecom

STATE_COOKIE = "chengyun_wecom_state"
STATE_SECONDS = 600
CALLBACK = "/login/wecom/callback"
LANDING = "/command"
router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]


def _sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), f"wecom-state:{text}".encode(), hashlib.sha256).hexdigest()


def new_state(secret: str) -> str:
    """A state the authorize page hands back unchanged: a nonce and its signature, letters
    and digits only (at most 128 bytes, as the server allows)."""
    nonce = secrets.token_hex(16)
    return nonce + _sign(secret, nonce)[:32]


def _state_cookie(secret: str, state: str, next_: str) -> str:
    body = json.dumps({"s": state, "n": next_, "x": int(time.time()) + STATE_SECONDS})
    payload = base64.urlsafe_b64encode(body.encode()).decode()
    return f"{payload}.{_sign(secret, payload)}"


def check_state(secret: str, state: str, cookie: str) -> str | None:
    """The page to land on if ``state`` is ours, unexpired and this browser's; else None."""
    if len(state) != 64 or not hmac.compare_digest(state[32:], _sign(secret, state[:32])[:32]):
        return None
    try:
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, _sign(secret, payload)):
            return None
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        if int(data["x"]) < time.time() or not hmac.compare_digest(str(data["s"]), state):
            return None
        target = str(data["n"])
    except (ValueError, KeyError, TypeError):
        return None
    return target if target.startswith("/") and not target.startswith("//") else LANDING


def _refused(request: Request, platform: Platform, message: str, status: int) -> Response:
    """The sign-in page again, saying why (the password form still works)."""
    response = _login_page(request, platform, error=message, next_=LANDING, status=status)
    response.delete_cookie(STATE_COOKIE)
    return response


NOT_CONFIGURED = "未启用政务微信登录 / government WeChat sign-in is not configured here"


@router.get("/login/wecom", response_class=HTMLResponse)
def wecom_start(
    request: Request,
    platform: PlatformDep,
    _: Anyone,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """To the government WeChat authorize page, with a signed state for this browser."""
    client = wecom_client(platform)
    if client is None:
        return _refused(request, platform, NOT_CONFIGURED, 404)
    target = next if next and next.startswith("/") and not next.startswith("//") else LANDING
    secret = platform.settings.secret_key
    state = new_state(secret)
    redirect_uri = platform.settings.public_base_url.rstrip("/") + CALLBACK
    response = RedirectResponse(client.authorize_url(redirect_uri, state), status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        _state_cookie(secret, state, target),
        max_age=STATE_SECONDS,
        httponly=True,
        samesite="lax",  # the authorize page sends the browser back with a top-level GET
        secure=platform.settings.mode == "production",
    )
    return response


@router.get(CALLBACK, response_class=HTMLResponse, dependencies=[Depends(limit_anonymous)])
def wecom_callback(
    request: Request,
    platform: PlatformDep,
    _: Anyone,
    code: Annotated[str | None, Query(max_length=512)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Back from the authorize page: check the state, turn the code into the person's
    account and sign the browser in."""
    client = wecom_client(platform)
    if client is None:
        return _refused(request, platform, NOT_CONFIGURED, 404)
    if not code or not state:
        return _refused(
            request,
            platform,
            "缺少授权码，请重新登录 / the sign-in came back without a code: sign in again",
            400,
        )
    target = check_state(platform.settings.secret_key, state, request.cookies.get(STATE_COOKIE, ""))
    if target is None:
        return _refused(
            request,
            platform,
            "登录请求无效或已过期，请重新点击政务微信登录 / the sign-in request is not valid "
            "here or has expired: start again with “Sign in with government WeChat”",
            403,
        )
    try:
        userid = client.user_for_code(code)
        account = sign_in_with_wecom(platform.uow(), platform.clock, userid)
    except (InvalidCode, NotAMember) as refused:
        message = (
            "授权码无效或已使用，请重新登录 / the sign-in code is invalid or was already used: "
            "sign in again"
            if isinstance(refused, InvalidCode)
            else str(refused)
        )
        return _refused(request, platform, message, 403)
    except Forbidden as refused:
        return _refused(request, platform, refused.message, 403)
    except PeerError:
        return _refused(
            request,
            platform,
            "政务微信暂时无法访问，请稍后再试或用密码登录 / government WeChat cannot be "
            "reached just now: try again later or sign in with your password",
            502,
        )
    response = signed_in_redirect(platform, account, target)
    response.delete_cookie(STATE_COOKIE)
    return response
