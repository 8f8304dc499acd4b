"""Citizen QR codes (市民扫码): the shop registry's rules and the signed shop token.

A shop (沿街商铺) keeps a poster with a QR code; the code's URL carries a *shop token*
that names the shop, its key version and an expiry, signed with HMAC-SHA-256 under the
installation's secret. Re-issuing a shop's token bumps the key version, so every older
poster of that shop is refused from then on. Standard library only; time is a parameter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chengyun.domain.cases import Action, CaseEvent, CaseStatus
from chengyun.domain.errors import Forbidden, InvalidInput, Problem

#: Bounds of what a person may type for a shop.
MAX_CODE = 20
MAX_NAME = 100
MAX_ADDRESS = 200
#: The largest shop id and key version a token can carry (the packed field widths).
MAX_SHOP_ID = 2**32 - 1
MAX_KEY_VERSION = 2**16 - 1
#: How long a token is valid by default (``CHENGYUN_SHOP_TOKEN_DAYS``): two years.
DEFAULT_TOKEN_DAYS = 730

_FORMAT = 1
_LAYOUT = struct.Struct(">BIHI")  # format, shop id, key version, expiry (unix seconds)
_MAC_BYTES = 12  # 96 bits: beyond guessing, short enough for a small QR code
TOKEN_LENGTH = len(base64.urlsafe_b64encode(b"\0" * (_LAYOUT.size + _MAC_BYTES)).rstrip(b"="))
_TOKEN = re.compile(rf"^[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

#: The kinds of problem a citizen picks from: the common street problems of the taxonomy,
#: in plain names (those missing from the taxonomy in force are not offered).
CITIZEN_SUBCLASSES = (
    "E0102",  # 暴露垃圾 exposed rubbish
    "E0104",  # 道路不洁 dirty road surface
    "E0507",  # 乱堆物堆料 goods piled on public space
    "E0504",  # 店外经营 trading outside the shop front
    "E0505",  # 机动车乱停放 illegal car parking
    "E0506",  # 非机动车乱停放 disorderly bicycle parking
    "E0201",  # 非法小广告 illegal flyposting
    "E0501",  # 无照经营游商 unlicensed street vendor
    "E0110",  # 道路破损 damaged road surface
    "E0406",  # 道路积水 flooded road
    "C0118",  # 路灯 street light
    "C0305",  # 垃圾箱 litter bin
    "E0601",  # 消防通道占用 blocked fire lane
    "E0508",  # 商业噪声 commercial noise
)


@dataclass(frozen=True)
class Shop:
    """A shop in the registry (商铺): where its poster hangs and the unit (管理单元) and
    grid that position falls in. ``key_version`` is the version of its current token;
    ``token_expires_at`` when that token stops working."""

    code: str
    name: str
    address: str
    lng: float
    lat: float
    grid_code: str
    unit_code: str
    key_version: int
    token_expires_at: datetime
    active: bool = True
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ShopToken:
    """What a valid token says: the shop, the key version, when it expires."""

    shop_id: int
    key_version: int
    expires_at: datetime


class ForgedShopToken(Forbidden):
    """A token that was not signed by this installation, or is malformed (HTTP 403)."""


class ExpiredShopToken(Forbidden):
    """A genuine token that no longer works: past its expiry, or replaced by a re-issued
    poster, or of a shop taken off the registry (the pages answer 410 Gone)."""


def _mac(secret: str, payload: bytes) -> bytes:
    if not secret:
        raise ValueError("a secret is required to sign shop tokens")
    return hmac.new(secret.encode(), b"shop-token:" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def token_expiry(now: datetime, days: int) -> datetime:
    """When a token issued at ``now`` for ``days`` expires (whole seconds, UTC)."""
    return (now + timedelta(days=days)).astimezone(UTC).replace(microsecond=0)


def issue_token(secret: str, shop_id: int, key_version: int, expires_at: datetime) -> str:
    """The compact URL-safe token for a shop's poster (31 characters)."""
    if not 0 < shop_id <= MAX_SHOP_ID or not 0 < key_version <= MAX_KEY_VERSION:
        raise ValueError(f"shop id {shop_id} or key version {key_version} out of range")
    payload = _LAYOUT.pack(_FORMAT, shop_id, key_version, int(expires_at.timestamp()))
    raw = payload + _mac(secret, payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _forged(reason: str) -> ForgedShopToken:
    return ForgedShopToken(
        "二维码无效 / this QR code is not valid",
        [
            Problem(
                ("shop_token",),
                f"{reason}；请扫描店铺张贴的二维码 / {reason}: scan the code on the shop's poster",
                "shop_token_forged",
            )
        ],
    )


def expired(reason_zh: str, reason_en: str) -> ExpiredShopToken:
    """The refusal of a genuine token that no longer works, saying why."""
    return ExpiredShopToken(
        "二维码已失效 / this QR code is no longer valid",
        [
            Problem(
                ("shop_token",),
                f"{reason_zh}，请扫描店铺新张贴的二维码或拨打12345 / {reason_en}: scan the shop's "
                "new poster, or call 12345",
                "shop_token_expired",
            )
        ],
    )


def read_token(secret: str, token: str, now: datetime) -> ShopToken:
    """Check a token's signature and expiry: ``ForgedShopToken`` when it is not ours,
    ``ExpiredShopToken`` when it is past its expiry. The key version is the caller's to
    compare with the shop's current one."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise _forged("格式不对 / malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _forged("格式不对 / malformed") from exc
    payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise _forged("签名不符 / the signature does not match")
    form, shop_id, key_version, expiry = _LAYOUT.unpack(payload)
    if form != _FORMAT or shop_id == 0 or key_version == 0:
        raise _forged("格式不对 / malformed")
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if now >= expires_at:
        raise expired(
            f"二维码已于 {expires_at:%Y-%m-%d} 过期", f"the code expired on {expires_at:%Y-%m-%d}"
        )
    return ShopToken(shop_id, key_version, expires_at)


def check_current(shop: Shop | None, token: ShopToken) -> Shop:
    """The shop a valid token names, if that token is still the shop's current one."""
    if shop is None or not shop.active:
        raise expired("该店铺已不在登记中", "the shop is no longer registered")
    if token.key_version != shop.key_version:
        raise expired(
            "该二维码已被新张贴的二维码替换", "this poster has been replaced by a new one"
        )
    return shop


# --- the registry's rules ---------------------------------------------------------------------


def clean_text(value: str | None) -> str:
    """Text as typed, with runs of white space collapsed."""
    return " ".join((value or "").split())


def shop_problems(code: str, name: str, address: str) -> list[Problem]:
    """What is wrong with a shop's code, name and address (positions are checked where
    the territory is known), each located by field."""
    problems: list[Problem] = []
    if code and (len(code) > MAX_CODE or not _CODE.match(code)):
        problems.append(
            Problem(
                ("code",),
                f"店铺编号须为字母、数字、-、_，最多 {MAX_CODE} 位，如 S00012 / letters, digits, "
                f"- and _, at most {MAX_CODE}, e.g. S00012",
                "code",
            )
        )
    if not name:
        problems.append(Problem(("name",), "店铺名称为空 / the shop's name is empty", "missing"))
    elif len(name) > MAX_NAME:
        problems.append(Problem(("name",), f"最多 {MAX_NAME} 字 / at most {MAX_NAME}", "length"))
    if len(address) > MAX_ADDRESS:
        problems.append(
            Problem(("address",), f"最多 {MAX_ADDRESS} 字 / at most {MAX_ADDRESS}", "length")
        )
    return problems


def check_shop(code: str, name: str, address: str) -> None:
    problems = shop_problems(code, name, address)
    if problems:
        raise InvalidInput("店铺信息有误 / the shop's details are not valid", problems)


def next_code(codes: list[str]) -> str:
    """The next free automatic code: ``S00001``, ``S00002``…"""
    taken = {c.upper() for c in codes}
    numbers = [int(c[1:]) for c in taken if c.startswith("S") and c[1:].isdigit()]
    candidate = max(numbers, default=0) + 1
    while f"S{candidate:05d}" in taken:
        candidate += 1
    return f"S{candidate:05d}"


@dataclass(frozen=True)
class CitizenReport:
    """A report made from a shop's QR code (市民扫码上报): the case it became, and the
    unguessable follow token that lets the citizen follow it (no account needed)."""

    follow_token: str
    case_id: int
    shop_id: int
    citizen_id: int | None
    created_at: datetime


# --- what a citizen sees of their report -------------------------------------------------------


@dataclass(frozen=True)
class PublicStep:
    """One step of a case as the citizen who reported it sees it: what happened and
    when, never who (no staff names, numbers or phones). ``kind`` names the words."""

    kind: str
    at: datetime


#: The steps a citizen is shown, by the action recorded (everything else — escalations,
#: extensions, consultations, internal notes — stays inside the platform).
_PUBLIC_ACTIONS = {
    Action.REPORT: "report",
    Action.FORWARD: "forward",
    Action.REGISTER: "register",
    Action.REJECT: "reject",
    Action.DISPATCH: "dispatch",
    Action.ACCEPT: "accept",
    Action.ARRIVE: "arrive",
    Action.HANDLE: "handle",
    Action.CLOSE: "close",
    Action.HOLD: "hold",
    Action.RESUME: "resume",
    Action.REOPEN: "reopen",
    Action.MERGE: "merge",
}


def public_steps(events: list[CaseEvent] | tuple[CaseEvent, ...]) -> list[PublicStep]:
    """The public timeline of a case, oldest first. A re-dispatch after a return or a
    failed check reads as one more dispatch; a check says whether it passed; a void
    shows only once approved."""
    steps: list[PublicStep] = []
    for event in events:
        kind = _PUBLIC_ACTIONS.get(event.action)
        if event.action is Action.CHECK:
            kind = "check_passed" if event.data.get("passed") else "check_failed"
        elif event.action is Action.APPROVE_VOID and event.to_status is CaseStatus.VOIDED:
            kind = "void"
        elif event.action is Action.DISPATCH and steps and steps[-1].kind == "dispatch":
            continue  # a reassignment is the platform's business
        if kind is not None:
            steps.append(PublicStep(kind, event.at))
    return steps
