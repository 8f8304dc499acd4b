"""Scale-out: two worker processes on one PostgreSQL against 10,000 due cases find every
escalation and deliver every outbox message exactly once (rows are claimed with
``FOR UPDATE SKIP LOCKED``; a case or a message one worker holds is skipped by the other).

Four template cases are reported through the intake service; 9,996 copies are made in SQL
(the sweep benchmark's copier), so every case is due at the same moment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from bench.sweep import Template, copy_cases
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables as t
from chengyun.clock import DrivenClock
from chengyun.entrypoints.platform import Platform
from tests.factories import patrol_member
from tests.integration.test_clocks_and_escalation import new_case

CASES = 10_000
SUBCLASSES = ("E0102", "E0504", "C0301", "E0201")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _psycopg_url(platform: Platform) -> str:
    return platform.engine.url.set(drivername="postgresql").render_as_string(False)


def test_two_workers_escalate_and_deliver_10000_due_cases_exactly_once(
    client: TestClient, demo: Platform, clock: DrivenClock, tmp_path: Path
) -> None:
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("several workers on one database need PostgreSQL's row locks")
    reporter = patrol_member(client)
    templates = []
    for subclass in SUBCLASSES:
        case_id = new_case(demo, reporter, subclass=subclass)
        with demo.engine.connect() as c:
            number = c.execute(sa.select(t.cases.c.number).where(t.cases.c.id == case_id)).scalar()
        assert number is not None
        templates.append(Template(case_id, number[:-5], CASES // len(SUBCLASSES)))
    with psycopg.connect(_psycopg_url(demo), autocommit=True) as db:
        copy_cases(db, templates)
    with demo.engine.begin() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar() == CASES
        c.execute(t.outbox.delete())  # the reports' own notifications: not this test's
    due = clock.now() + timedelta(minutes=16)  # every accept clock is red

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    outs = [tmp_path / f"worker{i}.json" for i in range(2)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.worker_process",
                demo.engine.url.render_as_string(False),
                due.isoformat(),
                str(out),
            ],
            cwd=ROOT,
            env=env,
        )
        for out in outs
    ]
    for worker in workers:
        assert worker.wait(timeout=600) == 0
    done = [json.loads(out.read_text()) for out in outs]

    # every case escalated once, by one of the two
    assert sum(d["escalated"] for d in done) == CASES
    assert all(d["escalated"] > 0 for d in done), "both workers took part"
    with demo.engine.connect() as c:
        per_case = Counter(
            c.execute(
                sa.select(t.case_events.c.case_id).where(t.case_events.c.action == "escalate")
            ).scalars()
        )
        outbox = c.execute(sa.select(t.outbox.c.id, t.outbox.c.delivered_at)).all()
    assert len(per_case) == CASES and set(per_case.values()) == {1}
    # every message the escalations wrote delivered once, by one of the two
    delivered = [i for d in done for i in d["delivered"]]
    assert len(delivered) == len(set(delivered)) == len(outbox) >= CASES
    assert all(row.delivered_at is not None for row in outbox)
