"""The citizen page (市民扫码上报) opened from a shop's QR code: report a problem with a
photo at ``/c/{shop token}``, then follow it at ``/c/r/{follow token}``.

Anonymous and phone-sized. A post carries a signed form token (the CSRF defence of a form
without a session cookie) and the idempotency key the page was rendered with, so that the
page's script may resend after a dropped connection without reporting twice. Posts are rate
limited per client address and per shop token. A forged token answers 403, an expired or
replaced one 410, each with a page that says so in Chinese and English.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from chengyun.adapters.geo.index import check_position
from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Problem,
    TooManyRequests,
)
from chengyun.domain.shops import CITIZEN_SUBCLASSES, ExpiredShopToken, Shop
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.deps import PlatformDep, kept_by_app
from chengyun.entrypoints.api.errors import error_body, status_for
from chengyun.entrypoints.api.security import RateLimiter, requires
from chengyun.entrypoints.api.v1.cases import _store_photos
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web.command import TEMPLATES, remember_language
from chengyun.entrypoints.web.i18n import HTML_LANG, Language, language, words
from chengyun.services.cases import request_hash, taxonomy_in_force
from chengyun.services.shops import (
    CitizenReportIn,
    FollowView,
    follow_report,
    report_from_shop,
    shop_for_token,
)

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]
ShopTokenParam = Annotated[str, PathParam(max_length=64)]
FollowTokenParam = Annotated[str, PathParam(max_length=64)]

MAX_PHOTOS = 3
MAX_DESCRIPTION = 500
#: How long a rendered form may be sent (and resent) for.
FORM_SECONDS = 24 * 3600
#: Anonymous reports: per client address, and per shop (a poster shared far and wide).
PER_CLIENT = (6, 6)  # per minute, burst
PER_SHOP = (30, 20)


# --- guards ----------------------------------------------------------------------------------


def form_token(secret: str, shop_token: str, issued: int) -> str:
    """The signed hidden field of a rendered form: when it was issued (unix seconds) and
    for which shop."""
    mac = hmac.new(
        secret.encode(), f"citizen-form:{shop_token}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:32]
    return f"{issued}.{mac}"


def _check_form(secret: str, shop_token: str, sent: str, now: float) -> None:
    issued_text, _, _ = sent.partition(".")
    valid = issued_text.isdigit() and hmac.compare_digest(
        sent, form_token(secret, shop_token, int(issued_text))
    )
    if not valid or not 0 <= now - int(issued_text) <= FORM_SECONDS:
        raise Forbidden(
            "页面已过期，请重新扫码或刷新页面 / the page expired: scan the code again or reload",
            [Problem(("form_token",), "reload the page and send again", "csrf")],
        )


def _check_origin(request: Request, public_base_url: str) -> None:
    """A browser posting from another site is refused (a second line behind the form
    token): its ``Origin`` must name this site — as the request reached it, or as the QR
    codes name it (behind a proxy that ends TLS the two differ in scheme)."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        ours = {request.url.netloc, urlsplit(public_base_url).netloc}
        if urlsplit(origin).netloc not in ours:
            raise Forbidden(
                "不接受来自其他网站的提交 / a report must be sent from this site's page",
                [Problem(("header", "Origin"), origin, "csrf")],
            )


def _limiters(request: Request) -> tuple[RateLimiter, RateLimiter]:
    return kept_by_app(
        request.app,
        "citizen_limiters",
        lambda: (RateLimiter(*PER_CLIENT), RateLimiter(*PER_SHOP)),
    )


def _limit(request: Request, shop_token: str) -> None:
    per_client, per_shop = _limiters(request)
    client = request.client.host if request.client else "unknown"
    for limiter, key, where in (
        (per_client, f"client:{client}", "client"),
        (per_shop, f"shop:{shop_token}", "shop_token"),
    ):
        if not limiter.allow(key):
            error = TooManyRequests(
                "提交过于频繁，请稍后再试 / too many reports: wait a minute and try again",
                [Problem((where,), "rate limit", "rate_limit")],
            )
            error.retry_after = 20
            raise error


