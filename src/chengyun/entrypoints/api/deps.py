"""Request dependencies: the process's platform and a fresh unit of work; what an app
keeps for its life (``kept_by_app``), such as its caches guarded by a revision counter
(``revision_cache``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from chengyun.adapters.db.read_cache import changed_here
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.entrypoints.platform import Platform

# Both are ``async def`` though they never wait: FastAPI runs a plain ``def`` dependency in
# its thread pool, and that hop cost about a tenth of a small request, on every route.
# Neither may ever block (``platform.uow()`` connects only when entered).


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_uow(platform: Annotated[Platform, Depends(get_platform)]) -> SqlUnitOfWork:
    return platform.uow()


T = TypeVar("T")
C = TypeVar("C")


def kept_by_app(app: Any, name: str, make: Callable[[], T]) -> T:
    """``app``'s ``name`` (a cache, a rate limiter, an index), made by ``make`` on first
    use and kept in the app's state for as long as the app serves."""
    state = app.state
    kept: T | None = getattr(state, name, None)
    if kept is None:
        kept = make()
        setattr(state, name, kept)
    return kept


def revision_cache(
    app: Any,
    platform: Platform,
    cache: Callable[[Callable[[], int], Callable[[], int]], C],
    revision_of: Callable[[SqlUnitOfWork], int],
    counter: str,
) -> C:
    """``app``'s ``cache`` (one per class, made on first use) of what the revision counter
    ``counter`` guards, read with ``revision_of`` on a reading unit of work; this process's
    own changes are seen at once (``changed_here``)."""

    def revision() -> int:
        with platform.uow(reading=True) as uow:
            return revision_of(uow)

    return kept_by_app(app, cache.__name__, lambda: cache(revision, lambda: changed_here(counter)))


PlatformDep = Annotated[Platform, Depends(get_platform)]
UowDep = Annotated[SqlUnitOfWork, Depends(get_uow)]
