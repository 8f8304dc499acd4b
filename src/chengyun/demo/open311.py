"""The demo's Open311 application, whose api_key is ``demo-open311-key`` (the demo
database only)."""

from __future__ import annotations

from chengyun.clock import Clock
from chengyun.services.open311 import register_application
from chengyun.services.unit_of_work import UnitOfWork

DEMO_APPLICATION = "demo-open311"
DEMO_KEY = "demo-open311-key"


def seed_open311(uow: UnitOfWork, clock: Clock) -> None:
    """Register the demo application once (nothing happens when it exists)."""
    with uow:
        exists = uow.open311.application(DEMO_APPLICATION) is not None
    if not exists:
        register_application(uow, clock, DEMO_APPLICATION, "citizen_qr", "demo", DEMO_KEY)
