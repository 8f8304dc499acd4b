"""The live demo feeder (演示推演): a simulated stream of incidents sent to a running
platform in real time (or ``speed`` times faster), through the same HTTP API a phone or a
feed uses — reports as the integration gateway, then each step (accept, arrive, handle,
check, close) as the person whose step it is — so a newcomer watches cases appear, get
dispatched, turn yellow and red, and close on the command-centre map.

The incidents and who finds them come from the simulation's own model (``incidents``,
``discovery``) on a SimPy real-time clock; the platform decides everything else.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any

import simpy
from simpy.rt import RealtimeEnvironment

from chengyun.adapters.calendar import china_calendar
from chengyun.adapters.http import PeerError, request_json
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.domain.forces import Post, Roster
from chengyun.domain.territory import Territory
from chengyun.domain.working_time import CHINA_TZ
from chengyun.simulation.config import SimulationConfig
from chengyun.simulation.discovery import Discovery, PatrolCoverage, Timeline, discover
from chengyun.simulation.handling import exponential, handling_minutes, travel_minutes
from chengyun.simulation.incidents import Incident, Places, generate

log = logging.getLogger(__name__)

TokenSource = Callable[[str], str]
"""Gives a bearer token for a username (an account of the running platform)."""

#: Days of timeline built ahead; the feeder runs at most this long.
_HORIZON_DAYS = 366
#: Wall-clock seconds to wait after the sign-in limit answers 429.
_RETRY_SECONDS = 15.0


def issued_tokens(platform: Any) -> TokenSource:
    """Tokens issued in-process (``chengyun demo`` runs the feeder beside the server), so
    the sign-in limit meant for people does not slow the stream down."""
    from chengyun.services.accounts import issue_token

    cache: dict[str, str] = {}
    lock = threading.Lock()

    def token(username: str) -> str:
        with lock:
            if username not in cache:
                with platform.uow() as uow:
                    account = uow.accounts.by_username(username)
                if account is None:
                    raise PeerError(f"no account {username!r} on the platform", 401)
                raw, _ = issue_token(platform.uow(), platform.clock, account, "demo-feeder")
                cache[username] = raw
            return cache[username]

    return token


class HttpSignIn:
    """Tokens by signing in through ``POST /api/v1/auth/token`` (the demo password),
    cached per account; a 429 from the sign-in limit is raised for the caller to retry."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.password = password
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, username: str) -> str:
        with self._lock:
            token = self._tokens.get(username)
            if token is None:
                answer = request_json(
                    "POST",
                    f"{self.base_url}/api/v1/auth/token",
                    {"username": username, "password": self.password, "name": "demo-feeder"},
                )
                token = str(answer["access_token"])
                self._tokens[username] = token
            return token


@dataclass
class LiveStats:
    """What the feeder did so far."""

    reported: int = 0
    actions: int = 0
    failures: int = 0
    case_ids: list[int] = field(default_factory=list)
    last_error: str = ""


