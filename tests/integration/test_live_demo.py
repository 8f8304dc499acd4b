"""The live demo feeder against a real server in a thread: a few simulated minutes at high
speed, and the simulated reports appear as cases through the API and start to progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chengyun.adapters.http import get_json
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.demo.roster import demo_roster
from chengyun.domain.territory import Territory
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.api.security import RateLimiter
from chengyun.entrypoints.platform import Platform
from chengyun.simulation.config import IncidentConfig, SimulationConfig
from chengyun.simulation.live import HttpSignIn, LiveFeeder, issued_tokens, start_in_thread
from tests.servers import served


@pytest.fixture
def server(demo: Platform) -> Iterator[str]:
    app = create_app(platform=demo)
    # The feeder signs in as every person it acts for, dozens in a few seconds: more than
    # the per-client sign-in limit allows one address (the demo itself issues its tokens
    # in-process instead).
    app.state.rate_limiter = RateLimiter(per_minute=600, burst=100)
    with served(app, name="live-uvicorn") as url:
        yield url


#: Busy and flat over the day, so that a few simulated minutes bring several reports.
BUSY = SimulationConfig(incidents=IncidentConfig(per_day=4000.0, hour_weights=(1.0,) * 24))


def test_the_feeder_reports_through_the_api_and_cases_progress(
    server: str, demo: Platform, demo_territory: Territory
) -> None:
    roster = demo_roster(demo_territory)
    tokens = HttpSignIn(server, DEMO_PASSWORD)
    admin = tokens("admin")  # signed in first: the feeder's sign-ins may reach the rate limit
    feeder = LiveFeeder(
        server,
        demo_territory,
        roster,
        tokens=tokens,
        speed=600.0,  # ten simulated minutes a wall-clock second
        seed=3,
        config=BUSY,
    )
    stats = feeder.run(minutes=40.0)
    assert stats.reported >= 3, stats.last_error
    assert stats.actions >= 1, stats.last_error
    page = get_json(
        f"{server}/api/v1/cases",
        params={"limit": "200"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    by_id = {item["id"]: item for item in page["items"]}
    assert set(stats.case_ids) <= set(by_id)
    simulated = [by_id[i] for i in stats.case_ids]
    assert all("simulated" in c["description"] for c in simulated)
    assert {c["channel"] for c in simulated} <= {
        "patrol", "video_ai", "citizen_qr", "hotline", "police_diversion"
    }  # fmt: skip
    assert any(c["status"] != "reported" and c["assignee"] for c in simulated)
    assert any(c["status"] in ("accepted", "on_scene", "handled", "checked", "closed")
               for c in simulated)  # fmt: skip


def test_the_demo_feeder_runs_in_a_thread_and_stops(
    server: str, demo: Platform, demo_territory: Territory
) -> None:
    feeder = LiveFeeder(
        server,
        demo_territory,
        demo_roster(demo_territory),
        tokens=issued_tokens(demo),
        speed=600.0,
        seed=4,
        config=BUSY,
    )
    ready = threading.Event()
    thread = start_in_thread(feeder, ready=ready.is_set)
    ready.set()
    deadline = time.monotonic() + 30
    while feeder.stats.reported < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    feeder.stop.set()
    thread.join(15)
    assert not thread.is_alive()
    assert feeder.stats.reported >= 2, feeder.stats.last_error
