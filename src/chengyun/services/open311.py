"""Open311 GeoReport v2 use cases (开放311接口): register an application and resolve its
api_key; the services from the taxonomy; submit a request, which becomes a case through
``report_case``; read the requests back as Open311 records, contacts masked.

A request is a case reported on the channel its application is bound to (``citizen_qr``
unless registered otherwise). Its ``service_request_id`` is the case number; its token is
stored with the application and the client's ``Idempotency-Key``, and reaches the case
through the core idempotency key ``open311:<token>``. The request's record, the citizen's
and the audit record are all written in the case's own transaction (``report_case``'s
``with_case``): a request exists exactly when its case does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chengyun.clock import Clock
from chengyun.domain.access import mask_phone
from chengyun.domain.cases import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    CaseStatus,
    Channel,
)
from chengyun.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OutsideTerritory,
    Problem,
)
from chengyun.domain.forces import Department, TeamType
from chengyun.domain.points import normalise_phone
from chengyun.domain.sla import deadline_for, stage_limit
from chengyun.domain.taxonomy import CaseKind, Stage, Subclass, Taxonomy
from chengyun.domain.working_time import WorkingCalendar, as_china_time
from chengyun.services.accounts import AuditEntry
from chengyun.services.cases import (
    CaseEnvironment,
    Report,
    ReportCommand,
    Reported,
    report_one,
    request_hash,
    taxonomy_in_force,
)
from chengyun.services.gazetteer import resolve_address
from chengyun.services.open311_records import CASE_KEY_PREFIX, Application, Intake, RequestQuery
from chengyun.services.points import citizen_in
from chengyun.services.records import CaseRecord, DuplicateKey, PhotoRecord
from chengyun.services.revision_cache import RevisionCache
from chengyun.services.unit_of_work import UnitOfWork

KEY_PREFIX = "o311_"
MAX_NAME = 100
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 200
MAX_MEDIA_URL = 2000
MAX_CLIENT_KEY = 180
MAX_REQUESTS = 1000
DEFAULT_SPAN = timedelta(days=90)


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Words:
    """A text in Chinese and English; the client's ``Accept-Language`` picks one."""

    zh: str
    en: str

    def pick(self, language: str) -> str:
        return self.en if language == "en" else self.zh


# --- applications ----------------------------------------------------------------------------


def _channel(value: str) -> Channel:
    try:
        return Channel(value.strip())
    except ValueError as error:
        raise InvalidInput(
            "未知的渠道 / unknown channel",
            [Problem(("channel",), f"one of {', '.join(c.value for c in Channel)}", "unknown")],
        ) from error


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidInput(
            "应用名称无效 / invalid application name",
            [Problem(("name",), f"1–{MAX_NAME} printable characters", "invalid")],
        )
    return name


def register_application(
    uow: UnitOfWork,
    clock: Clock,
    name: str,
    channel: str = Channel.CITIZEN_QR.value,
    actor: str = "cli",
    key: str | None = None,
) -> tuple[str, Application]:
    """Register an application; its api_key is returned once and stored only as SHA-256.
    ``key`` fixes the key (the demo's ``demo-open311-key``); normally it is random."""
    name = _name(name)
    bound = _channel(channel)
    raw = key or KEY_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    with uow:
        if uow.open311.application(name) is not None:
            raise Conflict(
                "应用名称已存在 / an application with this name exists",
                [Problem(("name",), f"{name!r}: choose another name or revoke it", "duplicate")],
            )
        if uow.open311.application_by_key(key_hash(raw)) is not None:
            raise Conflict(
                "该密钥已被使用 / this api_key is taken",
                [Problem(("key",), "use another key", "duplicate")],
            )
        uow.open311.add_application(name, key_hash(raw), bound.value, now)
        uow.audit.append(now, actor, "open311.app.add", f"open311:{name}", {"channel": bound})
        uow.commit()
        added = uow.open311.application(name)
    assert added is not None
    return raw, added


def list_applications(uow: UnitOfWork) -> list[Application]:
    with uow.reader() as uow:
        return uow.open311.applications()


