"""Version 1 of the HTTP API, under ``/api/v1``."""

from fastapi import APIRouter

from chengyun.entrypoints.api.v1 import (
    assessment,
    auth,
    cases,
    coverage,
    duty,
    forces,
    health,
    measures,
    points,
    taxonomy,
    territory,
)

router = APIRouter(prefix="/api/v1")
router.include_router(health.router)
router.include_router(auth.router)
router.include_router(territory.router)
router.include_router(forces.router)
router.include_router(duty.router)
router.include_router(cases.router)
router.include_router(taxonomy.router)
router.include_router(measures.router)
router.include_router(assessment.router)
router.include_router(coverage.router)
router.include_router(points.router)
# integrations: each peer's /api/v1 router below, one line each (import it above)
