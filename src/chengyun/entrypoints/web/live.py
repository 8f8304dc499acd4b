"""Live updates for the command centre (实时推送): ``GET /command/events`` streams
server-sent events, one per case that changed within the reader's scope, so the map and
the queues refresh at once; the page keeps polling every 30 s as a fallback.

The events come from the process's case-event bus (``adapters/events.py``): PostgreSQL
LISTEN/NOTIFY, so a change made through any server process or the worker reaches every
stream; in-process on SQLite. An event carries the case's id, number, status, version
and what happened (``kind``: the action) — never names or descriptions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from chengyun.adapters.events import CaseChange, CaseEventBus, bus_for
from chengyun.domain.access import CaseView, Permission, Principal, sees_case
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.platform import Platform

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal | None, Depends(requires(Permission.CASES_READ))]

#: A comment line this often keeps proxies and phones from closing a quiet stream.
HEARTBEAT_SECONDS = 15.0
#: A stream ends after this long and the browser reconnects (EventSource does so by
#: itself): a signed-out or narrowed account stops hearing within this time.
STREAM_SECONDS = 15 * 60.0
#: How long the browser waits before reconnecting after a dropped stream.
RETRY_MS = 3000
#: Changes waiting for a slow reader; beyond this the reader is told to reload instead.
QUEUE_SIZE = 500


def case_bus(platform: Platform) -> CaseEventBus:
    """The bus of the platform's database (one per process and database)."""
    return bus_for(platform.engine.url)


def audible(principal: Principal, change: CaseChange) -> bool:
    """Whether ``principal`` may hear of ``change``: the same rule as reading the case."""
    view = CaseView(
        change.grid,
        change.unit,
        change.assignee,
        change.reporter,
        change.responsible,
        change.handlers,
        change.departments,
    )
    return sees_case(principal, view)


def frame(event: str, data: dict[str, object], ident: str | None = None) -> str:
    """One server-sent event."""
    lines = [f"event: {event}"]
    if ident:
        lines.append(f"id: {ident}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


async def stream(
    bus: CaseEventBus,
    who: Principal,
    seconds: float = STREAM_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """The events ``who`` may hear for ``seconds``, with a heartbeat when quiet."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[CaseChange | None] = asyncio.Queue(QUEUE_SIZE + 1)

    def put(change: CaseChange | None) -> None:
        if queue.qsize() < QUEUE_SIZE:
            queue.put_nowait(change)
        elif queue.qsize() == QUEUE_SIZE:
            queue.put_nowait(None)  # too many: the reader reloads everything

    def hear(change: CaseChange) -> None:  # on the bus's thread, or the committing one
        if audible(who, change):
            with suppress(RuntimeError):  # the loop has closed: the stream is gone
                loop.call_soon_threadsafe(put, change)

    subscription = bus.subscribe(hear)
    try:
        ready = await run_in_threadpool(subscription.wait_ready, 5.0)
        yield f"retry: {RETRY_MS}\n\n"
        yield frame("ready", {"live": ready})
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                change = await asyncio.wait_for(queue.get(), min(heartbeat, left))
            except TimeoutError:  # a closed connection is noticed by Starlette, which ends us
                yield ": heartbeat\n\n"
                continue
            if change is None:
                while not queue.empty():
                    queue.get_nowait()
                yield frame("reload", {})
                continue
            yield frame(
                "case",
                {
                    "id": change.case_id,
                    "number": change.number,
                    "kind": change.kind,
                    "status": change.status,
                    "version": change.version,
                },
                f"{change.case_id}.{change.version}",
            )
    finally:
        subscription.close()


@router.get("/command/events", response_class=StreamingResponse)
async def case_events(
    request: Request, platform: PlatformDep, principal: Reader
) -> StreamingResponse:
    """Server-sent events: ``ready`` once listening, ``case`` for each change the reader
    may see, ``reload`` when too many came at once; heartbeats every 15 s."""
    who = signed_in(principal)
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise InvalidInput(
            "这是事件流，请用 EventSource 打开 / this is an event stream: open it with "
            "EventSource (Accept: text/event-stream)",
            [Problem(("header", "Accept"), "text/event-stream", "not_acceptable")],
        )
    return StreamingResponse(
        stream(case_bus(platform), who),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
