"""The command centre (城运中心): the live map, the queues and the duty board at ``/command``,
and one case — timeline, clocks, notifications and the actions the reader may take — at
``/command/cases/{id}``. The pages render the frame; the live data comes from ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chengyun.domain.access import Permission, Principal, mask_name
from chengyun.domain.cases import EscalationLevel
from chengyun.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from chengyun.domain.forces import Person
from chengyun.domain.territory import Territory
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.errors import status_for
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.api.security import admitted, csrf_token, current_principal
from chengyun.entrypoints.api.v1.cases import EventOut, case_detail
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web.i18n import (
    COOKIE,
    HTML_LANG,
    Language,
    labels,
    language,
    words,
)
from chengyun.services.cases import taxonomy_in_force
from chengyun.services.duty import load_duty_board

# Undefined names fail loudly in these pages: a missing word is a bug, not a blank.
TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
    )
)
router = APIRouter(include_in_schema=False)


# --- who may open a page ---------------------------------------------------------------------


def _browser(request: Request) -> bool:
    """A person's browser navigating (it asks for HTML), not a script or another system."""
    return "text/html" in request.headers.get("accept", "")


def page_access(permission: Permission) -> Callable[..., Any]:
    """Like ``requires(permission)``, but an anonymous *browser* gets ``None`` so that the
    page can send it to sign in; scripts still get the JSON 401, others the 403."""

    async def dependency(request: Request) -> Principal | None:
        principal = await current_principal(request)
        if principal is None and _browser(request):
            return None
        return admitted(permission, principal)

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route test
    return dependency


Reader = Annotated[Principal | None, Depends(page_access(Permission.CASES_READ))]


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


# --- the frame every page shares -------------------------------------------------------------


def _territory(platform: Platform) -> Territory | None:
    try:
        return platform.territory_index.get().territory
    except InvalidInput:  # no territory imported yet: the pages still open
        return None


def tile_csp(tile_url: str | None) -> str | None:
    """The Content-Security-Policy that also admits the intranet tile server's images."""
    if not tile_url or tile_url.startswith("/"):
        return None
    from chengyun.entrypoints.api.app import CSP  # the app imports this module

    parts = urlsplit(tile_url)
    origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    return CSP.replace("img-src 'self'", f"img-src 'self' {origin}", 1)


def clock_text(at: datetime | None) -> str:
    """A time as Shanghai reads it: ``2020-06-24 09:30``."""
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if at else ""


def _frame(request: Request, platform: Platform, who: Principal, lang: Language) -> dict[str, Any]:
    with platform.uow(reading=True) as uow:
        account = uow.accounts.by_id(who.account_id)
    territory = _territory(platform)
    sub_district = ""
    if territory is not None:
        place = territory.sub_district
        sub_district = (place.name_en or place.name) if lang == "en" else place.name
    now = platform.clock.now()
    return {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "t": words(lang),
        "l": labels(lang),
        "path": request.url.path,
        "sub_district": sub_district,
        "user_name": (account.display_name if account else "") or who.username,
        "user_number": who.person_number or who.username,
        "role_label": who.role.zh if lang == "zh" else who.role.en,
        "csrf": csrf_token(platform.settings.secret_key, who),
        "server_now": now.isoformat(),
        "server_now_text": now.astimezone(CHINA_TZ).strftime("%H:%M:%S"),
        "clock_text": clock_text,
        "may_measures": who.may(Permission.MEASURES_READ),
        "may_admin": any(
            who.may(p)
            for p in (
                Permission.TERRITORY_WRITE,
                Permission.FORCES_WRITE,
                Permission.TAXONOMY_WRITE,
                Permission.ACCOUNTS_MANAGE,
                Permission.INTEGRATIONS_MANAGE,
            )
        ),
    }


def remember_language(
    request: Request, response: Response, lang: Language, platform: Platform
) -> None:
    """A language chosen by ``?lang=`` is kept in a cookie for the next pages."""
    if request.query_params.get("lang") == lang:
        response.set_cookie(
            COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=platform.settings.mode == "production",
        )


