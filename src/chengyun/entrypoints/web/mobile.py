"""The staff phone pages (移动端, opened from the government WeChat) at ``/m/``: report a
problem with photos and the phone's position, and work one's tasks — accept, arrive,
handle with photos, return, ask for more time, check another's work.

Made for a 360-px-wide screen and slow connections: the pages are rendered whole on the
server (no extra requests to draw them), photos are shrunk on the phone before upload,
and a submission is kept on the phone with its idempotency key until the server has
acknowledged it (``static/js/mobile.js``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from chengyun.domain.access import Permission, Principal, ScopeKind
from chengyun.domain.cases import CaseStatus
from chengyun.domain.errors import Forbidden, NotFound, Problem
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.api.v1.cases import case_detail
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web.command import (
    _browser,
    _frame,
    _render,
    _to_login,
    page_access,
)
from chengyun.entrypoints.web.i18n import Language, language, words
from chengyun.services.cases import taxonomy_in_force
from chengyun.services.records import CaseFilter, CaseRecord

router = APIRouter(include_in_schema=False)
Reporter = Annotated[Principal | None, Depends(page_access(Permission.CASES_REPORT))]
Worker = Annotated[Principal | None, Depends(page_access(Permission.CASES_ACT))]

#: The coordinate system phones in China report positions in (WeChat and the Chinese
#: map apps give GCJ-02); the server converts to WGS-84.
PHONE_CRS = "gcj02"
#: The actions a phone offers, in the order they are shown.
PHONE_ACTIONS = ("accept", "arrive", "handle", "check", "request_extension", "return")
#: The statuses in which a case is work for its assignee.
WORKING = (CaseStatus.DISPATCHED, CaseStatus.ACCEPTED, CaseStatus.ON_SCENE)
MAX_TASKS = 100

#: The phone pages' words are in ``i18n.py`` (keys ``m_…``), Chinese and English side by side.
PHONE_WORD_PREFIX = "m_"


# --- the frame -------------------------------------------------------------------------------


def _phone_frame(
    request: Request, platform: Platform, who: Principal, lang: Language, title: str
) -> dict[str, Any]:
    context = _frame(request, platform, who, lang)
    context["title"] = title
    context["config"] = {
        "lang": lang,
        "words": context["t"],
        "labels": context["l"],
        "serverNow": context["server_now"],
        "person": who.person_number,
        "crs": PHONE_CRS,
    }
    return context


def _staff(who: Principal) -> None:
    if who.person_number is None:
        raise Forbidden(
            "此页面供工作人员使用 / this page is for staff (an account of a person)",
            [Problem(("account",), who.username, "no_person")],
        )


def _refusal(
    request: Request, platform: Platform, who: Principal, lang: Language, error: Exception
) -> Response:
    if not _browser(request):
        raise error
    context = _phone_frame(request, platform, who, lang, "")
    t = context["t"]
    title = t["not_found"] if isinstance(error, NotFound) else t["forbidden"]
    context.update(title=title, message=getattr(error, "message", str(error)))
    status = 404 if isinstance(error, NotFound) else 403
    return _render(request, platform, "mobile_error.html", context, status=status)


# --- tasks -----------------------------------------------------------------------------------


def _visibility(who: Principal) -> dict[str, Any]:
    if who.scope_kind is ScopeKind.SUB_DISTRICT:
        return {}
    return {
        "visible_scope": (who.scope_kind.value, who.scope_code),
        "visible_person": who.person_number,
    }


def my_tasks(platform: Platform, who: Principal) -> tuple[list[CaseRecord], list[CaseRecord]]:
    """The cases for ``who`` to work on, and the handled ones they reported and may check."""
    me = who.person_number
    if me is None:
        return [], []
    with platform.uow(reading=True) as uow:
        _, todo = uow.cases.search(
            CaseFilter(status=tuple(s.value for s in WORKING), assignee=me), MAX_TASKS, 0
        )
        _, handled = uow.cases.search(
            CaseFilter(status=(CaseStatus.HANDLED.value,), **_visibility(who)), MAX_TASKS * 5, 0
        )
    to_check = [
        r
        for r in handled
        if r.case.reporter == me and me != r.case.assignee and me not in r.case.handlers
    ]
    return todo, to_check[:MAX_TASKS]


def _task_rows(records: list[CaseRecord], platform: Platform, lang: Language) -> list[Any]:
    with platform.uow(reading=True) as uow:
        taxonomy = taxonomy_in_force(uow, platform.cases)
    rows = []
    for record in records:
        case = record.case
        rule = taxonomy.get(case.subclass)
        name = (rule.name_en if lang == "en" else rule.name_zh) if rule else case.subclass
        due = min(
            (c.deadline.due_at for c in record.clocks.stages.values() if c.open), default=None
        )
        rows.append(
            {
                "id": record.id,
                "number": case.number,
                "what": name,
                "status": case.status.value,
                "light": record.light.value,
                "urgent": case.urgency.value == "urgent",
                "address": record.address,
                "due": due,
            }
        )
    return rows


# --- the pages -------------------------------------------------------------------------------


@router.get("/m/", response_class=HTMLResponse)
def phone_home(request: Request, platform: PlatformDep, who: Reporter) -> Response:
    """The phone's home: report a problem, and how many tasks are waiting."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    context = _phone_frame(request, platform, who, lang, words(lang)["m_title"])
    count = None
    if who.may(Permission.CASES_ACT) and who.person_number:
        todo, to_check = my_tasks(platform, who)
        count = len(todo) + len(to_check)
    context.update(task_count=count, home=True)
    return _render(request, platform, "mobile_home.html", context)