def revoke_application(uow: UnitOfWork, clock: Clock, name: str, actor: str = "cli") -> Application:
    """Revoke an application's api_key: its requests stay, new ones are refused (403)."""
    with uow:
        found = uow.open311.application(" ".join(name.split()))
        if found is None:
            raise NotFound(f"没有名为 {name!r} 的应用 / no application named {name!r}")
        if found.revoked_at is None:
            uow.open311.revoke(found.id, clock.now())
            uow.audit.append(clock.now(), actor, "open311.app.revoke", f"open311:{found.name}", {})
            uow.commit()
        revoked = uow.open311.application(found.name)
    assert revoked is not None
    return revoked


def _given_key(raw: str | None) -> str:
    """The api_key's hash, as stored; ``Forbidden`` when there is none."""
    if not raw or not raw.strip():
        raise Forbidden(
            "缺少 api_key / api_key was not provided",
            [Problem(("api_key",), "register an application: chengyun apps add NAME", "api_key")],
        )
    return key_hash(raw.strip())


def _application_of(uow: UnitOfWork, clock: Clock, digest: str) -> Application:
    now = clock.now()
    with uow:
        found = uow.open311.application_by_key(digest)
        if found is None or found.revoked_at is not None:
            raise Forbidden(
                "api_key 无效或已吊销 / api_key is invalid or revoked",
                [Problem(("api_key",), "ask the command centre for a key", "api_key")],
            )
        if found.last_used_at is None or now - found.last_used_at > timedelta(minutes=5):
            uow.open311.touch(found.id, now)
            uow.commit()
    return found


def resolve_api_key(uow: UnitOfWork, clock: Clock, raw: str | None) -> Application:
    """The application an api_key belongs to; ``Forbidden`` (403) when it is missing,
    unknown or revoked."""
    return _application_of(uow, clock, _given_key(raw))


class ApplicationCache:
    """Which application an api_key belongs to, remembered in this process so that a
    request does not read the application again (应用密钥缓存); as ``TokenCache`` does
    for bearer tokens, with the same guarantees.

    An entry is used for at most ``keep_seconds`` and only while the applications'
    revision counter, which a revocation bumps in its transaction, is unchanged: this
    process's own revocations drop the cache at once (``changed_here``); another
    process's are seen when the counter is read again, at most ``check_seconds`` later.
    Missing, unknown or revoked keys are never remembered. Keyed by the key's SHA-256."""

    def __init__(
        self,
        revision: Callable[[], int],
        changed_here: Callable[[], int],
        check_seconds: float = 1.0,
        keep_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        size: int = 1_000,
    ) -> None:
        self._cache: RevisionCache[Application] = RevisionCache(
            revision, changed_here, check_seconds, keep_seconds, monotonic, size
        )

    def application(self, uow: UnitOfWork, clock: Clock, raw: str | None) -> Application:
        """As ``resolve_api_key``, from the cache when it still holds."""
        digest = _given_key(raw)
        known, stamp = self._cache.lookup(digest)
        if known is not None:
            return known
        self._cache.drop(digest)
        found = _application_of(uow, clock, digest)
        self._cache.put(digest, found, stamp)
        return found


class ServiceCache(RevisionCache[Taxonomy]):
    """The taxonomy a request's ``service_code`` is checked against, remembered in this
    process (服务目录缓存) so that a request does not open a reader of its own for it.

    A ``RevisionCache`` of the taxonomy's revision counter, which every change of the
    taxonomy bumps: this process's own changes drop it at once (``changed_here``); another
    process's are seen when the counter is read again, at most ``check_seconds`` later.
    Within that second a code just removed still passes this first check; the case's own
    transaction checks the taxonomy in force again, and refuses it there (400 instead of
    404)."""

    _KEY = "taxonomy"

    def taxonomy(self, uow: UnitOfWork, env: CaseEnvironment) -> Taxonomy:
        """``taxonomy_in_force``, from the cache when it still holds."""
        known, stamp = self.lookup(self._KEY)
        if known is not None:
            return known
        found = _services_in_force(uow, env)
        self.put(self._KEY, found, stamp)
        return found


