"""Authentication and permissions for every route.

A request is made by a principal: a bearer token (``Authorization: Bearer cy_…``, for
phones and systems) or a signed session cookie (``chengyun_session``, for the pages).
Every route declares the permission it needs with ``requires(...)``; a test walks all
routes and fails for one that does not. Cookie-authenticated changes must carry the
CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from chengyun.adapters.db.account_repository import ACCOUNTS
from chengyun.adapters.passwords import hash_password, verify_password
from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import Forbidden, Problem, TooManyRequests, Unauthorized
from chengyun.entrypoints.api.deps import revision_cache
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import TokenCache, principal_for_session

SESSION_COOKIE = "chengyun_session"
SESSION_SECONDS = 12 * 3600
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Argon2Passwords:
    def verify(self, stored: str | None, password: str) -> bool:
        return verify_password(stored, password)

    def hash(self, password: str) -> str:
        return hash_password(password)


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def session_cookie(secret: str, account_id: int, epoch: int, now: float | None = None) -> str:
    body = json.dumps(
        {"a": account_id, "e": epoch, "x": int((now or time.time()) + SESSION_SECONDS)}
    )
    payload = base64.urlsafe_b64encode(body.encode()).decode()
    return f"{payload}.{_sign(secret, payload.encode())}"


def read_session(secret: str, value: str) -> tuple[int, int] | None:
    try:
        payload, signature = value.rsplit(".", 1)
        if not hmac.compare_digest(signature, _sign(secret, payload.encode())):
            return None
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        if int(data["x"]) < time.time():
            return None
        return int(data["a"]), int(data["e"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


def csrf_token(secret: str, principal: Principal) -> str:
    return _sign(secret, f"csrf:{principal.account_id}:{principal.username}".encode())[:32]


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _token_cache(request: Request) -> TokenCache:
    """The app's cache of whom bearer tokens speak for (one per app, made on first use)."""
    return revision_cache(
        request.app, _platform(request), TokenCache, lambda uow: uow.accounts.revision(), ACCOUNTS
    )


async def current_principal(request: Request) -> Principal | None:
    """The principal of the request, or ``None`` when anonymous (cached per request)."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    platform = _platform(request)
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized(
                "认证头格式错误 / malformed Authorization header",
                [Problem(("header", "Authorization"), "use: Bearer <token>", "format")],
            )
        principal = _token_cache(request).principal(platform.uow(), platform.clock, raw.strip())
        if principal is None:
            raise Unauthorized(
                "令牌无效、已过期或已吊销 / the token is unknown, expired or revoked",
                [Problem(("header", "Authorization"), "sign in again for a new token", "token")],
            )
    elif cookie := request.cookies.get(SESSION_COOKIE):
        session = read_session(platform.settings.secret_key, cookie)
        if session is not None:
            principal = principal_for_session(platform.uow(), *session)
        if principal is not None and request.method in UNSAFE:
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                form = await request.form()
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else None
            if not sent or not hmac.compare_digest(
                sent, csrf_token(platform.settings.secret_key, principal)
            ):
                raise Forbidden(
                    "缺少或错误的 CSRF 令牌 / missing or wrong CSRF token",
                    [
                        Problem(
                            ("header", "X-CSRF-Token"), "reload the page and submit again", "csrf"
                        )
                    ],
                )
    request.state.principal = principal
    return principal


def admitted(permission: Permission, principal: Principal | None) -> Principal | None:
    """``principal`` if it holds ``permission`` (anyone, anonymous too, for PUBLIC);
    otherwise the 401 or 403 that says why not."""
    if permission is Permission.PUBLIC:
        return principal
    if principal is None:
        raise Unauthorized(
            "请先登录 / sign in first",
            [
                Problem(
                    ("header", "Authorization"),
                    "send a bearer token from POST /api/v1/auth/token",
                    "anonymous",
                )
            ],
        )
    if not principal.may(permission):
        raise Forbidden(
            f"无权限：{permission.zh} / not allowed: {permission.en.lower()} "
            f"({permission.value}) is not part of the {principal.role.en.lower()} role",
            [Problem(("permission",), permission.value, "forbidden")],
        )
    return principal


def requires(permission: Permission) -> Callable[..., Any]:
    """A dependency that admits principals holding ``permission`` (anyone for PUBLIC).

    One dependency, not one depending on ``current_principal``: FastAPI's solving of
    dependencies, level by level, took about a fifth of a report's time in the event
    loop."""

    async def check(request: Request) -> Principal | None:
        return admitted(permission, await current_principal(request))

    check.permission = permission  # type: ignore[attr-defined]  # read by the route test
    return check


def signed_in(principal: Principal | None) -> Principal:
    """The principal of a route that required a permission (never ``None`` there)."""
    if principal is None:
        raise Unauthorized("请先登录 / sign in first")
    return principal


def route_permission(route: Any) -> Permission | None:
    """The permission a route declared, if any."""
    for dependency in route.dependant.dependencies:
        found = getattr(dependency.call, "permission", None)
        if isinstance(found, Permission):
            return found
    return None


class RateLimiter:
    """A token bucket per client address for anonymous endpoints (per process)."""

    def __init__(self, per_minute: int = 20, burst: int = 10) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (float(self.burst), moment))
        tokens = min(float(self.burst), tokens + (moment - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, moment)
            return False
        self._buckets[key] = (tokens - 1, moment)
        if len(self._buckets) > 10_000:  # forget the oldest clients
            for stale in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:1000]:
                del self._buckets[stale]
        return True


async def limit_anonymous(request: Request) -> None:
    """Refuse bursts of sign-in attempts from one client (429 with Retry-After)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(f"{request.url.path}:{client}"):
        error = TooManyRequests(
            "请求过于频繁，请稍后再试 / too many requests: slow down",
            [Problem(("client",), client, "rate_limit")],
        )
        error.retry_after = 10
        raise error


@dataclass(frozen=True)
class RouteInfo:
    """One route of the app as a client sees it: full path template, methods, the route."""

    path: str
    methods: frozenset[str]
    route: Any
    path_regex: Any


def all_routes(app: Any) -> list[RouteInfo]:
    """Every route, with routers included under a prefix flattened to full paths."""
    found: list[RouteInfo] = []
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for context in contexts():
                found.append(
                    RouteInfo(
                        context.path,
                        frozenset(context.methods),
                        context.original_route,
                        context.path_regex,
                    )
                )
        else:
            found.append(
                RouteInfo(
                    getattr(route, "path", ""),
                    frozenset(getattr(route, "methods", None) or ()),
                    route,
                    getattr(route, "path_regex", None),
                )
            )
    return found