@router.get("/m/report", response_class=HTMLResponse)
def phone_report(request: Request, platform: PlatformDep, who: Reporter) -> Response:
    """Report a problem: photos, the phone's position, the kind, a description."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    try:
        _staff(who)
    except Forbidden as error:
        return _refusal(request, platform, who, lang, error)
    context = _phone_frame(request, platform, who, lang, words(lang)["m_report"])
    with platform.uow(reading=True) as uow:
        taxonomy = taxonomy_in_force(uow, platform.cases)
    subclasses = [
        {
            "code": s.code,
            "name": s.name_en if lang == "en" else s.name_zh,
            "group": s.class_name_en if lang == "en" else s.class_name_zh,
            # both languages are searched: a word typed in either finds the kind
            "search": f"{s.code} {s.name_zh} {s.name_en} {s.class_name_zh} {s.class_name_en}",
        }
        for s in taxonomy.subclasses
    ]
    context.update(subclasses=subclasses)
    return _render(request, platform, "mobile_report.html", context)


@router.get("/m/tasks", response_class=HTMLResponse)
def phone_tasks(request: Request, platform: PlatformDep, who: Worker) -> Response:
    """My tasks: cases dispatched to me, and handled ones I reported, to check."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    context = _phone_frame(request, platform, who, lang, words(lang)["m_tasks"])
    todo, to_check = my_tasks(platform, who)
    context.update(
        todo=_task_rows(todo, platform, lang), to_check=_task_rows(to_check, platform, lang)
    )
    return _render(request, platform, "mobile_tasks.html", context)


@router.get("/m/tasks/{case_id}", response_class=HTMLResponse)
def phone_task(
    request: Request,
    platform: PlatformDep,
    who: Worker,
    case_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
) -> Response:
    """One task: what and where, the deadline, the photos, and the actions I may take."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    try:
        detail = case_detail(platform, who, case_id)
    except (NotFound, Forbidden) as error:
        return _refusal(request, platform, who, lang, error)
    context = _phone_frame(request, platform, who, lang, detail.number)
    subclass = detail.subclass.get("name_en" if lang == "en" else "name_zh", "")
    actions = [a for a in PHONE_ACTIONS if a in detail.allowed_actions]
    due = min(detail.deadlines.values(), default=None)
    context.update(case=detail, subclass_name=subclass, actions=actions, due=due)
    context["config"].update(caseId=detail.id, version=detail.version)
    return _render(request, platform, "mobile_task.html", context)
