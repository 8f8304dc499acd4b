"""Citizen QR code use cases (市民扫码): keep the shop registry (register, change, import,
re-issue a poster's token), and take a citizen's report from a shop's QR code through the
one case intake, with a follow token the citizen keeps to follow it.

A shop's position is located in the territory (unit and grid) when it is registered; its
token is signed with the installation's secret (``domain.shops``). A citizen report is a
``citizen_qr`` case made by ``report_case`` (it waits for an operator to register it, as
the intake policy says), idempotent on the key the page generated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chengyun.clock import Clock
from chengyun.domain import shops as rules
from chengyun.domain.access import mask_phone
from chengyun.domain.cases import Channel
from chengyun.domain.errors import InvalidInput, NotFound, OutsideTerritory, Problem
from chengyun.domain.points import Citizen
from chengyun.domain.shops import CitizenReport, Shop
from chengyun.domain.territory import Location
from chengyun.services.cases import (
    CaseEnvironment,
    Locator,
    ReportCommand,
    Reported,
    report_case,
    taxonomy_in_force,
)
from chengyun.services.points import balance, record_citizen
from chengyun.services.records import CaseRecord, DuplicateKey, PhotoRecord
from chengyun.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ShopIn:
    """A shop as a person gives it (API, spreadsheet row, command line); positions in
    WGS-84. An empty ``code`` gets the next automatic one (``S00001``…)."""

    name: str
    address: str
    lng: float
    lat: float
    code: str = ""
    active: bool = True


@dataclass(frozen=True)
class ShopChanges:
    """What an update changes; ``None`` keeps the stored value."""

    name: str | None = None
    address: str | None = None
    lng: float | None = None
    lat: float | None = None
    active: bool | None = None


@dataclass(frozen=True)
class ShopsImported:
    created: int
    updated: int


def _not_found(shop_id: int) -> NotFound:
    return NotFound(f"没有编号为 {shop_id} 的店铺 / no shop with id {shop_id}")


def _place(
    locator: Locator, lng: float, lat: float, at: tuple[str | int, ...] = ("position",)
) -> Location:
    """Where a shop is; its poster must hang inside the sub-district."""
    try:
        return locator.locate(lng, lat)
    except OutsideTerritory as error:
        raise InvalidInput(
            "店铺不在本街道辖区内 / the shop is outside the sub-district",
            [Problem(at, p.message, "outside") for p in error.problems],
        ) from error
    except InvalidInput as error:
        raise InvalidInput(
            error.message,
            [Problem((*at, *p.location[1:]), p.message, p.kind) for p in error.problems],
        ) from error


def _cleaned(data: ShopIn) -> ShopIn:
    return replace(
        data,
        code=rules.clean_text(data.code).upper(),
        name=rules.clean_text(data.name),
        address=rules.clean_text(data.address),
    )


# --- the registry ------------------------------------------------------------------------------


def register_shop(
    uow: UnitOfWork, clock: Clock, locator: Locator, token_days: int, data: ShopIn
) -> Shop:
    """Add a shop to the registry (店铺登记): checked, located, with its first token."""
    data = _cleaned(data)
    rules.check_shop(data.code, data.name, data.address)
    location = _place(locator, data.lng, data.lat)  # before the transaction: see report_case
    now = clock.now()
    with uow:
        code = data.code or rules.next_code(uow.shops.codes())
        if uow.shops.by_code(code) is not None:
            raise InvalidInput(
                "店铺编号已被使用 / this shop code is taken",
                [Problem(("code",), f"{code}: choose another, or leave it empty", "duplicate")],
            )
        shop = uow.shops.add(_new_shop(code, data, location, now, token_days))
        uow.commit()
    return shop


def _new_shop(code: str, data: ShopIn, location: Location, now: datetime, days: int) -> Shop:
    """A shop as first registered: where it is located, its first token."""
    return Shop(
        code=code,
        name=data.name,
        address=data.address,
        lng=data.lng,
        lat=data.lat,
        grid_code=location.grid.code,
        unit_code=location.unit.code,
        key_version=1,
        token_expires_at=rules.token_expiry(now, days),
        active=data.active,
        created_at=now,
        updated_at=now,
    )


def update_shop(
    uow: UnitOfWork, clock: Clock, locator: Locator, shop_id: int, changes: ShopChanges
) -> Shop:
    """Change a shop's details; a new position is located again. Its token stays valid
    (re-issue it to retire the old posters)."""
    with uow:
        shop = uow.shops.get(shop_id)
    if shop is None:
        raise _not_found(shop_id)
    name = rules.clean_text(changes.name) if changes.name is not None else shop.name
    address = rules.clean_text(changes.address) if changes.address is not None else shop.address
    rules.check_shop(shop.code, name, address)
    if (changes.lng is None) != (changes.lat is None):
        raise InvalidInput(
            "经纬度须同时填写 / give both longitude and latitude",
            [Problem(("position",), "lng and lat together", "missing")],
        )
    lng = shop.lng if changes.lng is None else changes.lng
    lat = shop.lat if changes.lat is None else changes.lat
    location = _place(locator, lng, lat) if (lng, lat) != (shop.lng, shop.lat) else None
    with uow:
        current = uow.shops.get(shop_id, for_update=True)
        if current is None:
            raise _not_found(shop_id)
        updated = replace(
            current,
            name=name,
            address=address,
            lng=lng,
            lat=lat,
            grid_code=location.grid.code if location else current.grid_code,
            unit_code=location.unit.code if location else current.unit_code,
            active=current.active if changes.active is None else changes.active,
            updated_at=clock.now(),
        )
        uow.shops.save(updated)
        uow.commit()
    return updated


def reissue_token(uow: UnitOfWork, clock: Clock, shop_id: int, token_days: int) -> Shop:
    """A new token for a shop's poster (换发二维码): the key version goes up, so every
    poster printed before stops working; the new one is valid for ``token_days``."""
    now = clock.now()
    with uow:
        shop = uow.shops.get(shop_id, for_update=True)
        if shop is None:
            raise _not_found(shop_id)
        if shop.key_version >= rules.MAX_KEY_VERSION:
            raise InvalidInput(
                "该店铺的二维码换发次数已达上限 / this shop's token was re-issued too often",
                [Problem(("shop_id",), "register the shop again under a new code", "limit")],
            )
        updated = replace(
            shop,
            key_version=shop.key_version + 1,
            token_expires_at=rules.token_expiry(now, token_days),
            updated_at=now,
        )
        uow.shops.save(updated)
        uow.commit()
    return updated


def list_shops(
    uow: UnitOfWork, unit_code: str | None = None, active_only: bool = False
) -> list[Shop]:
    with uow.reader() as uow:
        return uow.shops.all(unit_code, active_only)


def get_shop(uow: UnitOfWork, shop_id: int) -> Shop:
    with uow.reader() as uow:
        shop = uow.shops.get(shop_id)
    if shop is None:
        raise _not_found(shop_id)
    return shop


def report_counts(uow: UnitOfWork, shop_ids: Sequence[int]) -> dict[int, int]:
    """How many citizen reports came from each shop's code."""
    with uow.reader() as uow:
        return uow.shops.count_reports(shop_ids)


