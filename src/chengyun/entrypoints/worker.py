"""The worker: the SLA sweep (warn, escalate) and the outbox delivery, in a loop."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import SweepResult, sweep
from chengyun.services.delivery import DeliveryResult, Sender, deliver_outbox
from chengyun.services.district import sync_statuses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    sweep: SweepResult
    delivery: DeliveryResult


def run_once(platform: Platform, sender: Sender) -> Pass:
    """One sweep until nothing is due, then one delivery round."""
    total = SweepResult(0, 0, 0)
    while True:
        result = sweep(platform.uow(), platform.cases)
        total = SweepResult(
            total.looked_at + result.looked_at,
            total.warned + result.warned,
            total.escalated + result.escalated,
        )
        if result.looked_at < 500:
            break
    # the district link: status changes of cases handled for a peer, into the outbox
    sync_statuses(platform.uow(), platform.clock, platform.settings.district_code)
    delivery = deliver_outbox(platform.uow(), platform.clock, sender)
    return Pass(total, delivery)


def run(
    platform: Platform,
    sender: Sender | None = None,
    interval: float = 1.0,
    stop: threading.Event | None = None,
) -> None:
    """Run passes every ``interval`` seconds until ``stop`` is set."""
    if sender is None:
        from chengyun.entrypoints.senders import build_sender

        sender = build_sender(platform)
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            done = run_once(platform, sender)
            if done.sweep.escalated or done.sweep.warned or done.delivery.failed:
                log.info("sweep %s, delivery %s", done.sweep, done.delivery)
        except Exception:  # keep the loop alive; the next pass retries
            log.exception("worker pass failed")
        stop.wait(interval)


def start_in_background(platform: Platform, interval: float = 1.0) -> threading.Event:
    """The demo runs the worker inside its own process; set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(platform, None, interval, stop), name="chengyun-worker", daemon=True
    )
    thread.start()
    return stop
