"""One worker process for the scale-out test: sweeps and delivers at a fixed moment until
nothing is left, then writes what it did as JSON.

    python -m tests.integration.worker_process DATABASE_URL ISO_TIME OUT_JSON
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import sweep
from chengyun.services.delivery import RecordingSender, deliver_outbox


def main(url: str, moment: str, out: str) -> None:
    clock = DrivenClock(datetime.fromisoformat(moment))
    platform = Platform(Settings(mode="test", database_url=url), clock=clock)
    sender = RecordingSender()
    swept = escalated = 0
    while True:
        result = sweep(platform.uow(), platform.cases, batch=200)
        swept += result.looked_at
        escalated += result.escalated
        delivered = deliver_outbox(platform.uow(), clock, sender, batch=200)
        if not result.looked_at and not delivered.delivered and not delivered.failed:
            break
    Path(out).write_text(
        json.dumps(
            {
                "swept": swept,
                "escalated": escalated,
                "delivered": [m.id for m in sender.sent],
            }
        )
    )
    platform.engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:4])
