"""Version 1 of the HTTP API, under ``/api/v1``."""

from fastapi import APIRouter

from chengyun.entrypoints.api.v1 import (
    assessment,
    auth,
    cases,
    coverage,
    district,
    duty,
    forces,
    health,
    hotline,
    measures,
    outbox,
    points,
    shops,
    taxonomy,
    territory,
    vision,
)

#: Where version 1 lives.
PREFIX = "/api/v1"

#: Version 1's routers, in the order their routes are matched: cases first, since intake,
#: the case list and the case page are the busiest by far. The app includes each with
#: ``PREFIX`` itself rather than through one ``/api/v1`` router: FastAPI (0.165) walks
#: every router a request passes through, and all the routers under it, to see whether a
#: route was added since, twice a request; through one ``/api/v1`` router, routing a new
#: report took 40 to 60 µs more (measured in process, ``APIRouter.matches`` and the
#: matched router's ``_match``).
ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        cases,
        health,
        auth,
        territory,
        forces,
        duty,
        taxonomy,
        measures,
        assessment,
        coverage,
        points,
        # the integrations
        vision,
        hotline,
        district,
        outbox,
        shops,
    )
)
