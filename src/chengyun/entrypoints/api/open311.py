"""Open311 GeoReport v2 over HTTP (``/open311/v2``): discovery, services, service
definitions, requests and tokens, in JSON or XML as the path's extension says.

Every route is public (``requires(Permission.PUBLIC)``): applications identify themselves
with their ``api_key`` when they POST, checked by the service. Errors of these routes —
wherever they are raised, dependencies included — answer in the spec's own format
(``[{"code": 404, "description": "…"}]`` or ``<errors>``), never in the app's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from chengyun.adapters import open311_format as fmt
from chengyun.adapters.db.case_repository import TAXONOMY
from chengyun.adapters.db.open311_repository import APPLICATIONS
from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import DomainError, InvalidInput, NotFound, Problem
from chengyun.entrypoints.api.audit_trail import entry_for, written_with_change
from chengyun.entrypoints.api.deps import PlatformDep, revision_cache
from chengyun.entrypoints.api.errors import status_for
from chengyun.entrypoints.api.security import requires
from chengyun.entrypoints.platform import Platform
from chengyun.services import open311
from chengyun.services.accounts import AuditEntry
from chengyun.services.records import DuplicateKey, PhotoRecord

log = logging.getLogger(__name__)
Public = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]
MAX_FIELDS = 60
FIELDS = (
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "media_url",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
)


def _format_of(request: Request) -> str:
    """The format the client asked for: the path's extension (JSON when it is unknown)."""
    wanted = str(request.path_params.get("format", "")).lower()
    if not wanted:
        wanted = request.url.path.rsplit(".", 1)[-1].lower() if "." in request.url.path else ""
    return wanted if wanted in fmt.FORMATS else "json"


def _describe(error: DomainError) -> str:
    parts = [error.message]
    for problem in error.problems:
        where = ".".join(str(p) for p in problem.location)
        parts.append(f"{where}: {problem.message}" if where else problem.message)
    return " — ".join(parts)


def error_response(request: Request, error: Exception) -> Response:
    """Any error as the spec's error list, with its HTTP status."""
    headers: dict[str, str] = {}
    if isinstance(error, DomainError):
        status = status_for(error)
        status = 400 if status == 422 else status
        description = _describe(error)
        if status == 429:
            headers["Retry-After"] = str(getattr(error, "retry_after", 60))
    elif isinstance(error, RequestValidationError):
        status = 400
        description = "请求有误 / bad request — " + "; ".join(
            f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in error.errors()[:5]
        )
    elif isinstance(error, StarletteHTTPException):
        status, description = error.status_code, str(error.detail)
    elif isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        status, headers = 503, {"Retry-After": "2"}
        description = "数据库暂时不可用，请稍后重试 / the database is unavailable: retry shortly"
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, description = 500, "服务器内部错误，已记录 / internal error; it has been logged"
    return _answer(request, fmt.errors(status, description), status, headers)


def _answer(
    request: Request,
    document: fmt.Document,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    lang: str | None = None,
) -> Response:
    kind = _format_of(request)
    response = Response(
        fmt.render(document, kind),
        status_code=status,
        media_type=fmt.FORMATS[kind],
        headers=dict(headers or {}),
    )
    if lang is not None:
        response.headers["Content-Language"] = "en" if lang == "en" else "zh-CN"
        response.headers["Vary"] = "Accept-Language"
    return response


class Open311Route(APIRoute):
    """A route whose every error — its dependencies' included — answers in the Open311
    format instead of reaching the app's handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:  # every failure speaks Open311 here
                return error_response(request, error)

        return handle


router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], route_class=Open311Route)
#: The format, checked by the route itself so that a wrong one answers in Open311 form.
Format = Annotated[
    str, Path(description="json or xml", json_schema_extra={"enum": list(fmt.FORMATS)})
]
_TEXT = {"type": "string"}
REQUEST_BODY = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        **{name: _TEXT for name in FIELDS},
        "lat": {"type": "number", "description": "WGS-84"},
        "long": {"type": "number", "description": "WGS-84"},
        "attribute[hazard]": {"type": "string", "enum": ["true", "false"]},
        "attribute[object_code]": {"type": "string"},
    },
}


def _check_format(value: str) -> None:
    if value.lower() not in fmt.FORMATS:
        raise NotFound(
            f"不支持的格式 / unsupported format {value[:20]!r}",
            [Problem(("format",), "use .json or .xml", "format")],
        )


def _check_jurisdiction(platform: Platform, given: str | None) -> None:
    wanted = platform.settings.open311_jurisdiction_id
    if wanted and given and given.strip() != wanted:
        raise NotFound(
            f"jurisdiction_id {given[:40]!r} was not found",
            [Problem(("jurisdiction_id",), f"this endpoint serves {wanted!r}", "unknown")],
        )


def _media(request: Request, found: open311.ServiceRequest) -> open311.ServiceRequest:
    """A request whose photo was uploaded here points at the platform's copy of it."""
    if found.media_url or not found.photo_id:
        return found
    url = f"{str(request.base_url).rstrip('/')}{router.prefix}/media/{found.photo_id}"
    return replace(found, media_url=url)


