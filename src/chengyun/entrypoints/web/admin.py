"""Administration (系统管理) at ``/admin/``: the territory (view, import GeoJSON, go-live
dates), people and the day/night force tables (edit, import and export .xlsx), the taxonomy
and its time limits (import and export .xlsx), the accounts with their roles, the video
cameras and scene mapping, and the shops with their QR posters.

The pages list what is there; every change goes through the same ``/api/v1`` routes a
script would use (the page's script sends them with the session and its CSRF token), so a
page can do nothing the API would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from chengyun.domain.access import Permission, Principal, Role, ScopeKind
from chengyun.domain.forces import Department, Post, Shift, TeamType
from chengyun.domain.taxonomy import Stage
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.web.command import _frame, _render, _territory, _to_login, page_access
from chengyun.entrypoints.web.i18n import Language, language
from chengyun.services import vision
from chengyun.services.cases import taxonomy_in_force
from chengyun.services.shops import list_shops

router = APIRouter(include_in_schema=False)

#: The sections of the administration, the permission each needs, and its word keys.
SECTIONS: tuple[tuple[str, Permission, str, str], ...] = (
    ("territory", Permission.TERRITORY_WRITE, "admin_territory", "admin_territory_hint"),
    ("people", Permission.FORCES_WRITE, "admin_people", "admin_people_hint"),
    ("taxonomy", Permission.TAXONOMY_WRITE, "admin_taxonomy", "admin_taxonomy_hint"),
    ("accounts", Permission.ACCOUNTS_MANAGE, "admin_accounts", "admin_accounts_hint"),
    ("cameras", Permission.INTEGRATIONS_MANAGE, "admin_cameras", "admin_cameras_hint"),
    ("shops", Permission.INTEGRATIONS_MANAGE, "admin_shops", "admin_shops_hint"),
    ("outbox", Permission.INTEGRATIONS_MANAGE, "ob_title", "ob_hint"),
)


AnyStaff = Annotated[Principal | None, Depends(page_access(Permission.AUTHENTICATED))]
TerritoryAdmin = Annotated[Principal | None, Depends(page_access(Permission.TERRITORY_WRITE))]
PeopleAdmin = Annotated[Principal | None, Depends(page_access(Permission.FORCES_WRITE))]
TaxonomyAdmin = Annotated[Principal | None, Depends(page_access(Permission.TAXONOMY_WRITE))]
AccountsAdmin = Annotated[Principal | None, Depends(page_access(Permission.ACCOUNTS_MANAGE))]
IntegrationsAdmin = Annotated[
    Principal | None, Depends(page_access(Permission.INTEGRATIONS_MANAGE))
]


def _label(item: Any, lang: Language) -> str:
    return str(item.en if lang == "en" else item.zh)


def _page(
    request: Request,
    platform: Any,
    who: Principal,
    template: str,
    section: str,
    build: Callable[[Language], dict[str, Any]],
) -> Response:
    lang = language(request)
    context = _frame(request, platform, who, lang)
    extra = build(lang)
    context.update(
        section=section,
        sections=[
            (name, context["t"][title], context["t"][hint])
            for name, needs, title, hint in SECTIONS
            if who.may(needs)
        ],
        config={
            "lang": lang,
            "words": context["t"],
            "labels": context["l"],
            "serverNow": context["server_now"],
            **extra.pop("config", {}),
        },
        **extra,
    )
    return _render(request, platform, template, context)


@router.get("/admin/", response_class=HTMLResponse)
def admin_index(request: Request, platform: PlatformDep, who: AnyStaff) -> Response:
    """What this account may administer (系统管理)."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        return {}

    return _page(request, platform, who, "admin_index.html", "", build)


@router.get("/admin/territory", response_class=HTMLResponse)
def admin_territory(request: Request, platform: PlatformDep, who: TerritoryAdmin) -> Response:
    """The territory: grids with their go-live dates, units, areas; import GeoJSON."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        territory = _territory(platform)
        grids = []
        for grid in territory.grids if territory else ():
            units = territory.units_of(grid.code) if territory else ()
            grids.append(
                {
                    "code": grid.code,
                    "name": grid.name,
                    "name_en": grid.name_en,
                    "live_from": grid.live_from.isoformat(),
                    "units": len(units),
                    "key_units": sum(1 for u in units if u.key),
                }
            )
        return {
            "grids": grids,
            "area_count": len(territory.areas) if territory else 0,
            "unit_count": len(territory.units) if territory else 0,
            "illustrative": bool(territory and territory.illustrative),
            "config": {"tileUrl": platform.settings.tile_url},
        }

    return _page(request, platform, who, "admin_territory.html", "territory", build)


@router.get("/admin/people", response_class=HTMLResponse)
def admin_people(request: Request, platform: PlatformDep, who: PeopleAdmin) -> Response:
    """People and their day/night assignments; the force tables as .xlsx."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        with platform.uow(reading=True) as uow:
            roster = uow.forces.roster()
        territory = _territory(platform)
        places = {g.code: g.name for g in territory.grids} if territory else {}
        places |= {u.code: u.name for u in territory.units} if territory else {}
        everywhere = _label(ScopeKind.SUB_DISTRICT, lang)
        by_person: dict[str, list[dict[str, Any]]] = {}
        for a in roster.assignments:
            by_person.setdefault(a.number, []).append(
                {
                    "shift": a.shift.value,
                    "grid_code": a.grid_code,
                    "unit_code": a.unit_code,
                    "note": a.note,
                }
            )
        people = []
        for p in sorted(roster.people, key=lambda p: p.number):
            assigned = by_person.get(p.number, [])
            people.append(
                {
                    "number": p.number,
                    "name": p.name,
                    "phone": p.phone,
                    "post": p.post.value,
                    "post_label": _label(p.post, lang),
                    "team": p.team.value if p.team else None,
                    "team_label": _label(p.team, lang) if p.team else "",
                    "department": p.department.value if p.department else None,
                    "department_label": _label(p.department, lang) if p.department else "",
                    "assignments": assigned,
                    "places": [
                        f"{_label(Shift(a['shift']), lang)} "
                        f"{places.get(a['unit_code'] or a['grid_code'] or '', everywhere)}"
                        for a in assigned
                    ],
                }
            )
        return {
            "people": people,
            "posts": [(p.value, _label(p, lang)) for p in Post],
            "teams": [(t.value, _label(t, lang)) for t in TeamType],
            "departments": [(d.value, _label(d, lang)) for d in Department],
            "shifts": [(s.value, _label(s, lang)) for s in Shift],
            "config": {"people": {p["number"]: p for p in people}},
        }

    return _page(request, platform, who, "admin_people.html", "people", build)