def import_shops(
    uow: UnitOfWork,
    clock: Clock,
    locator: Locator,
    token_days: int,
    rows: Sequence[tuple[tuple[str | int, ...], ShopIn]],
    unreadable: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> ShopsImported:
    """Add or update shops from a sheet, all or nothing: each row is checked like a shop
    sent to the API and matched to the registry by its code (a row without one is a new
    shop). ``rows`` are (where the row is, e.g. ``("店铺 Shops", 7)``, the shop);
    ``unreadable`` the problems of cells the sheet reader could not read; ``headers`` names
    the fields as the sheet's columns. ``InvalidInput`` lists every problem located by
    sheet, row and column."""
    column = dict(headers or {})
    problems: list[Problem] = list(unreadable)
    cleaned: list[tuple[tuple[str | int, ...], ShopIn, Location]] = []
    seen: dict[str, tuple[str | int, ...]] = {}
    for where, data in rows:
        data = _cleaned(data)
        found = [
            Problem((*where, column.get(str(p.location[0]), p.location[0])), p.message, p.kind)
            for p in rules.shop_problems(data.code, data.name, data.address)
        ]
        if data.code and data.code in seen:
            found.append(
                Problem(
                    (*where, column.get("code", "code")),
                    f"与第 {seen[data.code][-1]} 行编号重复 / the same code as row {seen[data.code][-1]}",
                    "duplicate",
                )
            )
        if data.code:
            seen.setdefault(data.code, where)
        try:
            location = _place(locator, data.lng, data.lat, (*where, column.get("lng", "position")))
        except InvalidInput as error:
            found.extend(error.problems)
        else:
            if not found:
                cleaned.append((where, data, location))
        problems.extend(found)
    if problems:
        raise InvalidInput(
            f"店铺表有 {len(problems)} 处问题，未导入任何内容 / the shop table has {len(problems)} "
            "problem(s); nothing was imported",
            problems,
        )
    now = clock.now()
    created = updated = 0
    with uow:
        codes = uow.shops.codes()
        for _, data, location in cleaned:
            existing = uow.shops.by_code(data.code) if data.code else None
            if existing is None:
                code = data.code or rules.next_code(codes)
                codes.append(code)
                uow.shops.add(_new_shop(code, data, location, now, token_days))
                created += 1
                continue
            changed = replace(
                existing,
                name=data.name,
                address=data.address,
                lng=data.lng,
                lat=data.lat,
                grid_code=location.grid.code,
                unit_code=location.unit.code,
                active=data.active,
            )
            if changed != existing:
                uow.shops.save(replace(changed, updated_at=now))
                updated += 1
        uow.commit()
    return ShopsImported(created, updated)


# --- tokens and addresses ----------------------------------------------------------------------


def shop_token(secret: str, shop: Shop) -> str:
    """The token of a shop's current poster."""
    assert shop.id is not None, "the shop has not been added"
    return rules.issue_token(secret, shop.id, shop.key_version, shop.token_expires_at)


def citizen_url(base_url: str, token: str) -> str:
    """The address in the QR code: the citizen page of the shop."""
    return f"{base_url.rstrip('/')}/c/{token}"


def shop_for_token(uow: UnitOfWork, secret: str, token: str, now: datetime) -> Shop:
    """The shop behind a scanned token: ``ForgedShopToken`` (403) when it is not ours,
    ``ExpiredShopToken`` (410) when it expired, was replaced, or its shop is gone."""
    read = rules.read_token(secret, token, now)
    with uow.reader() as uow:
        shop = uow.shops.get(read.shop_id)
    return rules.check_current(shop, read)


# --- a citizen's report ------------------------------------------------------------------------


@dataclass(frozen=True)
class CitizenReportIn:
    """What the citizen page sends: the problem, where (WGS-84), the photos already stored,
    and optionally a mobile number that earns points (积分)."""

    subclass: str
    description: str
    lng: float
    lat: float
    uploads: tuple[PhotoRecord, ...] = ()
    phone: str | None = None


@dataclass(frozen=True)
class CitizenReported:
    report: CitizenReport
    record: CaseRecord
    created: bool


def report_from_shop(
    uow_factory: Callable[[], UnitOfWork],
    env: CaseEnvironment,
    secret: str,
    token: str,
    data: CitizenReportIn,
    idempotency_key: str,
    body_hash: str,
) -> CitizenReported:
    """A citizen's report from a shop's QR code becomes a ``citizen_qr`` case (through
    ``report_case``, idempotent on the page's key) with its follow token. ``uow_factory``
    gives a fresh unit of work for each transaction."""
    shop = shop_for_token(uow_factory(), secret, token, env.clock.now())
    assert shop.id is not None
    with uow_factory() as uow:  # a wrong subclass must not leave a citizen behind
        if taxonomy_in_force(uow, env).get(data.subclass.strip().upper()) is None:
            raise InvalidInput(
                "请选择问题类型 / choose what the problem is",
                [Problem(("subclass",), f"{data.subclass!r} is not a known kind", "unknown")],
            )
    citizen: Citizen | None = None
    if data.phone:
        citizen = record_citizen(uow_factory(), env.clock, data.phone)
    extra: dict[str, Any] = {"shop_id": shop.id, "shop_code": shop.code}
    if citizen is not None:
        extra["citizen_id"] = citizen.id
    near_shop = (data.lng, data.lat) == (shop.lng, shop.lat)
    command = ReportCommand(
        channel=Channel.CITIZEN_QR,
        subclass=data.subclass.strip().upper(),
        lng=data.lng,
        lat=data.lat,
        description=data.description,
        address=f"{shop.name}（{shop.address}）" if near_shop else "",
        photos=tuple(p.id for p in data.uploads),
        uploads=data.uploads,
        extra=extra,
    )
    key = f"citizen_qr:{shop.id}:{idempotency_key}"
    reported: Reported
    try:
        reported = report_case(uow_factory(), env, command, key, body_hash)
    except DuplicateKey:  # the same submission, sent twice at once: the other one won
        reported = report_case(uow_factory(), env, command, key, body_hash)
    case_id = reported.record.id
    with uow_factory() as uow:
        link = uow.shops.report_for_case(case_id)
        if link is None:
            # a retry after a lost answer finds the case by its key and the link here
            uow.shops.add_report(
                CitizenReport(
                    secrets.token_urlsafe(24),
                    case_id,
                    shop.id,
                    citizen.id if citizen else None,
                    env.clock.now(),
                )
            )
            uow.commit()
        link = uow.shops.report_for_case(case_id)
        assert link is not None
    return CitizenReported(link, reported.record, reported.created)


@dataclass(frozen=True)
class FollowView:
    """What the follow page shows: the case (read for its status and public steps), the
    shop it came from, and the citizen's masked number and points balance if they gave one."""

    report: CitizenReport
    record: CaseRecord
    shop: Shop | None
    steps: list[rules.PublicStep]
    phone: str | None
    points: int | None


def follow_report(uow_factory: Callable[[], UnitOfWork], follow_token: str) -> FollowView:
    """The report behind a follow token (``NotFound`` for an unknown one)."""
    if not 16 <= len(follow_token) <= 43:
        raise NotFound("找不到该反映 / no report with this link")
    with uow_factory() as uow:
        link = uow.shops.report(follow_token)
        if link is None:
            raise NotFound("找不到该反映 / no report with this link")
        record = uow.cases.get(link.case_id)
        shop = uow.shops.get(link.shop_id)
        citizen = uow.points.citizen(link.citizen_id) if link.citizen_id else None
    assert record is not None, "a citizen report names its case"
    points = balance(uow_factory(), citizen.id) if citizen else None
    return FollowView(
        link,
        record,
        shop,
        rules.public_steps(record.case.events),
        mask_phone(citizen.phone) if citizen else None,
        points,
    )
