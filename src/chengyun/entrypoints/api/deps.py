"""Request dependencies: the process's platform and a fresh unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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


PlatformDep = Annotated[Platform, Depends(get_platform)]
UowDep = Annotated[SqlUnitOfWork, Depends(get_uow)]