# --- rendering -------------------------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _context(request: Request, lang: Language, **more: Any) -> dict[str, Any]:
    path = request.url.path
    return {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "t": words(lang),
        "switch": {"zh": f"{path}?lang=zh", "en": f"{path}?lang=en"},
        **more,
    }


def _render(
    request: Request, platform: Platform, template: str, context: dict[str, Any], status: int
) -> Response:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    remember_language(request, response, context["lang"], platform)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL carries a token
    return response


def _status(error: DomainError) -> int:
    return 410 if isinstance(error, ExpiredShopToken) else status_for(error)


def _error(request: Request, platform: Platform, error: DomainError) -> Response:
    status = _status(error)
    if _wants_json(request):
        return JSONResponse(
            error_body(error),
            status_code=status,
            headers={"Retry-After": "20"} if status == 429 else None,
        )
    lang = language(request)
    t = words(lang)
    title = {403: t["c_refused"], 410: t["c_gone"], 404: t["c_not_found"], 429: t["c_too_many"]}
    context = _context(
        request,
        lang,
        title=title.get(status, t["c_error"]),
        message=error.message,
        details=[p.message for p in error.problems if p.kind.startswith("shop_token")],
    )
    return _render(request, platform, "citizen_error.html", context, status)


def _kinds(platform: Platform, lang: Language) -> list[tuple[str, str]]:
    with platform.uow(reading=True) as uow:
        taxonomy = taxonomy_in_force(uow, platform.cases)
    kinds: list[tuple[str, str]] = []
    offered = [r for r in (taxonomy.get(code) for code in CITIZEN_SUBCLASSES) if r is not None]
    # a taxonomy of the sub-district's own without the usual codes: offer all of it
    for rule in offered or list(taxonomy):
        kinds.append((rule.code, rule.name_en if lang == "en" else rule.name_zh))
    return kinds


# --- the report form -------------------------------------------------------------------------


@router.get("/c/{shop_token}", response_class=HTMLResponse)
def report_form(
    request: Request, platform: PlatformDep, _: Anyone, shop_token: ShopTokenParam
) -> Response:
    """The form, with the shop's position filled in and a fresh idempotency key."""
    try:
        shop = shop_for_token(
            platform.uow(), platform.settings.secret_key, shop_token, platform.clock.now()
        )
    except DomainError as error:
        return _error(request, platform, error)
    lang = language(request)
    t = words(lang)
    context = _context(
        request,
        lang,
        shop=shop,
        kinds=_kinds(platform, lang),
        action=f"/c/{shop_token}/reports",
        form_token=form_token(
            platform.settings.secret_key, shop_token, int(platform.clock.now().timestamp())
        ),
        idempotency_key=uuid.uuid4().hex,
        max_description=MAX_DESCRIPTION,
        config={
            "words": {k: v for k, v in t.items() if k.startswith("c_")},
            "shop": {"lng": shop.lng, "lat": shop.lat},
            "maxPhotos": MAX_PHOTOS,
        },
    )
    return _render(request, platform, "citizen_report.html", context, 200)


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise InvalidInput(
            "内容过长 / too long", [Problem((name,), f"at most {limit} characters", "length")]
        )
    return text


def _number(form: Any, name: str) -> float:
    try:
        value = float(_text(form, name, 40))
    except ValueError as exc:
        raise InvalidInput(
            "位置有误 / the position is not valid",
            [Problem((name,), "a number; reload the page to reset it", "number")],
        ) from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(
            "位置有误 / the position is not valid", [Problem((name,), "a finite number")]
        )
    return value