def _lang(request: Request) -> str:
    return fmt.language(request.headers.get("accept-language"))


@router.get(
    "/discovery.{format}",
    summary="Open311 服务发现 / Service discovery",
    response_class=Response,
)
def discovery(
    request: Request, platform: PlatformDep, principal: Public, format: Format
) -> Response:
    _check_format(format)
    settings = platform.settings
    url = str(request.base_url).rstrip("/") + router.prefix
    return _answer(
        request, fmt.discovery(url, settings.open311_contact, settings.open311_key_service)
    )


@router.get(
    "/services.{format}",
    summary="服务列表 / Service list (the taxonomy's subclasses)",
    response_class=Response,
)
def services(
    request: Request,
    platform: PlatformDep,
    principal: Public,
    format: Format,
    jurisdiction_id: str | None = None,
) -> Response:
    _check_format(format)
    _check_jurisdiction(platform, jurisdiction_id)
    rules = open311.service_list(platform.uow(), platform.cases)
    lang = _lang(request)
    listed = [(rule, bool(open311.attributes_for(rule))) for rule in rules]
    return _answer(request, fmt.services(listed, lang), lang=lang)


@router.get(
    "/services/{service_code}.{format}",
    summary="服务定义 / Service definition (attributes a subclass takes)",
    response_class=Response,
)
def service_definition(
    request: Request,
    platform: PlatformDep,
    principal: Public,
    service_code: str,
    format: Format,
    jurisdiction_id: str | None = None,
) -> Response:
    _check_format(format)
    _check_jurisdiction(platform, jurisdiction_id)
    rule, attributes = open311.service_definition(platform.uow(), platform.cases, service_code)
    lang = _lang(request)
    return _answer(request, fmt.service_definition(rule, attributes, lang), lang=lang)


def _applications(request: Request, platform: Platform) -> open311.ApplicationCache:
    """The app's cache of which application an api_key belongs to (made on first use)."""
    return revision_cache(
        request.app,
        platform,
        open311.ApplicationCache,
        lambda uow: uow.open311.revision(),
        APPLICATIONS,
    )


def _services(request: Request, platform: Platform) -> open311.ServiceCache:
    """The app's cache of the taxonomy service codes are checked against (made on first
    use)."""
    return revision_cache(
        request.app, platform, open311.ServiceCache, lambda uow: uow.taxonomy.revision(), TAXONOMY
    )


def _bad(name: str, message: str, hint: str) -> InvalidInput:
    return InvalidInput(message, [Problem((name,), hint, "invalid")])


async def _parameters(
    request: Request, platform: Platform
) -> tuple[dict[str, Any], PhotoRecord | None]:
    """The POST's parameters: the query's, then a form's (url-encoded or multipart) or a
    JSON object's; and the photo uploaded as ``media``, checked and kept by the photo
    store."""
    values: dict[str, Any] = dict(request.query_params)
    media: PhotoRecord | None = None
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        async with request.form(max_files=2, max_fields=MAX_FIELDS) as form:
            for key in form:
                items = [v for v in form.getlist(key) if isinstance(v, str)]
                if items:
                    values[key] = items if key.endswith("[]") else items[-1]
            files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
            if len(files) > 1 or any(k != "media" for k, _ in files):
                raise _bad("media", "只接受一个文件 / one file at most", "send it as media")
            if files:
                data = await files[0][1].read()
                stored = await run_in_threadpool(platform.photos.save, data, "media")
                media = PhotoRecord(
                    uuid.uuid4().hex,
                    0,
                    stored.content_type,
                    stored.size,
                    stored.sha256,
                    platform.clock.now(),
                )
    elif content_type.startswith("application/json") or not content_type:
        raw = await request.body()
        if raw.strip():
            try:
                data = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise _bad("body", "请求体不是 JSON / the body is not JSON", str(error)) from error
            if not isinstance(data, dict):
                raise _bad("body", "请求体须为 JSON 对象 / the body must be a JSON object", "{...}")
            values.update(data)
    return values, media