@router.get("/admin/taxonomy", response_class=HTMLResponse)
def admin_taxonomy(request: Request, platform: PlatformDep, who: TaxonomyAdmin) -> Response:
    """The taxonomy (分类) with its time limits; import and export .xlsx."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        with platform.uow(reading=True) as uow:
            taxonomy = taxonomy_in_force(uow, platform.cases)
            stored = uow.taxonomy.get() is not None
        rows = [
            {
                "code": s.code,
                "group": s.class_name_en if lang == "en" else s.class_name_zh,
                "name": s.name_en if lang == "en" else s.name_zh,
                "urgency": _label(s.urgency, lang),
                "limits": {stage.value: str(limit) for stage, limit in s.limits.items()},
            }
            for s in taxonomy
        ]
        return {
            "subclasses": rows,
            "stages": [(s.value, _label(s, lang)) for s in Stage],
            "stored": stored,
        }

    return _page(request, platform, who, "admin_taxonomy.html", "taxonomy", build)


@router.get("/admin/accounts", response_class=HTMLResponse)
def admin_accounts(request: Request, platform: PlatformDep, who: AccountsAdmin) -> Response:
    """Accounts, their roles and scopes; create, disable and enable."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        with platform.uow(reading=True) as uow:
            accounts = uow.accounts.all()
        return {
            "accounts": [
                {
                    "id": a.id,
                    "username": a.username,
                    "display_name": a.display_name,
                    "role": _label(Role(a.role), lang),
                    "scope": _label(ScopeKind(a.scope_kind), lang)
                    + (f" {a.scope_code}" if a.scope_code else ""),
                    "person_number": a.person_number or "",
                    "disabled": a.disabled,
                    "me": a.id == who.account_id,
                }
                for a in sorted(accounts, key=lambda a: a.username)
            ],
            "roles": [(r.value, _label(r, lang)) for r in Role],
            "scope_kinds": [(k.value, _label(k, lang)) for k in ScopeKind],
        }

    return _page(request, platform, who, "admin_accounts.html", "accounts", build)


def _place_names(platform: Any) -> dict[str, str]:
    territory = _territory(platform)
    if territory is None:
        return {}
    return {g.code: g.name for g in territory.grids} | {u.code: u.name for u in territory.units}


@router.get("/admin/cameras", response_class=HTMLResponse)
def admin_cameras(request: Request, platform: PlatformDep, who: IntegrationsAdmin) -> Response:
    """The video algorithms' camera registry and scene mapping (摄像头台账与场景映射)."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        places = _place_names(platform)
        found = vision.cameras(platform.uow())
        mapping, shipped = vision.scenes(platform.uow())
        return {
            "cameras": [
                {
                    "id": c.camera_id,
                    "name": c.name,
                    "place": places.get(c.unit_code or c.grid_code or "", "—"),
                    "address": c.address,
                    "owner": c.owner,
                    "active": c.active,
                    "position": f"{c.lng:.5f}, {c.lat:.5f}",
                }
                for c in found
            ],
            "scenes": [
                {
                    "code": m.code,
                    "subclass": m.subclass,
                    "name": m.name_en if lang == "en" else m.name_zh,
                    "min_confidence": m.min_confidence,
                    "active": m.active,
                }
                for m in mapping
            ],
            "shipped": shipped,
        }

    return _page(request, platform, who, "admin_cameras.html", "cameras", build)


@router.get("/admin/shops", response_class=HTMLResponse)
def admin_shops(request: Request, platform: PlatformDep, who: IntegrationsAdmin) -> Response:
    """The shops whose posters carry the citizen QR code (市民扫码店铺)."""
    if who is None:
        return _to_login(request)

    def build(lang: Language) -> dict[str, Any]:
        places = _place_names(platform)
        found = list_shops(platform.uow())
        units = sorted({shop.unit_code for shop in found})
        return {
            "shops": [
                {
                    "id": shop.id,
                    "code": shop.code,
                    "name": shop.name,
                    "address": shop.address,
                    "unit": places.get(shop.unit_code, shop.unit_code),
                    "expires": shop.token_expires_at.astimezone(CHINA_TZ).date().isoformat(),
                    "version": shop.key_version,
                    "active": shop.active,
                }
                for shop in found
            ],
            "units": [(code, places.get(code, code)) for code in units],
        }

    return _page(request, platform, who, "admin_shops.html", "shops", build)
