"""The outbox page (发件箱, ``/admin/outbox``): dead letters, failing and pending messages
with their last error, and a button to replay them once the peer is back. The buttons are
plain forms (POST with the CSRF token) that answer with a redirect back to the list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import DomainError
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.web.command import _frame, _render, _to_login, page_access
from chengyun.entrypoints.web.i18n import language
from chengyun.services.outbox_admin import list_messages, replay, replay_dead

router = APIRouter(include_in_schema=False)
Manager = Annotated[Principal | None, Depends(page_access(Permission.INTEGRATIONS_MANAGE))]
SHOWN = ("dead", "failing", "pending")


def _back(state: str, **notice: int | str) -> RedirectResponse:
    query = "&".join(f"{k}={v}" for k, v in notice.items())
    return RedirectResponse(f"/admin/outbox?state={state}&{query}", status_code=303)


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request,
    platform: PlatformDep,
    who: Manager,
    state: Annotated[str, Query(pattern="^(dead|failing|pending)$")] = "dead",
    replayed: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    refused: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> Response:
    """The messages in one state, newest first (at most 200), with replay buttons."""
    if who is None:
        return _to_login(request)
    lang = language(request)
    found = list_messages(platform.uow(), state, 200)
    context = _frame(request, platform, who, lang)
    context.update(
        state=state,
        states=SHOWN,
        found=found,
        replayed=replayed,
        refused=refused,
        config={"lang": lang, "words": context["t"], "serverNow": context["server_now"]},
    )
    return _render(request, platform, "admin_outbox.html", context)


@router.post("/admin/outbox/replay-dead", response_class=HTMLResponse)
def replay_all_form(request: Request, platform: PlatformDep, who: Manager) -> Response:
    """Replay every dead letter (the form on the page)."""
    if who is None:
        return _to_login(request)
    ids = replay_dead(platform.uow(), platform.clock, who.username)
    return _back("pending", replayed=len(ids))


@router.post("/admin/outbox/{message_id}/replay", response_class=HTMLResponse)
def replay_form(
    request: Request,
    platform: PlatformDep,
    who: Manager,
    message_id: Annotated[int, PathParam(ge=1, le=MAX_ID)],
    state: Annotated[str, Query(pattern="^(dead|failing|pending)$")] = "dead",
) -> Response:
    """Replay one message (a button of the list)."""
    if who is None:
        return _to_login(request)
    try:
        replay(platform.uow(), platform.clock, who.username, message_id)
    except DomainError:
        return _back(state, refused=message_id)
    return _back(state, replayed=1)