def _as_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value)
        if "\x00" in text:
            raise _bad(name, NUL_MESSAGE, "remove the NUL (\\u0000) characters")
        return text
    raise _bad(name, f"{name} 须为文字或数字 / {name} must be text or a number", "")


def _attributes(values: Mapping[str, Any]) -> dict[str, str | list[str]]:
    found: dict[str, str | list[str]] = {}
    nested = values.get("attribute")
    if isinstance(nested, dict):
        for code, value in nested.items():
            if isinstance(value, list):
                found[str(code)] = [str(_as_text(v, f"attribute[{code}]")) for v in value]
            else:
                found[str(code)] = _as_text(value, f"attribute[{code}]") or ""
    elif nested is not None:
        raise _bad(
            "attribute", "attribute 须为对象 / attribute must be an object", "attribute[code]=value"
        )
    for key, value in values.items():
        if key.startswith("attribute[") and "]" in key:
            code = key[len("attribute[") : key.index("]")]
            rest = key[key.index("]") + 1 :]
            if not code or rest not in ("", "[]"):
                raise _bad(key, "属性名无效 / malformed attribute", "attribute[code]")
            if isinstance(value, list):
                found[code] = [str(_as_text(v, key)) for v in value]
            else:
                found[code] = _as_text(value, key) or ""
    return found


async def _submit(
    platform: Platform,
    submission: open311.Submission,
    client_key: str | None,
    audit: AuditEntry | None,
    applications: open311.ApplicationCache,
    services: open311.ServiceCache,
) -> open311.Submitted:
    """``submit_request`` waited for on the event loop: the checks here, from the
    process's caches — in a thread when they would read (the position looked up in the
    gazetteer, the territory due for its check or being loaded) — and the case by the
    group commit; a used ``Idempotency-Key`` (reading the stored request) in a thread."""
    uow, env = platform.uow(), platform.cases
    if open311.needs_reading(submission) or not platform.territory_index.fresh():
        checked = await run_in_threadpool(
            open311.check_request, uow, env, submission, client_key, audit, applications, services
        )
    else:
        checked = open311.check_request(
            uow, env, submission, client_key, audit, applications, services
        )
    try:
        result = await asyncio.wrap_future(platform.group_commit.submit(checked.report()))
    except DuplicateKey:
        if checked.intake.client_key is None:
            raise
        return await run_in_threadpool(
            open311.take_request, uow, checked, platform.group_commit.report, True
        )
    return checked.submitted(result)


@router.post(
    "/requests.{format}",
    summary="提交服务请求 / Submit a service request (form-encoded or JSON; api_key)",
    response_class=Response,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": REQUEST_BODY},
                "application/json": {"schema": REQUEST_BODY},
            },
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 180},
                "description": "the same key and api_key again: the same request",
            }
        ],
    },
)
async def create_request(
    request: Request, platform: PlatformDep, principal: Public, format: Format
) -> Response:
    _check_format(format)
    values, media = await _parameters(request, platform)
    _check_jurisdiction(platform, _as_text(values.get("jurisdiction_id"), "jurisdiction_id"))
    texts = {name: _as_text(values.get(name), name) for name in FIELDS}
    submission = open311.Submission(
        api_key=texts["api_key"] or request.headers.get("x-api-key"),
        service_code=texts["service_code"],
        lat=texts["lat"],
        long=texts["long"],
        address_string=texts["address_string"],
        address_id=texts["address_id"],
        description=texts["description"],
        attributes=_attributes(values),
        media_url=texts["media_url"],
        email=texts["email"],
        device_id=texts["device_id"],
        account_id=texts["account_id"],
        first_name=texts["first_name"],
        last_name=texts["last_name"],
        phone=texts["phone"],
        media=media,
    )
    # a new request's audit record is written in its transaction, not after it by the middleware
    submitted = await _submit(
        platform,
        submission,
        request.headers.get("idempotency-key"),
        entry_for(request.scope, 201),
        _applications(request, platform),
        _services(request, platform),
    )
    if submitted.created:
        written_with_change(request)
    lang = _lang(request)
    return _answer(
        request,
        fmt.created(submitted, lang),
        201 if submitted.created else 200,
        {} if submitted.created else {"Idempotent-Replayed": "true"},
        lang,
    )


