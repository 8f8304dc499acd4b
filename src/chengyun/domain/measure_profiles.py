"""A case's measure profile (考核画像): what one case adds to every measure, whatever the
period, worked out by the rules of ``domain.measures`` when the case is saved.

A rule reads the period in two ways only: the measure's anchor places the case in the
period or not, and the closure measures count a case only if it was closed by the
period's end. So a case's profile holds

- the moment of every anchor, and when the case was closed;
- for every measure that counts cases (0 or 1 each), four bits: its numerator and its
  denominator for a period that ends before the case was closed, and for one that ends
  after;
- for every measure weighted by counts (returns per dispatch, failed checks per check),
  its numerator and denominator;
- its handling time, if it counts in one.

The figures of a period are then sums over profiles grouped by their bits
(``ProfileSum``: which anchors fall in the period, whether the case was closed by its
end), which the database does in one pass over a narrow table; ``figures_of`` turns the
sums into figures that equal ``domain.measures.all_measures`` exactly (the tests check it
on random cases, in memory and in SQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from chengyun.domain.measures import (
    HANDLING_TIME_ANCHOR,
    MEASURE_ORDER,
    RATIO_RULES,
    Anchor,
    CaseFacts,
    Duration,
    Figures,
    Measure,
    Part,
    Ratio,
    anchor_of,
    handling_microseconds,
)

#: A period end after every possible closing.
_AFTER_ALL = datetime.max.replace(tzinfo=UTC)

#: The ratio measures, in the API's order.
RATIOS: tuple[Measure, ...] = tuple(m for m in MEASURE_ORDER if m in RATIO_RULES)
#: Measures counting cases: four bits each in ``Profile.bits``.
FLAGGED: tuple[Measure, ...] = tuple(m for m in RATIOS if not RATIO_RULES[m].weighted)
#: Measures weighted by counts: a numerator and a denominator each in ``Profile.weights``.
WEIGHTED: tuple[Measure, ...] = tuple(m for m in RATIOS if RATIO_RULES[m].weighted)


def bit(measure: Measure, part: Part, closed: bool) -> int:
    """The bit of ``Profile.bits`` saying that the case counts on ``part`` of ``measure``
    for a period by whose end it was (``closed``) or was not closed."""
    index = FLAGGED.index(measure)
    return 1 << (4 * index + 2 * (part is Part.DENOMINATOR) + int(closed))


#: For each case-counting measure, its rule's two parts with their bits for a period by
#: whose end the case was not closed and for one by whose end it was: worked out once.
_FLAGGED_PARTS = tuple(
    (
        measure,
        tuple(
            (weight, bit(measure, part, False), bit(measure, part, True))
            for part, weight in (
                (Part.NUMERATOR, RATIO_RULES[measure].numerator),
                (Part.DENOMINATOR, RATIO_RULES[measure].denominator),
            )
        ),
    )
    for measure in FLAGGED
)


def weight_index(measure: Measure, part: Part) -> int:
    """Where ``part`` of a weighted measure sits in ``Profile.weights``."""
    return 2 * WEIGHTED.index(measure) + int(part is Part.DENOMINATOR)


@dataclass(frozen=True)
class Profile:
    """What one case adds to every measure (see the module's description)."""

    anchors: Mapping[Anchor, datetime | None]
    closed_at: datetime | None
    bits: int
    weights: tuple[int, ...]
    handling_us: int | None


def profile_of(f: CaseFacts) -> Profile:
    """The profile of one case's facts. Raises ``ValueError`` if a rule breaks the
    assumptions the profile rests on (a case-counting rule giving more than 1, a weighted
    rule depending on the closing)."""
    # ``closed by the end`` is ``closed_at < end``: false for a period ending at the
    # closing, true for one ending after everything.
    # An open case (most of those saved) gives both periods the same answer: each rule is
    # asked once.
    open_case = f.closed_at is None
    before_closing = f.closed_at if f.closed_at is not None else _AFTER_ALL
    bits = 0
    for measure, parts in _FLAGGED_PARTS:
        for weight, not_closed_bit, closed_bit in parts:
            after = weight(f, _AFTER_ALL)
            before = after if open_case else weight(f, before_closing)
            for value, set_bit in ((before, not_closed_bit), (after, closed_bit)):
                if value not in (0, 1):
                    raise ValueError(f"{measure.value} counts cases, but gave {value}")
                if value:
                    bits |= set_bit
    weights: list[int] = []
    for measure in WEIGHTED:
        rule = RATIO_RULES[measure]
        for weight in (rule.numerator, rule.denominator):
            value = weight(f, _AFTER_ALL)
            if not open_case and weight(f, before_closing) != value:
                raise ValueError(f"{measure.value} is weighted but depends on the closing")
            weights.append(value)
    return Profile(
        anchors={a: anchor_of(f, a) for a in Anchor},
        closed_at=f.closed_at,
        bits=bits,
        weights=tuple(weights),
        handling_us=handling_microseconds(f),
    )


@dataclass(frozen=True)
class ProfileSum:
    """Cases with the same profile bits, the same anchors inside the period and the same
    answer to "closed by the period's end": how many, and their summed weights and
    handling times (``handled`` of them have one)."""

    anchors: frozenset[Anchor]
    closed: bool
    bits: int
    cases: int
    weights: tuple[int, ...]
    handled: int = 0
    handling_us: int = 0


def figures_of(sums: Iterable[ProfileSum]) -> Figures:
    """The figures of a period from its profile sums; the handling time's 90th percentile
    is left out (it needs the times themselves)."""
    numerators = dict.fromkeys(RATIOS, 0)
    denominators = dict.fromkeys(RATIOS, 0)
    handled = total_us = 0
    flagged = [
        (
            m,
            RATIO_RULES[m].anchor,
            (bit(m, Part.NUMERATOR, False), bit(m, Part.NUMERATOR, True)),
            (bit(m, Part.DENOMINATOR, False), bit(m, Part.DENOMINATOR, True)),
        )
        for m in FLAGGED
    ]
    for s in sums:
        for measure, anchor, numerator_bits, denominator_bits in flagged:
            if anchor in s.anchors:
                if s.bits & numerator_bits[s.closed]:
                    numerators[measure] += s.cases
                if s.bits & denominator_bits[s.closed]:
                    denominators[measure] += s.cases
        for k, measure in enumerate(WEIGHTED):
            if RATIO_RULES[measure].anchor in s.anchors:
                numerators[measure] += s.weights[2 * k]
                denominators[measure] += s.weights[2 * k + 1]
        if HANDLING_TIME_ANCHOR in s.anchors:
            handled += s.handled
            total_us += s.handling_us
    figures: Figures = {}
    for measure in MEASURE_ORDER:
        if measure is Measure.HANDLING_TIME:
            figures[measure.value] = Duration(handled, total_us, None)
        else:
            figures[measure.value] = Ratio(numerators[measure], denominators[measure])
    return figures


def sums_of(profiles: Iterable[Profile], start: datetime, end: datetime) -> list[ProfileSum]:
    """The profile sums of a period, one per case (what the database adds up)."""
    sums = []
    for p in profiles:
        inside = frozenset(a for a, at in p.anchors.items() if at is not None and start <= at < end)
        if not inside:
            continue
        counted = HANDLING_TIME_ANCHOR in inside and p.handling_us is not None
        sums.append(
            ProfileSum(
                inside,
                p.closed_at is not None and p.closed_at < end,
                p.bits,
                1,
                p.weights,
                int(counted),
                p.handling_us if counted and p.handling_us is not None else 0,
            )
        )
    return sums