def _render(
    request: Request,
    platform: Platform,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> Response:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    remember_language(request, response, context["lang"], platform)
    policy = tile_csp(platform.settings.tile_url)
    if policy:
        response.headers["Content-Security-Policy"] = policy
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the command centre ----------------------------------------------------------------------


@router.get("/command", response_class=HTMLResponse)
def command_centre(request: Request, platform: PlatformDep, who: Reader) -> Response:
    """The live map, the queues and the duty board (城运中心)."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    territory = _territory(platform)
    with platform.uow(reading=True) as uow:
        taxonomy = taxonomy_in_force(uow, platform.cases)
    grids = [
        (g.code, (g.name_en or g.name) if lang == "en" else g.name)
        for g in (territory.grids if territory else ())
    ]
    classes: dict[str, list[tuple[str, str]]] = {}
    for subclass in taxonomy:
        group = subclass.class_name_en if lang == "en" else subclass.class_name_zh
        name = subclass.name_en if lang == "en" else subclass.name_zh
        classes.setdefault(f"{subclass.code[0]}{subclass.class_code} {group}", []).append(
            (subclass.code, f"{subclass.code} {name}")
        )
    context = _frame(request, platform, who, lang)
    context.update(
        grids=grids,
        subclasses=classes,
        config={
            "lang": lang,
            "words": context["t"],
            "labels": context["l"],
            "serverNow": context["server_now"],
            "tileUrl": platform.settings.tile_url,
            "caseUrl": "/command/cases/",
            "may": {
                "duty": who.may(Permission.DUTY_READ),
                "territory": who.may(Permission.TERRITORY_READ),
                "integrations": who.may(Permission.INTEGRATIONS_MANAGE),
            },
        },
    )
    return _render(request, platform, "command.html", context)


# --- one case --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter an action's form asks for: the API's name, how it is entered, its
    label (a word key), whether it is required, and where a choice's options come from."""

    name: str
    kind: str  # text, textarea, number, bool, choice, choices, lines, photos, position, person
    label: str
    required: bool = False
    options: str = ""  # a labels group: reject_reason, department


NOTE = Param("note", "textarea", "p_note")
REASON = Param("reason", "textarea", "p_reason", required=True)

#: What each action's form asks for (the API refuses anything else; see docs/api.md).
ACTION_PARAMS: dict[str, tuple[Param, ...]] = {
    "register": (NOTE,),
    "reject": (Param("reason_kind", "choice", "p_reason_kind", True, "reject_reason"), REASON),
    "dispatch": (Param("assignee", "person", "p_assignee"), NOTE),
    "accept": (NOTE,),
    "return": (REASON,),
    "arrive": (Param("position", "position", "position"), NOTE),
    "handle": (Param("photos", "photos", "p_photos"), NOTE),
    "check": (Param("passed", "bool", "p_passed", True), NOTE),
    "close": (NOTE,),
    "request_extension": (Param("minutes", "number", "p_minutes", True), REASON),
    "approve_extension": (Param("approved", "bool", "p_approved", True), NOTE),
    "hold": (REASON,),
    "resume": (NOTE,),
    "void": (REASON,),
    "approve_void": (Param("approved", "bool", "p_approved", True), NOTE),
    "merge": (Param("into", "number", "p_into", True), NOTE),
    "escalate": (REASON,),
    "reopen": (REASON,),
    "start_joint": (
        Param("lead", "choice", "p_lead", True, "department"),
        Param("partners", "choices", "p_partners", True, "department"),
        NOTE,
    ),
    "contribute": (
        Param("department", "choice", "p_department", True, "department"),
        Param("note", "textarea", "p_note", required=True),
    ),
    "consult": (Param("note", "textarea", "p_consult", required=True),),
    "decide": (
        Param("decision", "textarea", "p_decision", required=True),
        Param("follow_ups", "lines", "p_follow_ups"),
    ),
}
#: The actions that move a case along its ordinary path, shown first and filled in.
PRIMARY = frozenset({"register", "dispatch", "accept", "arrive", "handle", "check", "close"})
#: The actions that end or turn back a case, shown in red.
CAUTION = frozenset({"reject", "void", "return", "hold"})


def _person_text(person: Person | None, number: str, contacts: bool) -> str:
    if person is None:
        return number
    return f"{person.name if contacts else mask_name(person.name)} {number}"


def _candidates(
    platform: Platform, who: Principal, grid_code: str | None, lang: Language
) -> list[tuple[str, str]]:
    """Whom a dispatch may name: the people on duty now for the case's grid."""
    if not who.may(Permission.DUTY_READ):
        return []
    board = load_duty_board(platform.uow(), platform.calendar, platform.clock.now())
    contacts = who.may(Permission.CONTACTS)
    found: dict[str, str] = {}
    for grid in board.grids:
        if grid.grid.code != grid_code:
            continue
        on_duty = [*grid.street, *(o for u in grid.units for o in u.on_duty)]
        on_duty += [o for people in grid.departments.values() for o in people]
        for entry in on_duty:
            person = entry.person
            kind = person.team or person.department or person.post
            name = person.name if contacts else mask_name(person.name)
            found.setdefault(person.number, f"{name} · {kind.zh if lang == 'zh' else kind.en}")
    return sorted(found.items())


def _facts(event: EventOut, lang: Language, people: dict[str, str]) -> list[tuple[str, str]]:
    """The few things an event's data says that a reader wants to see, labelled."""
    t, ls = words(lang), labels(lang)
    data = event.data
    facts: list[tuple[str, str]] = []
    if data.get("assignee") and event.action in ("dispatch", "accept", "return"):
        number = str(data["assignee"])
        facts.append((t["assignee"], people.get(number, number)))
    if "passed" in data:
        facts.append((t["p_passed"], t["yes"] if data["passed"] else t["no"]))
    if "approved" in data:
        facts.append((t["p_approved"], t["yes"] if data["approved"] else t["no"]))
    if data.get("minutes"):
        facts.append((t["p_minutes"], str(data["minutes"])))
    if data.get("level"):
        facts.append((t["escalation"], ls["escalation"].get(str(data["level"]), "")))
    if data.get("into"):
        facts.append((t["p_into"], str(data["into"])))
    if data.get("reason_kind"):
        facts.append((t["p_reason_kind"], ls["reject_reason"].get(str(data["reason_kind"]), "")))
    if data.get("channel"):
        facts.append((t["channel"], ls["channel"].get(str(data["channel"]), "")))
    if data.get("decision"):
        facts.append((t["p_decision"], str(data["decision"])))
    return facts


def _error_page(
    request: Request, platform: Platform, who: Principal, lang: Language, error: DomainError
) -> Response:
    context = _frame(request, platform, who, lang)
    title = context["t"]["not_found" if isinstance(error, NotFound) else "forbidden"]
    context.update(title=title, message=error.message)
    return _render(request, platform, "error.html", context, status=status_for(error))


@router.get("/command/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    platform: PlatformDep,
    who: Reader,
    case_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
) -> Response:
    """One case: its clocks and lights, the timeline with photos and positions, who was
    notified, and a form for every action the reader may take now."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    try:
        detail = case_detail(platform, who, case_id)
    except (NotFound, Forbidden) as error:
        if not _browser(request):
            raise
        return _error_page(request, platform, who, lang, error)
    contacts = who.may(Permission.CONTACTS)
    with platform.uow(reading=True) as uow:
        roster = uow.forces.roster()
    index = {p.number: p for p in roster.people}
    numbers = {e.actor for e in detail.timeline} | {n.recipient for n in detail.notifications}
    if detail.reporter:
        numbers.add(detail.reporter)
    numbers |= {str(e.data["assignee"]) for e in detail.timeline if e.data.get("assignee")}
    people = {n: _person_text(index.get(n), n, contacts) for n in numbers}
    people["system"] = "系统" if lang == "zh" else "System"
    for level in (EscalationLevel.COMMAND_CENTRE, EscalationLevel.DISTRICT):
        people[level.value] = level.zh if lang == "zh" else level.en
    forms = [
        {
            "action": action,
            "params": ACTION_PARAMS.get(action, (NOTE,)),
            "style": "primary"
            if action in PRIMARY
            else ("caution" if action in CAUTION else "secondary"),
        }
        for action in detail.allowed_actions
    ]
    candidates = (
        _candidates(platform, who, detail.grid.code if detail.grid else None, lang)
        if "dispatch" in detail.allowed_actions
        else []
    )
    dispatches = [e for e in detail.timeline if e.action == "dispatch"]
    # the flat rules' reason holds until a person dispatches by hand
    automatic = detail.unassigned or bool(dispatches and dispatches[-1].data.get("automatic"))
    context = _frame(request, platform, who, lang)
    subclass = detail.subclass.get("name_en" if lang == "en" else "name_zh", "")
    context.update(
        case=detail,
        dispatch_reason=detail.dispatch_reason if automatic else "",
        subclass_name=subclass,
        people=people,
        forms=forms,
        candidates=candidates,
        facts={e.seq: _facts(e, lang, people) for e in detail.timeline},
        config={
            "lang": lang,
            "words": context["t"],
            "labels": context["l"],
            "serverNow": context["server_now"],
            "tileUrl": platform.settings.tile_url,
            "caseId": detail.id,
            "version": detail.version,
            "light": detail.light,
            "urgent": detail.urgency == "urgent",
            "position": detail.position,
            "gridCode": detail.grid.code if detail.grid else None,
            "unitCode": detail.unit.code if detail.unit else None,
            "events": [
                {
                    "seq": e.seq,
                    "label": context["l"]["action"].get(e.action, e.label),
                    **e.position,
                }
                for e in detail.timeline
                if e.position
            ],
            "may": {"territory": who.may(Permission.TERRITORY_READ)},
        },
    )
    return _render(request, platform, "case.html", context)
