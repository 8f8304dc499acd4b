"""The worker: the SLA sweep (warn, escalate) and the outbox delivery, in a loop; and, every
hour, the coming months' partitions on PostgreSQL.

A pass comes every ``interval`` (a second), and every ``BUSY_INTERVAL_S`` after a pass
that delivered messages (新消息时加快): while reports come in, each queues a message for
whoever it went to, and a pass a second delivers them in one burst a second — a second
late, and for a moment taking a core from the server processes beside it. On the 2-core
benchmark machine, intake with 32 clients back to back, in three pairs against a pass
every second: 0.91 × the 99th percentile latency (0.91–0.93), 0.97 × the reports a second
(0.95–1.03), 122–447 messages waiting as the load ended against 16–1,104
(``bench/RESULTS.md``, note of 2026-11-29 02:33). The passes in between only deliver: the
sweep, the district link's status sync, the counts' fold and the partitions still come
once an ``interval``. A quiet worker looks once a second."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from chengyun.adapters.db import case_counts
from chengyun.adapters.db.partitions import ensure_partitions
from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import SWEEP_BATCH, SweepResult, sweep
from chengyun.services.delivery import DeliveryResult, Sender, deliver_due
from chengyun.services.district import sync_statuses

log = logging.getLogger(__name__)

#: seconds to the next pass after one that delivered messages
BUSY_INTERVAL_S = 0.2


@dataclass(frozen=True)
class Pass:
    sweep: SweepResult
    delivery: DeliveryResult
    #: partitions made in this pass
    partitions: tuple[str, ...] = ()


class PartitionUpkeep:
    """Makes the coming months' partitions (``adapters/db/partitions.py``) at most once per
    ``every``; a failure (a lock not granted in time) is logged and tried again next pass.
    Every worker runs one: the partition maintenance is safe to run on several at once."""

    def __init__(self, every: timedelta = timedelta(hours=1)) -> None:
        self.every = every
        self.due: datetime | None = None

    def __call__(self, platform: Platform) -> tuple[str, ...]:
        now = platform.clock.now()
        if self.due is not None and now < self.due:
            return ()
        try:
            made = ensure_partitions(platform.engine, now)
        except Exception:
            log.exception("making the coming months' partitions failed")
            return ()
        self.due = now + self.every
        if made:
            log.info("partitions made: %s", ", ".join(made))
        return tuple(made)


def run_once(
    platform: Platform,
    sender: Sender,
    partitions: PartitionUpkeep | None = None,
    sweep_batch: int = SWEEP_BATCH,
) -> Pass:
    """One sweep until nothing is due, then the delivery rounds while they find a full
    round due (``deliver_due``), then the partitions (when ``partitions`` is given and
    they are due). A long sweep — thousands of cases due at once, after the worker was
    down — delivers between its batches of ``sweep_batch``, so that the messages queued
    meanwhile (new cases' tasks, the sweep's own warnings) do not wait for its end."""
    total = SweepResult(0, 0, 0)
    delivery = DeliveryResult(0, 0, 0)
    while True:
        result = sweep(platform.uow(), platform.cases, batch=sweep_batch)
        total += result
        if result.looked_at < sweep_batch:
            break
        delivery += deliver_due(platform.uow, platform.clock, sender)
    # the district link: status changes of cases handled for a peer, into the outbox
    sync_statuses(platform.uow(), platform.clock, platform.settings.district_code)
    delivery += deliver_due(platform.uow, platform.clock, sender)
    # the case list's counts: the rows the triggers added, folded (adapters/db/case_counts.py)
    case_counts.fold(platform.engine)
    made = partitions(platform) if partitions is not None else ()
    return Pass(total, delivery, made)


def next_pass_in(done: Pass, interval: float, busy_interval: float = BUSY_INTERVAL_S) -> float:
    """Seconds to wait after the pass ``done``: ``busy_interval`` (never more than
    ``interval``) if it delivered messages — more are likely on their way — else
    ``interval``."""
    return min(busy_interval, interval) if done.delivery.delivered else interval


def run(
    platform: Platform,
    sender: Sender | None = None,
    interval: float = 1.0,
    stop: threading.Event | None = None,
    busy_interval: float = BUSY_INTERVAL_S,
) -> None:
    """Run passes until ``stop`` is set: ``interval`` seconds apart, ``busy_interval``
    after a pass that delivered messages (``next_pass_in``). A full pass (``run_once``)
    comes once the waits since the last add up to ``interval``; the passes between only
    deliver (``deliver_due``)."""
    if sender is None:
        from chengyun.entrypoints.senders import build_sender

        sender = build_sender(platform)
    stop = stop or threading.Event()
    partitions = PartitionUpkeep()
    waited = interval  # since the last full pass: the first is one
    while not stop.is_set():
        wait = interval
        try:
            if waited >= interval - 1e-9:  # five waits of 0.2 s make a second
                waited = 0.0
                done = run_once(platform, sender, partitions)
            else:  # between full passes, a busy worker only delivers
                done = Pass(SweepResult(0, 0, 0), deliver_due(platform.uow, platform.clock, sender))
            if done.sweep.escalated or done.sweep.warned or done.delivery.failed:
                log.info("sweep %s, delivery %s", done.sweep, done.delivery)
            wait = next_pass_in(done, interval, busy_interval)
        except Exception:  # keep the loop alive; the next pass retries
            log.exception("worker pass failed")
        waited += wait
        stop.wait(wait)


def start_in_background(platform: Platform, interval: float = 1.0) -> threading.Event:
    """The demo runs the worker inside its own process; set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(platform, None, interval, stop), name="chengyun-worker", daemon=True
    )
    thread.start()
    return stop