def _services_in_force(uow: UnitOfWork, env: CaseEnvironment) -> Taxonomy:
    with uow.reader() as reader:  # no transaction to end (a ROLLBACK makes psycopg forget
        return taxonomy_in_force(reader, env)  # its prepared statements)


# --- services --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeValue:
    key: str
    name: Words


@dataclass(frozen=True)
class Attribute:
    """An extra field a service (subclass) takes, as a GeoReport attribute."""

    code: str
    datatype: str
    description: Words
    order: int
    required: bool = False
    datatype_description: Words | None = None
    values: tuple[AttributeValue, ...] = ()
    variable: bool = True


YES_NO = (
    AttributeValue("true", Words("是", "Yes")),
    AttributeValue("false", Words("否", "No")),
)
#: Components (部件) carry the identifier on their plate and the hazard flag that makes the
#: case urgent (重大安全隐患); events need nothing beyond the report itself.
COMPONENT_ATTRIBUTES = (
    Attribute(
        "object_code",
        "string",
        Words("部件标识码（部件铭牌上的编号）", "Component identifier (on its plate)"),
        1,
        datatype_description=Words("最多16位数字", "up to 16 digits"),
    ),
    Attribute(
        "hazard",
        "singlevaluelist",
        Words("是否存在重大安全隐患", "Is it a serious safety hazard?"),
        2,
        values=YES_NO,
    ),
)


def attributes_for(rule: Subclass) -> tuple[Attribute, ...]:
    return COMPONENT_ATTRIBUTES if rule.kind is CaseKind.COMPONENT else ()


def service_list(uow: UnitOfWork, env: CaseEnvironment) -> list[Subclass]:
    """Every subclass of the taxonomy in force is a service (its code the service_code)."""
    with uow.reader() as uow:
        return list(taxonomy_in_force(uow, env))


def _unknown_service(code: str) -> NotFound:
    return NotFound(
        f"未知的服务代码 / service_code {code!r} was not found",
        [Problem(("service_code",), "see services.json for the codes", "unknown")],
    )


def service_definition(
    uow: UnitOfWork, env: CaseEnvironment, code: str
) -> tuple[Subclass, tuple[Attribute, ...]]:
    with uow.reader() as uow:
        rule = taxonomy_in_force(uow, env).get(code.strip().upper())
    if rule is None:
        raise _unknown_service(code)
    return rule, attributes_for(rule)


# --- submitting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A POST requests as sent: every parameter as text, attributes by code."""

    api_key: str | None = None
    service_code: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    description: str | None = None
    attributes: Mapping[str, str | list[str]] = field(default_factory=dict)
    media_url: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    media: PhotoRecord | None = None
    """A photo uploaded with the request (already checked and kept by the photo store)."""


@dataclass(frozen=True)
class Submitted:
    service_request_id: str
    token: str
    created: bool
    service_notice: Words | None


def _invalid(name: str, message: str, hint: str, kind: str = "invalid") -> InvalidInput:
    return InvalidInput(message, [Problem((name,), hint, kind)])


def _text(value: str | None) -> str:
    return (value or "").strip()