class LiveFeeder:
    """Feeds a running platform at ``base_url``; ``speed`` simulated minutes per minute."""

    def __init__(
        self,
        base_url: str,
        territory: Territory,
        roster: Roster,
        *,
        tokens: TokenSource,
        gateway: str = "gateway",
        speed: float = 1.0,
        seed: int = 1,
        config: SimulationConfig | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.base_url = base_url.rstrip("/")
        self.territory = territory
        self.roster = roster
        self.tokens = tokens
        self.gateway = gateway
        self.speed = speed
        self.seed = seed
        self.config = config or SimulationConfig()
        self.stop = stop or threading.Event()
        self.stats = LiveStats()
        self.places = Places(territory)
        self.taxonomy = load_default_taxonomy()
        self.calendar = china_calendar()
        operators = sorted(p.number for p in roster.people if p.post is Post.OPERATOR)
        self.operator = operators[0] if operators else "admin"
        self.homes = {
            a.number: self.places.home(a.grid_code, a.unit_code, i)
            for i, a in enumerate(roster.assignments)
        }

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, username: str, path: str, body: Any, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens(username)}"}
        if key:
            headers["Idempotency-Key"] = key
        return request_json("POST", f"{self.base_url}{path}", body, headers=headers)

    def _act(self, username: str, case_id: int, action: str, body: Any = None) -> Any:
        answer = self._call(username, f"/api/v1/cases/{case_id}/actions/{action}", body or {})
        self.stats.actions += 1
        return answer

    def _wait(self, env: simpy.Environment, wall_seconds: float) -> Any:
        return env.timeout(wall_seconds * self.speed / 60.0)

    # --- processes ------------------------------------------------------------------------

    def _days(self, env: simpy.Environment, timeline: Timeline) -> Any:
        coverage = PatrolCoverage(self.roster, self.territory, self.places, self.config)
        horizon = timeline.end
        day = int(env.now // 1440)
        while True:
            made = generate(
                self.config.incidents, self.places, self.taxonomy, 1, self.seed * 1000 + day
            )
            found: list[tuple[Discovery, Incident]] = []
            for incident in made:
                moved = Incident(
                    day * 100_000 + incident.id,
                    incident.minute + day * 1440.0,
                    incident.subclass,
                    incident.spot,
                    incident.hazard,
                )
                if moved.minute < env.now:
                    continue  # before the feeder started
                rng = random.Random(f"live:{self.seed}:{moved.id}")
                discovery = discover(moved, rng, coverage, timeline, self.config, horizon)
                if discovery is not None:
                    found.append((discovery, moved))
            found.sort(key=lambda f: f[0].minute)
            for discovery, incident in found:
                env.process(self._case(env, incident, discovery))
            day += 1
            yield env.timeout(max(day * 1440.0 - env.now, 0.0))

    def _case(self, env: simpy.Environment, incident: Incident, discovery: Discovery) -> Any:
        yield env.timeout(max(discovery.minute - env.now, 0.0))
        if self.stop.is_set():
            return
        handling = self.config.handling
        rng = random.Random(f"live-h:{self.seed}:{incident.id}")
        rule = self.taxonomy.get(incident.subclass)
        assert rule is not None
        body: dict[str, Any] = {
            "channel": discovery.channel.value,
            "subclass": incident.subclass,
            "position": {"lng": incident.spot.position[0], "lat": incident.spot.position[1]},
            "description": f"演示推演 / simulated: {rule.name_zh} {rule.name_en}",
            "hazard": incident.hazard,
            "address": "演示推演 / simulated",
        }
        if discovery.reporter:
            body["reporter"] = discovery.reporter
        case = yield from self._try(
            env, lambda: self._call(self.gateway, "/api/v1/cases", body, f"sim:{incident.id}")
        )
        if case is None:
            return
        self.stats.reported += 1
        case_id = int(case["id"])
        self.stats.case_ids.append(case_id)
        if case.get("status") == "reported":  # an operator registers a citizen's report
            yield env.timeout(exponential(rng, handling.register_minutes))
            case = yield from self._try(env, lambda: self._act(self.operator, case_id, "register"))
            if case is None:
                return
        tries = 0
        while not case.get("assignee"):
            tries += 1
            if case.get("status") != "registered" or tries > 100:
                return  # merged, forwarded or otherwise out of the loop
            yield env.timeout(handling.queue_retry_minutes if case.get("unassigned") else 0.5)
            if self.stop.is_set():
                return
            try:
                case = self._act(self.operator, case_id, "dispatch")
            except PeerError as error:
                if error.status != 409:
                    self._failed(error)
                    return
        assignee = str(case["assignee"]["number"])
        urgent = case.get("urgency") == "urgent"
        yield env.timeout(exponential(rng, handling.accept_minutes))
        steps: list[tuple[float, str, str, dict[str, Any]]] = [
            (0.0, assignee, "accept", {}),
            (
                travel_minutes(
                    handling,
                    self.homes.get(assignee, self.places.centre),
                    incident.spot.position,
                    urgent,
                ),
                assignee,
                "arrive",
                {"position": body["position"]},
            ),
            (
                handling_minutes(handling, rule, urgent, rng.random()),
                assignee,
                "handle",
                {"note": "演示推演：已处置 / simulated: done"},
            ),
            (exponential(rng, handling.check_minutes), self.operator, "check", {"passed": True}),
            (exponential(rng, handling.close_minutes), self.operator, "close", {}),
        ]
        for delay, who, action, params in steps:
            if delay:
                yield env.timeout(delay)
            if self.stop.is_set():
                return
            done = yield from self._try(env, partial(self._act, who, case_id, action, params))
            if done is None:
                return

    def _try(self, env: simpy.Environment, call: Callable[[], Any]) -> Any:
        """One HTTP call; after a 429 (sign-in limit) wait and try again, a few times."""
        for _ in range(8):
            try:
                return call()
            except PeerError as error:
                if error.status != 429:
                    self._failed(error)
                    return None
            yield self._wait(env, _RETRY_SECONDS)
        return None

    def _failed(self, error: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(error)[:300]
        log.info("demo feeder: %s", error)

    # --- running --------------------------------------------------------------------------

    def run(self, minutes: float | None = None, now: datetime | None = None) -> LiveStats:
        """Feed until ``stop`` is set (or ``minutes`` simulated minutes have passed)."""
        moment = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
        midnight = datetime.combine(moment.date(), time(0), CHINA_TZ)
        started = (moment - midnight) / timedelta(minutes=1)
        timeline = Timeline(self.calendar, moment.date(), _HORIZON_DAYS)
        env = RealtimeEnvironment(initial_time=started, factor=60.0 / self.speed, strict=False)
        env.process(self._days(env, timeline))
        end = started + minutes if minutes is not None else timeline.end - 1440.0
        step = max(self.speed / 60.0, 0.05)  # about a wall-clock second per step
        while not self.stop.is_set() and env.now < end:
            env.run(until=min(env.now + step, end))
        return self.stats


def start_in_thread(
    feeder: LiveFeeder, ready: Callable[[], bool] | None = None
) -> threading.Thread:
    """Run ``feeder`` in a daemon thread, once ``ready()`` (the server listens)."""

    def main() -> None:
        while ready is not None and not ready():
            if feeder.stop.wait(0.1):
                return
        try:
            feeder.run()
        except Exception:  # the demo keeps serving even if the feeder fails
            log.exception("demo feeder stopped")

    thread = threading.Thread(target=main, name="demo-feeder", daemon=True)
    thread.start()
    return thread
