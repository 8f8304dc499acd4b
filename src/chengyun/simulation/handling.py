"""Handling (处置) in the simulation: staff who are busy while they travel and work, the
time those take, and the facts each simulated case leaves for the measures.

The facts are read exactly as the case repository stores them for the platform
(first discovery, counters, each stage clock's start, due and done), so that the
platform's own formulas in ``domain.measures`` give the simulated figures.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from dataclasses import dataclass, field
from statistics import NormalDist

import simpy

from chengyun.domain import case_facts
from chengyun.domain.case_clocks import ClockRules, Clocks
from chengyun.domain.cases import Actor, Case
from chengyun.domain.forces import Person, Shift
from chengyun.domain.measures import CaseFacts
from chengyun.domain.taxonomy import Stage, Subclass
from chengyun.services.cases import APPROVER_POSTS, CENTRE_POSTS
from chengyun.simulation.config import HandlingConfig
from chengyun.simulation.incidents import Incident, Position, distance_m


def actor_of(person: Person) -> Actor:
    """The case actor of a person, with the capabilities of their post (as the platform's
    ``services.cases.actor_for`` gives them)."""
    return Actor(
        person.number,
        centre=person.post in CENTRE_POSTS,
        approver=person.post in APPROVER_POSTS,
    )


@dataclass
class Staff:
    """A person of the roster in the simulation: busy (one job at a time, urgent first)
    while travelling and handling; ``position`` is where they last worked."""

    person: Person
    resource: simpy.PriorityResource
    home: Position
    shifts: frozenset[Shift]
    position: Position = (0.0, 0.0)
    busy_minutes: float = 0.0
    jobs: int = 0
    self_handled: int = 0

    def __post_init__(self) -> None:
        self.position = self.home


@dataclass
class SimCase:
    """A case in the simulation: the platform's ``Case`` and ``Clocks`` plus what the
    case repository keeps beside them (responsible party, street flag)."""

    case: Case
    clocks: Clocks
    rule: Subclass
    rules: ClockRules
    incident: Incident
    rng: random.Random
    responsible: str | None = None
    street: bool = False
    queued_minutes: float = 0.0
    excluded: set[str] = field(default_factory=set)
    warned: set[Stage] = field(default_factory=set)
    escalated: set[Stage] = field(default_factory=set)
    escalations: int = 0
    token: int = 0


def exponential(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1.0 / mean) if mean > 0 else 0.0


def handling_minutes(config: HandlingConfig, rule: Subclass, urgent: bool, u: float) -> float:
    """Lognormal handling time with the subclass's mean and the configured spread, from
    one uniform number ``u`` (so two rosters draw the same time for the same case)."""
    mean = config.minutes.get(rule.code) or (
        config.urgent_minutes if urgent else config.general_minutes
    )
    if mean <= 0:
        return 0.0
    sigma2 = math.log(1 + config.spread**2)
    mu = math.log(mean) - sigma2 / 2
    z = _normal_quantile(min(max(u, 1e-9), 1 - 1e-9))
    return math.exp(mu + math.sqrt(sigma2) * z)


_NORMAL = NormalDist()


def _normal_quantile(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def travel_minutes(config: HandlingConfig, a: Position, b: Position, urgent: bool = False) -> float:
    speed = config.urgent_speed_kmh if urgent else config.speed_kmh
    if speed <= 0:
        return 0.0
    metres_per_minute = speed * 1000.0 / 60.0
    return distance_m(a, b) * config.detour / metres_per_minute


def facts_of(sim: SimCase, key_units: Collection[str]) -> CaseFacts:
    """One case's facts, as the database stores them (``domain.case_facts``)."""
    return case_facts.facts_of(
        sim.case,
        sim.clocks,
        responsible=sim.responsible,
        key_unit=sim.case.unit_code in key_units,
    )