def _coordinate(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _invalid(
            name,
            f"{name} 须为数字 / {name} must be a number",
            f"WGS-84 decimal degrees, got {value[:40]!r}",
        )
    return number


def _gazetteer(uow: UnitOfWork, text: str) -> tuple[float, float]:
    """The address gazetteer's position (lng, lat) for ``text``."""
    found = resolve_address(uow, text)
    if found is None:
        raise _invalid(
            "address_string",
            "地址未能定位 / the address could not be located",
            f"{text[:80]!r} is not in the address gazetteer (or not surely): send lat and long",
            "unknown",
        )
    return found.lng, found.lat


def _position(uow: UnitOfWork, env: CaseEnvironment, submission: Submission) -> tuple[float, float]:
    lat_text, long_text = _text(submission.lat), _text(submission.long)
    if lat_text and long_text:
        lng, lat = _coordinate(long_text, "long"), _coordinate(lat_text, "lat")
    elif lat_text or long_text:
        missing = "long" if lat_text else "lat"
        raise _invalid(
            missing, "lat 与 long 须同时提供 / lat and long go together", f"{missing} is missing"
        )
    elif _text(submission.address_string):
        lng, lat = _gazetteer(uow, _text(submission.address_string))
    elif _text(submission.address_id):
        raise _invalid(
            "address_id",
            "不支持 address_id / address_id is not supported here",
            "send lat and long (WGS-84), or the address as address_string",
            "unsupported",
        )
    else:
        raise _invalid(
            "lat",
            "缺少位置 / lat & long, address_string or address_id is required",
            "send lat and long (WGS-84 decimal degrees)",
            "missing",
        )
    try:
        env.locator.locate(lng, lat)
    except OutsideTerritory as error:
        problem = error.problems[0].message if error.problems else ""
        raise _invalid(
            "lat",
            "位置不在本街道辖区内 / the position (lat, long) is outside the sub-district",
            problem or f"({lat}, {lng}) is in no management unit",
            "outside",
        ) from error
    return lng, lat


def _attributes(rule: Subclass, given: Mapping[str, str | list[str]]) -> dict[str, str]:
    known = {a.code: a for a in attributes_for(rule)}
    values: dict[str, str] = {}
    for code, value in given.items():
        attribute = known.get(code)
        if attribute is None:
            raise _invalid(
                f"attribute[{code}]",
                f"服务 {rule.code} 没有此属性 / service {rule.code} has no attribute {code!r}",
                f"see services/{rule.code}.json for its attributes"
                + (f": {', '.join(known)}" if known else " (it has none)"),
                "unknown",
            )
        if isinstance(value, list):
            if len(value) != 1:
                raise _invalid(
                    f"attribute[{code}]",
                    f"属性 {code} 只取一个值 / attribute {code} takes one value",
                    f"datatype {attribute.datatype}",
                )
            value = value[0]
        text = value.strip()
        if attribute.values and text not in {v.key for v in attribute.values}:
            raise _invalid(
                f"attribute[{code}]",
                f"属性 {code} 的取值无效 / invalid value for attribute {code}",
                f"one of {', '.join(v.key for v in attribute.values)}",
            )
        values[code] = text
    missing = [a.code for a in known.values() if a.required and not values.get(a.code)]
    if missing:
        raise _invalid(
            f"attribute[{missing[0]}]",
            f"缺少必填属性 / attribute {missing[0]} is required",
            f"see services/{rule.code}.json",
            "missing",
        )
    object_code = values.get("object_code", "")
    if object_code and not (
        object_code.isdigit() and object_code.isascii() and len(object_code) <= 16
    ):
        raise _invalid(
            "attribute[object_code]",
            "部件标识码须为数字 / the component identifier is digits",
            "up to 16 digits, as on the component's plate",
        )
    return values


_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def _media_url(value: str | None) -> str:
    url = _text(value)
    if url and (len(url) > MAX_MEDIA_URL or not _URL.match(url)):
        raise _invalid(
            "media_url",
            "media_url 须为 http(s) 地址 / media_url must be an http(s) URL",
            f"at most {MAX_MEDIA_URL} characters, e.g. https://example.org/photo.jpg",
        )
    return url


def _limited(value: str | None, name: str, limit: int) -> str:
    text = _text(value)
    if len(text) > limit:
        raise _invalid(name, f"{name} 过长 / {name} is too long", f"at most {limit} characters")
    return text


def _nickname(submission: Submission) -> str | None:
    first, last = _text(submission.first_name), _text(submission.last_name)
    if not (first or last):
        return None
    if (first + last).isascii():
        return " ".join(p for p in (first, last) if p)[:40]
    return (last + first)[:40]


def submit_request(
    uow: UnitOfWork,
    env: CaseEnvironment,
    submission: Submission,
    client_key: str | None = None,
    audit: AuditEntry | None = None,
    applications: ApplicationCache | None = None,
    take: Callable[[Report], Reported] | None = None,
    services: ServiceCache | None = None,
) -> Submitted:
    """POST requests: check the api_key, the service, the position and the attributes,
    then report the case on the application's channel — the request's record, the
    citizen's and ``audit``'s written in the case's own transaction. Sent again with the
    same api_key and ``Idempotency-Key`` it answers with the same request (``created``
    false). ``applications`` remembers api_keys (else each is read); ``take`` writes the
    report (the process's group commit; else ``report_case`` on ``uow``); ``services``
    remembers the taxonomy the service code is checked against (else it is read).

    ``check_request`` and ``take_request`` are its two halves, for a caller that waits
    for the take its own way (the HTTP route, on its event loop)."""
    checked = check_request(uow, env, submission, client_key, audit, applications, services)
    if take is None:

        def take(report: Report) -> Reported:
            return report_one(uow, env, report)

    return take_request(uow, checked, take)


def check_request(
    uow: UnitOfWork,
    env: CaseEnvironment,
    submission: Submission,
    client_key: str | None = None,
    audit: AuditEntry | None = None,
    applications: ApplicationCache | None = None,
    services: ServiceCache | None = None,
) -> CheckedRequest:
    """``submit_request``'s checks, nothing written: the request as it will be reported,
    or the ``InvalidInput`` (``NotFound`` for an unknown service) that says what to fix.
    It reads the database only for what the caches do not hold and for an
    ``address_string`` sent without ``lat`` and ``long`` (``needs_reading``)."""
    code = _text(submission.service_code).upper()
    if not code:
        raise _invalid(
            "service_code",
            "缺少 service_code / service_code was not provided",
            "see services.json",
            "missing",
        )
    if applications is not None:
        application = applications.application(uow, env.clock, submission.api_key)
    else:
        application = resolve_api_key(uow, env.clock, submission.api_key)
    taxonomy = services.taxonomy(uow, env) if services else _services_in_force(uow, env)
    rule = taxonomy.get(code)
    if rule is None:
        raise _unknown_service(code)
    attributes = _attributes(rule, submission.attributes)
    description = _limited(submission.description, "description", MAX_DESCRIPTION)
    address = _limited(submission.address_string, "address_string", MAX_ADDRESS)
    media_url = _media_url(submission.media_url)
    if media_url and submission.media is not None:
        raise _invalid(
            "media",
            "media 与 media_url 只能二选一 / send media or media_url, not both",
            "a file upload (media) or the address of one (media_url)",
        )
    phone = normalise_phone(_text(submission.phone)) if _text(submission.phone) else None
    client = _limited(client_key, "Idempotency-Key", MAX_CLIENT_KEY) or None
    lng, lat = _position(uow, env, submission)
    channel = Channel(application.channel)
    hazard = attributes.get("hazard") == "true"
    object_code = attributes.get("object_code", "")
    body_hash = request_hash(
        json.dumps(
            {
                "service_code": code,
                "position": [lng, lat],
                "address": address,
                "description": description,
                "attributes": attributes,
                "media_url": media_url,
                "media": submission.media.sha256 if submission.media else None,
                "phone": key_hash(phone) if phone else None,
            },
            sort_keys=True,
            ensure_ascii=False,
        ).encode()
    )
    extra: dict[str, Any] = {"crs_in": "wgs84", "position_in": [lng, lat]}
    command = ReportCommand(
        channel=channel,
        subclass=rule.code,
        lng=lng,
        lat=lat,
        description=description,
        hazard=hazard,
        address=address,
        component={"object_code": object_code, "owner": ""} if object_code else None,
        photos=(submission.media.id,) if submission.media else (),
        uploads=(submission.media,) if submission.media else (),
        extra=extra,
    )
    citizen = (phone, _nickname(submission)) if phone and channel is Channel.CITIZEN_QR else None
    intake = Intake(
        secrets.token_urlsafe(18), application.id, client, body_hash, media_url, env.clock.now()
    )
    taking = _Take(env.clock, application.name, command, body_hash, media_url, citizen, audit)
    return CheckedRequest(application.id, intake, taking)


def needs_reading(submission: Submission) -> bool:
    """Whether ``check_request`` looks the position up in the gazetteer (an
    ``address_string`` and no ``lat``/``long``): the one check that always reads."""
    return not (_text(submission.lat) or _text(submission.long)) and bool(
        _text(submission.address_string)
    )


@dataclass(frozen=True)
class CheckedRequest:
    """A POST request that passed its checks (已核验的服务请求): its new intake record
    (a fresh token; its ``Idempotency-Key``, if any) and how its case is reported."""

    application_id: int
    intake: Intake
    taking: _Take

    def report(self) -> Report:
        """The first try: the case reported with the new intake record written in its
        transaction (``DuplicateKey`` when the application used the key before)."""
        return self.taking.report(self.intake, fresh=True)

    def submitted(self, result: Reported, intake: Intake | None = None) -> Submitted:
        """The answer for the case ``result`` reported (through ``intake``, else the new
        record)."""
        notice = None
        if result.record.case.status is CaseStatus.REPORTED:
            notice = Words(
                "已收到，待城运中心立案", "Received: the command centre will register it shortly"
            )
        token = (intake or self.intake).token
        return Submitted(result.record.case.number, token, result.created, notice)


def take_request(
    uow: UnitOfWork,
    checked: CheckedRequest,
    take: Callable[[Report], Reported],
    key_used: bool = False,
) -> Submitted:
    """Report ``checked`` with ``take``. When its ``Idempotency-Key`` was used before (or
    ``key_used``: a first try already said so), the stored request with that key answers,
    if it was the same request (else 409); a request that held the key and was undone
    leaves it free for this one."""
    client = checked.intake.client_key
    for attempt in range(2):
        if attempt or not key_used:
            try:
                return checked.submitted(take(checked.report()))
            except DuplicateKey:  # the application used this Idempotency-Key before
                if client is None:
                    raise
        elif client is None:
            raise ValueError("key_used: the request has no Idempotency-Key")
        with uow.reader() as reader:
            seen = reader.open311.intake_by_client_key(checked.application_id, client)
        if seen is not None:  # else the request that held the key was undone: take it
            intake = _reused(seen, checked.taking.body_hash)
            return checked.submitted(take(checked.taking.report(intake, fresh=False)), intake)
    raise Conflict(
        "同一幂等键的请求正在处理 / a request with this Idempotency-Key is being taken in",
        [Problem(("header", "Idempotency-Key"), "send it again shortly", "busy")],
    )


@dataclass(frozen=True)
class _Take:
    """A checked request, reported as the case of one intake record (a new one, or the
    one stored for its Idempotency-Key)."""

    clock: Clock
    application: str
    command: ReportCommand
    body_hash: str
    media_url: str
    citizen: tuple[str, str | None] | None
    audit: AuditEntry | None

    def report(self, intake: Intake, fresh: bool) -> Report:
        """The report of ``intake``'s case: with a ``fresh`` intake, its record is written
        in the case's transaction (``DuplicateKey`` when its Idempotency-Key was used); a
        stored one's case is found by its key (or made, when it never was)."""
        details: dict[str, Any] = {"application": self.application, "token": intake.token}
        if self.media_url:
            details["media_url"] = self.media_url
        command = replace(self.command, extra={**self.command.extra, "open311": details})

        def with_case(uow: UnitOfWork, command: ReportCommand) -> ReportCommand:
            if fresh:
                uow.open311.add_intake(intake)
            if self.citizen is None:
                return command
            found = citizen_in(uow, self.clock, *self.citizen)
            return replace(command, extra={**command.extra, "citizen_id": found.id})

        return Report(
            command, CASE_KEY_PREFIX + intake.token, self.body_hash, self.audit, with_case
        )


def _reused(seen: Intake, body_hash: str) -> Intake:
    if seen.request_hash != body_hash:
        raise Conflict(
            "幂等键已用于另一份不同的请求 / this Idempotency-Key was already used for a "
            "different request",
            [Problem(("header", "Idempotency-Key"), "use a new key for a new request", "reused")],
        )
    return seen


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRequest:
    """A case as an Open311 service request; contacts are never part of it."""

    service_request_id: str
    token: str
    status: str
    status_notes: Words
    service_code: str
    service_name: Words
    description: str
    agency_responsible: Words
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str
    lat: float | None
    long: float | None
    media_url: str | None
    photo_id: str | None = None
    """The photo uploaded with the request, when there was one (``media_url`` is then
    the platform's address for it, made by the HTTP layer)."""


_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[ -]?(\d{7,8})(?!\d)")
_EMAIL = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")


def mask_contacts(text: str) -> str:
    """Phone numbers and e-mail addresses in free text, masked (``139****5678``)."""
    text = _MOBILE.sub(lambda m: mask_phone("".join(m.groups())), text)
    text = _LANDLINE.sub(lambda m: mask_phone("".join(m.groups())), text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


COMMAND_CENTRE = Words("城运中心", "Command centre")


def _agency(record: CaseRecord, rule: Subclass | None) -> Words:
    value = str(record.extra.get("responsible") or (rule.responsible.value if rule else ""))
    for kind in (Department, TeamType):
        try:
            member = kind(value)
        except ValueError:
            continue
        return Words(member.zh, member.en)
    return COMMAND_CENTRE


def _notes(record: CaseRecord) -> Words:
    case = record.case
    zh, en = case.status.zh, case.status.en
    last = case.events[-1] if case.events else None
    if case.status in TERMINAL_STATUSES and last is not None and last.reason.strip():
        reason = mask_contacts(last.reason.strip())
        return Words(f"{zh}：{reason}", f"{en}: {reason}")
    return Words(zh, en)


def _expected(
    record: CaseRecord, rule: Subclass | None, calendar: WorkingCalendar
) -> datetime | None:
    """When the problem should be handled by the SLA: the handling deadline once the case
    is dispatched; before that, the deadlines still ahead of it added up."""
    case = record.case
    if case.status in TERMINAL_STATUSES or case.status is CaseStatus.ON_HOLD:
        return None
    stages = record.clocks.stages
    handle = stages.get(Stage.HANDLE)
    if handle is not None:
        return handle.deadline.due_at
    if rule is None or Stage.HANDLE not in rule.limits or Stage.DISPATCH not in rule.limits:
        return None
    dispatch, register = stages.get(Stage.DISPATCH), stages.get(Stage.REGISTER)
    if dispatch is not None and dispatch.open:
        at = dispatch.deadline.due_at
    elif register is not None and register.open:
        limit = stage_limit(Stage.DISPATCH, case.urgency, rule.limits[Stage.DISPATCH])
        at = deadline_for(register.deadline.due_at, limit, calendar)
    else:
        return None
    limit = stage_limit(Stage.HANDLE, case.urgency, rule.limits[Stage.HANDLE])
    return deadline_for(at, limit, calendar)


def _service_request(
    record: CaseRecord, intake: Intake, taxonomy: Taxonomy, calendar: WorkingCalendar
) -> ServiceRequest:
    case = record.case
    rule = taxonomy.get(case.subclass)
    return ServiceRequest(
        service_request_id=case.number,
        token=intake.token,
        status="open" if case.status in OPEN_STATUSES else "closed",
        status_notes=_notes(record),
        service_code=case.subclass,
        service_name=Words(rule.name_zh, rule.name_en)
        if rule
        else Words(case.subclass, case.subclass),
        description=mask_contacts(case.description),
        agency_responsible=_agency(record, rule),
        requested_datetime=as_china_time(case.reported_at),
        updated_datetime=as_china_time(case.events[-1].at if case.events else case.reported_at),
        expected_datetime=_expected(record, rule, calendar),
        address=mask_contacts(record.address),
        lat=case.position[1] if case.position else None,
        long=case.position[0] if case.position else None,
        media_url=intake.media_url or None,
        photo_id=_report_photo(record),
    )


def _report_photo(record: CaseRecord) -> str | None:
    first = record.case.events[0] if record.case.events else None
    return first.photos[0] if first is not None and first.photos else None


def request_photo(uow: UnitOfWork, photo_id: str) -> PhotoRecord:
    """A photo uploaded with an Open311 request (no other photo of the platform is
    public): ``NotFound`` otherwise."""
    with uow.reader() as uow:
        photo = uow.cases.photo(photo_id.strip())
        record = uow.cases.get(photo.case_id) if photo is not None else None
        ours = record is not None and uow.open311.token_of_case(record.id) is not None
    if photo is None or record is None or not ours or _report_photo(record) != photo.id:
        raise NotFound(
            f"没有此照片 / no media {photo_id[:64]!r}",
            [Problem(("photo_id",), "the media_url of a request", "unknown")],
        )
    return photo


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _moment(value: str | None, name: str) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _invalid(
            name,
            f"{name} 须为带时区的 W3C 时间 / {name} must be a W3C datetime with a timezone",
            "e.g. 2020-06-01T00:00:00Z or 2020-06-01T08:00:00+08:00",
        )
    return moment


def request_query(
    now: datetime,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> RequestQuery:
    """GET requests' filters as the spec says: ``service_request_id`` (comma-separated)
    overrides all others; without dates, the last 90 days; a span of 90 days from the date
    given; at most 1000 requests, newest first."""
    numbers = _split(service_request_id)
    if numbers:
        return RequestQuery(numbers=numbers[:MAX_REQUESTS], limit=MAX_REQUESTS)
    statuses: list[str] = []
    for each in _split(status):
        if each.lower() == "open":
            statuses.extend(s.value for s in OPEN_STATUSES)
        elif each.lower() == "closed":
            statuses.extend(s.value for s in TERMINAL_STATUSES)
        else:
            raise _invalid("status", "status 无效 / invalid status", "open, closed or open,closed")
    start, end = _moment(start_date, "start_date"), _moment(end_date, "end_date")
    if start is None and end is None:
        start = now - DEFAULT_SPAN
    elif end is None:
        assert start is not None
        end = start + DEFAULT_SPAN
    elif start is None:
        start = end - DEFAULT_SPAN
    elif start > end:
        raise _invalid(
            "start_date", "start_date 晚于 end_date / start_date is after end_date", "swap them"
        )
    return RequestQuery(
        subclasses=tuple(sorted({c.upper() for c in _split(service_code)})),
        statuses=tuple(sorted(set(statuses))),
        start=start,
        end=end,
        limit=MAX_REQUESTS,
    )


def find_requests(
    uow: UnitOfWork, env: CaseEnvironment, query: RequestQuery
) -> list[ServiceRequest]:
    """The Open311 requests matching ``query``, newest first."""
    with uow.reader() as uow:
        found = uow.open311.find(query)
        taxonomy = taxonomy_in_force(uow, env)
        records = [(uow.cases.get(case_id), intake) for case_id, intake in found]
    return [
        _service_request(record, intake, taxonomy, env.calendar)
        for record, intake in records
        if record is not None
    ]


def get_request(uow: UnitOfWork, env: CaseEnvironment, number: str) -> ServiceRequest:
    found = find_requests(uow, env, RequestQuery(numbers=(number.strip(),), limit=1))
    if not found:
        raise NotFound(
            f"没有此服务请求 / service_request_id {number!r} was not found",
            [
                Problem(
                    ("service_request_id",), "a service_request_id from POST requests", "unknown"
                )
            ],
        )
    return found[0]


def token_request(uow: UnitOfWork, token: str) -> tuple[str, str | None]:
    """tokens/{token}: the token and the service_request_id it became (``None`` while the
    request is still being taken in)."""
    with uow.reader() as uow:
        intake = uow.open311.intake(token.strip())
        case_id = uow.open311.case_id(token.strip()) if intake is not None else None
        record = uow.cases.get(case_id) if case_id is not None else None
    if intake is None:
        raise NotFound(
            f"没有此令牌 / token {token!r} was not found",
            [Problem(("token",), "a token from POST requests", "unknown")],
        )
    return intake.token, record.case.number if record is not None else None