async def _read(
    request: Request, platform: Platform, shop_token: str
) -> tuple[CitizenReportIn, str, str]:
    """The report, its idempotency key and a hash of what was sent (photos by digest)."""
    if not request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        raise InvalidInput(
            "请通过页面提交 / send the page's form",
            [Problem(("body",), "multipart/form-data", "format")],
        )
    async with request.form(max_files=MAX_PHOTOS + 1, max_fields=20) as form:
        _check_form(
            platform.settings.secret_key,
            shop_token,
            _text(form, "form_token", 80),
            platform.clock.now().timestamp(),
        )
        key = _text(form, "idempotency_key", 64)
        if len(key) < 16:
            raise InvalidInput(
                "页面已过期，请刷新 / reload the page",
                [Problem(("idempotency_key",), "16 to 64 characters", "missing")],
            )
        subclass = _text(form, "subclass", 5)
        if not subclass:
            raise InvalidInput(
                "请选择问题类型 / choose what the problem is",
                [Problem(("subclass",), "choose one", "missing")],
            )
        description = _text(form, "description", MAX_DESCRIPTION)
        lng, lat = _number(form, "lng"), _number(form, "lat")
        check_position(lng, lat)
        phone = _text(form, "phone", 20) or None
        files = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
        if not files or len(files) > MAX_PHOTOS:
            raise InvalidInput(
                "请拍一到三张照片 / add one to three photos of the problem",
                [Problem(("photos",), f"1 to {MAX_PHOTOS} photos", "count")],
            )
        stored = await _store_photos(platform, files, case_id=0)
    fields = {
        "subclass": subclass,
        "description": description,
        "lng": lng,
        "lat": lat,
        "phone": phone,
        "photos": [p.sha256 for p in stored],
    }
    body_hash = request_hash(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode())
    report = CitizenReportIn(subclass, description, lng, lat, tuple(stored), phone)
    return report, key, body_hash


@router.post("/c/{shop_token}/reports")
async def send_report(
    request: Request, platform: PlatformDep, _: Anyone, shop_token: ShopTokenParam
) -> Response:
    """A citizen's report: JSON for the page's script (201, or 200 for a resend), a
    redirect to the follow page for a browser without script."""
    try:
        _check_origin(request, platform.settings.public_base_url)
        _limit(request, shop_token)
        shop_for_token(
            platform.uow(), platform.settings.secret_key, shop_token, platform.clock.now()
        )
        report, key, body_hash = await _read(request, platform, shop_token)
        done = report_from_shop(
            platform.uow,
            platform.cases,
            platform.settings.secret_key,
            shop_token,
            report,
            key,
            body_hash,
        )
    except DomainError as error:
        return _error(request, platform, error)
    follow = f"/c/r/{done.report.follow_token}"
    if not _wants_json(request):
        return RedirectResponse(follow, status_code=303)
    return JSONResponse(
        {
            "follow_url": follow,
            "number": done.record.case.number,
            "status": done.record.case.status.value,
            "created": done.created,
        },
        status_code=201 if done.created else 200,
        headers={"Location": follow, "Cache-Control": "no-store"},
    )


# --- following a report ----------------------------------------------------------------------


def _follow_context(view: FollowView, lang: Language) -> dict[str, Any]:
    t = words(lang)
    case = view.record.case
    shop: Shop | None = view.shop
    return {
        "number": case.number,
        "status": case.status.value,
        "status_text": t.get(f"c_status_{case.status.value}", case.status.zh),
        "reported_at": case.reported_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"),
        "steps": [
            {
                "kind": s.kind,
                "text": t.get(f"c_step_{s.kind}", s.kind),
                "at": s.at.astimezone(CHINA_TZ).strftime("%m-%d %H:%M"),
                "iso": s.at.isoformat(),
            }
            for s in view.steps
        ],
        "shop_name": shop.name if shop else "",
        "phone": view.phone,
        "points": view.points,
    }


@router.get("/c/r/{follow_token}", response_class=HTMLResponse)
def follow_page(
    request: Request, platform: PlatformDep, _: Anyone, follow_token: FollowTokenParam
) -> Response:
    """The report's status in plain words and its public steps (no staff names or
    numbers); the points balance of the mobile number given, masked."""
    try:
        view = follow_report(platform.uow, follow_token)
    except NotFound as error:
        return _error(request, platform, error)
    lang = language(request)
    context = _context(request, lang, **_follow_context(view, lang))
    return _render(request, platform, "citizen_follow.html", context, 200)