@router.get(
    "/requests.{format}",
    summary="服务请求列表 / Service requests (90 days, at most 1000, by default)",
    response_class=Response,
)
def list_requests(
    request: Request,
    platform: PlatformDep,
    principal: Public,
    format: Format,
    jurisdiction_id: str | None = None,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    _check_format(format)
    _check_jurisdiction(platform, jurisdiction_id)

    def every(name: str) -> str:  # "can be declared multiple times, comma delimited"
        return ",".join(request.query_params.getlist(name))

    query = open311.request_query(
        platform.clock.now(),
        every("service_request_id"),
        every("service_code"),
        start_date,
        end_date,
        every("status"),
    )
    found = [
        _media(request, r) for r in open311.find_requests(platform.uow(), platform.cases, query)
    ]
    lang = _lang(request)
    return _answer(request, fmt.service_requests(found, lang), lang=lang)


@router.get(
    "/requests/{service_request_id}.{format}",
    summary="一个服务请求 / One service request",
    response_class=Response,
)
def get_request(
    request: Request,
    platform: PlatformDep,
    principal: Public,
    service_request_id: str,
    format: Format,
    jurisdiction_id: str | None = None,
) -> Response:
    _check_format(format)
    _check_jurisdiction(platform, jurisdiction_id)
    found = _media(request, open311.get_request(platform.uow(), platform.cases, service_request_id))
    lang = _lang(request)
    return _answer(request, fmt.service_requests([found], lang), lang=lang)


@router.get(
    "/tokens/{token}.{format}",
    summary="令牌 → 服务请求编号 / The service_request_id of a token",
    response_class=Response,
)
def get_token(
    request: Request,
    platform: PlatformDep,
    principal: Public,
    token: str,
    format: Format,
    jurisdiction_id: str | None = None,
) -> Response:
    _check_format(format)
    _check_jurisdiction(platform, jurisdiction_id)
    value, number = open311.token_request(platform.uow(), token)
    return _answer(request, fmt.token(value, number))


@router.get(
    "/media/{photo_id}",
    summary="请求附带的照片 / The photo uploaded with a request (its media_url)",
    response_class=Response,
    include_in_schema=False,
)
def get_media(
    request: Request,
    platform: PlatformDep,
    principal: Public,
    photo_id: Annotated[str, Path(max_length=64)],
) -> Response:
    photo = open311.request_photo(platform.uow(), photo_id)
    path = platform.photos.open(photo.sha256, photo.content_type)
    if not path.exists():
        raise NotFound(f"照片文件缺失 / the file of media {photo_id} is missing")
    return FileResponse(path, media_type=photo.content_type)


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_class=Response,
)
def unknown(request: Request, principal: Public, rest: str) -> Response:
    path = request.url.path
    for route in router.routes:
        if not isinstance(route, APIRoute) or route.endpoint is unknown:
            continue
        if route.path_regex.match(path):
            raise StarletteHTTPException(
                405, f"不允许的方法 / method {request.method} is not allowed here"
            )
    raise NotFound(
        f"没有此资源 / no such Open311 resource: {rest[:80]!r}",
        [
            Problem(
                ("path",),
                "discovery, services, services/{code}, requests, requests/{id}, tokens/{token}"
                " with .json or .xml",
                "unknown",
            )
        ],
    )


NUL_MESSAGE = "文本中不能含有 NUL 字符 / text may not contain NUL (\\u0000) characters"
NUL_FREE_TYPES = ("application/json", "application/x-www-form-urlencoded")


def _nul_refused(scope: Scope) -> Response:
    """A NUL in an Open311 request's query or body, refused in the Open311 error format."""
    return _answer(Request(scope), fmt.errors(400, NUL_MESSAGE), 400)


def install(app: FastAPI) -> None:
    """Mount the Open311 router; the app's NUL guard answers NULs here in Open311's format."""
    app.include_router(router)
    app.state.nul_answers[router.prefix + "/"] = _nul_refused
