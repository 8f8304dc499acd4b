"""The measures (考核指标) of SPEC §4 as pure formulas over one row of facts per case.

Each measure is a ratio (or, for the handling time, duration statistics) over the cases
of a period ``[start, end)`` and a scope. Which cases belong to a period is decided per
measure by its *anchor*, one moment of the case (first found, reported, a stage's due or
start time, handled); ``docs/measures.md`` gives every definition with a worked example.
The SQL in ``adapters/db/measures.py`` computes the same figures set-based and must
agree with these functions exactly: they are the specification.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from chengyun.domain.cases import OWN_DISCOVERY_CHANNELS, CaseStatus, Channel
from chengyun.domain.errors import Forbidden, InvalidInput, Problem
from chengyun.domain.forces import NUMBER_PATTERN, Department, TeamType
from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import SUBCLASS_CODE, Urgency
from chengyun.domain.territory import CODE_PATTERN
from chengyun.domain.working_time import CHINA_TZ, as_china_time

#: The seed's targets for the 19 key units (先行发现率 85 %, 结案率 97 %).
TARGETS: Mapping[str, float] = {"first_discovery_rate": 0.85, "closure_rate": 0.97}

#: Cases that are not counted at all (besides pre-launch ones): voided, rejected, merged
#: into another case (the duplicate counts once, through the case it joined) and
#: forwarded to the district.
EXCLUDED_STATUSES = frozenset(
    {CaseStatus.VOIDED, CaseStatus.REJECTED, CaseStatus.MERGED, CaseStatus.FORWARDED}
)
#: Channels that mean someone else found the problem first (漏报): the complement of
#: ``OWN_DISCOVERY_CHANNELS``.
OTHER_CHANNELS = frozenset(Channel) - OWN_DISCOVERY_CHANNELS

URGENT_ARRIVAL = timedelta(minutes=15)
URGENT_INITIAL_RESULT = timedelta(hours=1)
_US = timedelta(microseconds=1)
URGENT_ARRIVAL_US = URGENT_ARRIVAL // _US
URGENT_INITIAL_RESULT_US = URGENT_INITIAL_RESULT // _US
US_PER_MINUTE = 60_000_000


class Measure(Labelled):
    """A measure (考核指标); the value is its name in the API."""

    FIRST_DISCOVERY_RATE = "first_discovery_rate", "先行发现率", "First-discovery rate"
    CLOSURE_RATE = "closure_rate", "结案率", "Closure rate"
    URGENT_ON_TIME_ARRIVAL_RATE = (
        "urgent_on_time_arrival_rate",
        "紧急类15分钟到场率",
        "Urgent cases on scene within 15 minutes",
    )
    URGENT_ON_TIME_INITIAL_RESULT_RATE = (
        "urgent_on_time_initial_result_rate",
        "紧急类1小时初步处置率",
        "Urgent cases with an initial result within 1 hour",
    )
    ON_TIME_HANDLING_RATE = "on_time_handling_rate", "按期处置率", "On-time handling rate"
    ON_TIME_CLOSURE_RATE = "on_time_closure_rate", "按期结案率", "On-time closure rate"
    RETURN_RATE = "return_rate", "退单率", "Return rate"
    REWORK_RATE = "rework_rate", "返工率", "Rework rate"
    EXTENSION_RATE = "extension_rate", "延期率", "Extension rate"
    VALID_REPORT_RATE = "valid_report_rate", "有效上报率", "Valid-report rate (patrol)"
    MISSED_REPORT_RATE = "missed_report_rate", "漏报率", "Missed-report rate"
    ON_TIME_REGISTRATION_RATE = "on_time_registration_rate", "按时立案率", "On-time registration"
    ON_TIME_DISPATCH_RATE = "on_time_dispatch_rate", "按时派遣率", "On-time dispatch"
    DISPATCH_ACCURACY = "dispatch_accuracy", "派遣准确率", "Dispatch accuracy"
    INTELLIGENT_DISCOVERY_SHARE = (
        "intelligent_discovery_share",
        "智能发现占比",
        "Share found by video AI",
    )
    SELF_HANDLED_SHARE = "self_handled_share", "自处理占比", "Share solved on the spot"
    HANDLING_TIME = "handling_time", "处置时长", "Handling time"


class Anchor(Labelled):
    """The moment of a case that places it in a period, for a measure."""

    FOUND = "found", "首次发现时间", "First found (earliest report, duplicates included)"
    REPORTED = "reported", "上报时间", "Reported"
    CLOSE_DUE = "close_due", "应结案时间", "Due to be closed (handling deadline)"
    HANDLE_DUE = "handle_due", "处置期限", "Handling deadline"
    DISPATCHED = "dispatched", "派遣时间", "Dispatched (arrival clock started)"
    HANDLE_STARTED = "handle_started", "处置计时开始", "Handling clock started"
    REGISTER_DUE = "register_due", "立案期限", "Registration deadline"
    DISPATCH_DUE = "dispatch_due", "派遣期限", "Dispatch deadline"
    HANDLED = "handled", "处置完成时间", "Handled"


class Part(Labelled):
    """Which side of a ratio a drill-down lists."""

    NUMERATOR = "numerator", "分子", "Numerator"
    DENOMINATOR = "denominator", "分母", "Denominator"


# --- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CaseFacts:
    """What the measures read of one case: one row of the ``cases`` table's facts.

    ``first_channel``/``first_found_at`` are the earliest report of the problem, the
    reports merged into the case included; ``responsible`` is the team type or department
    the case was sent to; ``reporter_team`` the team type of the person who reported it
    (the discovery side: 上报队伍); ``handlers`` everyone who handled it; ``reject_reason`` why a
    rejected report was not registered (``invalid`` or ``duplicate``). Each stage clock
    keeps only its current cycle (a re-dispatch or rework restarts it).
    """

    id: int = 0
    number: str = ""
    status: CaseStatus = CaseStatus.REGISTERED
    channel: Channel = Channel.PATROL
    first_channel: Channel = Channel.PATROL
    reported_at: datetime
    first_found_at: datetime
    urgency: Urgency = Urgency.GENERAL
    subclass: str = "E0102"
    grid_code: str | None = None
    unit_code: str | None = None
    key_unit: bool = False
    area_codes: tuple[str, ...] = ()
    pre_launch: bool = False
    self_handled: bool = False
    merged_into: int | None = None
    reporter: str | None = None
    assignee: str | None = None
    handlers: tuple[str, ...] = ()
    responsible: str | None = None
    reporter_team: str | None = None
    reject_reason: str | None = None
    closed_at: datetime | None = None
    dispatches: int = 0
    returns: int = 0
    reworks: int = 0
    extensions: int = 0
    checks: int = 0
    failed_checks: int = 0
    register_started_at: datetime | None = None
    register_due_at: datetime | None = None
    register_done_at: datetime | None = None
    dispatch_started_at: datetime | None = None
    dispatch_due_at: datetime | None = None
    dispatch_done_at: datetime | None = None
    accept_started_at: datetime | None = None
    accept_due_at: datetime | None = None
    accept_done_at: datetime | None = None
    arrive_started_at: datetime | None = None
    arrive_due_at: datetime | None = None
    arrive_done_at: datetime | None = None
    handle_started_at: datetime | None = None
    handle_due_at: datetime | None = None
    handle_done_at: datetime | None = None
    check_started_at: datetime | None = None
    check_due_at: datetime | None = None
    check_done_at: datetime | None = None


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """A rate: ``numerator / denominator``; ``value`` is ``None`` when nothing was counted."""

    numerator: int = 0
    denominator: int = 0

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Duration:
    """Duration statistics in exact microseconds: how many, their total, and the 90th
    percentile by nearest rank (the ⌈0.9·n⌉-th smallest)."""

    count: int = 0
    total_microseconds: int = 0
    p90_microseconds: int | None = None

    @property
    def mean_minutes(self) -> float | None:
        return self.total_microseconds / self.count / US_PER_MINUTE if self.count else None

    @property
    def p90_minutes(self) -> float | None:
        return None if self.p90_microseconds is None else self.p90_microseconds / US_PER_MINUTE


Figure = Ratio | Duration
Figures = dict[str, Figure]


def p90_rank(count: int) -> int:
    """The nearest rank of the 90th percentile among ``count`` sorted values (1-based):
    ⌈0.9·count⌉ in integers — the rank PostgreSQL's ``percentile_disc(0.9)`` picks (its
    double-precision ⌈0.9·n⌉ agrees for every n below ten million)."""
    return (9 * count + 9) // 10


def duration_of(microseconds: Iterable[int]) -> Duration:
    ordered = sorted(microseconds)
    if not ordered:
        return Duration()
    return Duration(len(ordered), sum(ordered), ordered[p90_rank(len(ordered)) - 1])


def is_empty(figures: Mapping[str, Figure]) -> bool:
    """Nothing counted at all (no denominator, no numerator, no duration)."""
    for figure in figures.values():
        if isinstance(figure, Ratio) and (figure.numerator or figure.denominator):
            return False
        if isinstance(figure, Duration) and figure.count:
            return False
    return True


def empty_figures() -> Figures:
    return {m.value: Duration() if m is Measure.HANDLING_TIME else Ratio() for m in MEASURE_ORDER}


# --- which cases count -----------------------------------------------------------------------


def is_valid(f: CaseFacts) -> bool:
    """A valid case (有效案件): after its grid went live, neither voided, rejected, merged
    into another case nor forwarded to the district."""
    return not f.pre_launch and f.status not in EXCLUDED_STATUSES


def is_working(f: CaseFacts) -> bool:
    """A valid case not on hold (挂账): the timeliness measures count these, because a
    hold stops every clock until the case resumes."""
    return is_valid(f) and f.status is not CaseStatus.ON_HOLD


def _stage_ended_in_place(f: CaseFacts) -> bool:
    # A return (退单) or a reopening sends the case back to the queue (registered) and
    # stops the clocks without the stage being done: those stops are not arrivals or
    # results.
    return f.status is not CaseStatus.REGISTERED


def _within(done: datetime | None, started: datetime | None, limit_us: int) -> bool:
    return done is not None and started is not None and (done - started) // _US <= limit_us


def _by(done: datetime | None, due: datetime | None) -> bool:
    return done is not None and due is not None and done <= due


def _closed_by(f: CaseFacts, end: datetime) -> bool:
    return f.closed_at is not None and f.closed_at < end


def _rejected_as_invalid(f: CaseFacts) -> bool:
    # A rejection whose reason is not recorded as "duplicate" counts as invalid.
    return f.status is CaseStatus.REJECTED and f.reject_reason != "duplicate"


def _is_patrol_report(f: CaseFacts) -> bool:
    # Reports still waiting for registration are not judged yet; forwarded ones were
    # outside the sub-district.
    return (
        f.channel is Channel.PATROL
        and not f.pre_launch
        and f.status not in (CaseStatus.FORWARDED, CaseStatus.REPORTED)
    )


_ANCHORS: Mapping[Anchor, Callable[[CaseFacts], datetime | None]] = {
    Anchor.FOUND: lambda f: f.first_found_at,
    Anchor.REPORTED: lambda f: f.reported_at,
    Anchor.CLOSE_DUE: lambda f: f.reported_at if f.self_handled else f.handle_due_at,
    Anchor.HANDLE_DUE: lambda f: f.handle_due_at,
    Anchor.DISPATCHED: lambda f: f.arrive_started_at,
    Anchor.HANDLE_STARTED: lambda f: f.handle_started_at,
    Anchor.REGISTER_DUE: lambda f: f.register_due_at,
    Anchor.DISPATCH_DUE: lambda f: f.dispatch_due_at,
    Anchor.HANDLED: lambda f: f.handle_done_at,
}


def anchor_of(f: CaseFacts, anchor: Anchor) -> datetime | None:
    return _ANCHORS[anchor](f)


def _one(condition: bool) -> int:
    return 1 if condition else 0


Weight = Callable[[CaseFacts, datetime], int]
"""A case's contribution to one side of a ratio; the datetime is the period's end."""


@dataclass(frozen=True)
class RatioRule:
    anchor: Anchor
    numerator: Weight
    denominator: Weight
    weighted: bool = False
    """The sides are counts of something in the case (dispatches, checks), not 0 or 1."""


def _found(numerator: Callable[[CaseFacts], bool]) -> RatioRule:
    return RatioRule(
        Anchor.FOUND,
        lambda f, end: _one(is_valid(f) and numerator(f)),
        lambda f, end: _one(is_valid(f)),
    )


RATIO_RULES: Mapping[Measure, RatioRule] = {
    Measure.FIRST_DISCOVERY_RATE: _found(lambda f: f.first_channel in OWN_DISCOVERY_CHANNELS),
    Measure.CLOSURE_RATE: RatioRule(
        Anchor.CLOSE_DUE,
        lambda f, end: _one(is_working(f) and _closed_by(f, end)),
        lambda f, end: _one(is_working(f)),
    ),
    Measure.URGENT_ON_TIME_ARRIVAL_RATE: RatioRule(
        Anchor.DISPATCHED,
        lambda f, end: _one(
            is_working(f)
            and f.urgency is Urgency.URGENT
            and _stage_ended_in_place(f)
            and _within(f.arrive_done_at, f.arrive_started_at, URGENT_ARRIVAL_US)
        ),
        lambda f, end: _one(is_working(f) and f.urgency is Urgency.URGENT),
    ),
    Measure.URGENT_ON_TIME_INITIAL_RESULT_RATE: RatioRule(
        Anchor.HANDLE_STARTED,
        lambda f, end: _one(
            is_working(f)
            and f.urgency is Urgency.URGENT
            and _stage_ended_in_place(f)
            and _within(f.handle_done_at, f.handle_started_at, URGENT_INITIAL_RESULT_US)
        ),
        lambda f, end: _one(is_working(f) and f.urgency is Urgency.URGENT),
    ),
    Measure.ON_TIME_HANDLING_RATE: RatioRule(
        Anchor.HANDLE_DUE,
        lambda f, end: _one(
            is_working(f) and _stage_ended_in_place(f) and _by(f.handle_done_at, f.handle_due_at)
        ),
        lambda f, end: _one(is_working(f)),
    ),
    Measure.ON_TIME_CLOSURE_RATE: RatioRule(
        Anchor.CLOSE_DUE,
        lambda f, end: _one(
            is_working(f)
            and _closed_by(f, end)
            and (f.self_handled or _by(f.handle_done_at, f.handle_due_at))
        ),
        lambda f, end: _one(is_working(f)),
    ),
    Measure.RETURN_RATE: RatioRule(
        Anchor.REPORTED,
        lambda f, end: f.returns if is_valid(f) else 0,
        lambda f, end: f.dispatches if is_valid(f) else 0,
        weighted=True,
    ),
    Measure.REWORK_RATE: RatioRule(
        Anchor.REPORTED,
        lambda f, end: f.failed_checks if is_valid(f) else 0,
        lambda f, end: f.checks if is_valid(f) else 0,
        weighted=True,
    ),
    Measure.EXTENSION_RATE: RatioRule(
        Anchor.REPORTED,
        lambda f, end: _one(is_valid(f) and f.dispatches > 0 and f.extensions > 0),
        lambda f, end: _one(is_valid(f) and f.dispatches > 0),
    ),
    Measure.VALID_REPORT_RATE: RatioRule(
        Anchor.REPORTED,
        lambda f, end: _one(
            _is_patrol_report(f)
            and f.status is not CaseStatus.VOIDED
            and not _rejected_as_invalid(f)
        ),
        lambda f, end: _one(_is_patrol_report(f)),
    ),
    Measure.MISSED_REPORT_RATE: _found(lambda f: f.first_channel in OTHER_CHANNELS),
    Measure.ON_TIME_REGISTRATION_RATE: RatioRule(
        Anchor.REGISTER_DUE,
        lambda f, end: _one(is_working(f) and _by(f.register_done_at, f.register_due_at)),
        lambda f, end: _one(is_working(f)),
    ),
    Measure.ON_TIME_DISPATCH_RATE: RatioRule(
        Anchor.DISPATCH_DUE,
        lambda f, end: _one(is_working(f) and _by(f.dispatch_done_at, f.dispatch_due_at)),
        lambda f, end: _one(is_working(f)),
    ),
    Measure.DISPATCH_ACCURACY: RatioRule(
        Anchor.REPORTED,
        lambda f, end: f.dispatches - f.returns if is_valid(f) else 0,
        lambda f, end: f.dispatches if is_valid(f) else 0,
        weighted=True,
    ),
    Measure.INTELLIGENT_DISCOVERY_SHARE: _found(lambda f: f.first_channel is Channel.VIDEO_AI),
    Measure.SELF_HANDLED_SHARE: _found(lambda f: f.self_handled),
}

#: The measures in the order the API lists them.
MEASURE_ORDER: tuple[Measure, ...] = tuple(Measure)
HANDLING_TIME_ANCHOR = Anchor.HANDLED


def anchor_for(measure: Measure) -> Anchor:
    if measure is Measure.HANDLING_TIME:
        return HANDLING_TIME_ANCHOR
    return RATIO_RULES[measure].anchor


def _in_period(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def handling_microseconds(f: CaseFacts) -> int | None:
    """From dispatch (the dispatch clock's stop) to handling done, for a case that counts
    in the handling time; ``None`` otherwise."""
    if not (is_working(f) and _stage_ended_in_place(f)):
        return None
    if f.handle_done_at is None or f.dispatch_done_at is None:
        return None
    return (f.handle_done_at - f.dispatch_done_at) // _US


def contribution(f: CaseFacts, measure: Measure, part: Part, start: datetime, end: datetime) -> int:
    """What one case adds to a side of ``measure`` in ``[start, end)`` (0: not at all).
    For the handling time both sides are the cases measured, 1 each."""
    if not _in_period(anchor_of(f, anchor_for(measure)), start, end):
        return 0
    if measure is Measure.HANDLING_TIME:
        return _one(handling_microseconds(f) is not None)
    rule = RATIO_RULES[measure]
    weight = rule.numerator if part is Part.NUMERATOR else rule.denominator
    return weight(f, end)


def _ratio(measure: Measure, facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    rule = RATIO_RULES[measure]
    numerator = denominator = 0
    for f in facts:
        if _in_period(anchor_of(f, rule.anchor), start, end):
            numerator += rule.numerator(f, end)
            denominator += rule.denominator(f, end)
    return Ratio(numerator, denominator)


# --- one function per measure ----------------------------------------------------------------


def first_discovery_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """先行发现率: valid cases first found by own means (patrol, video AI, citizen QR,
    inspection) / valid cases, by when the problem was first found. A hotline or district
    report merged into a case the platform already held does not change ``first_channel``:
    the case counts as found first."""
    return _ratio(Measure.FIRST_DISCOVERY_RATE, facts, start, end)


def closure_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """结案率: cases closed by the end of the period / valid cases (not on hold) due to be
    closed in the period — whose handling deadline falls in it (self-handled cases: when
    they were reported, and closed)."""
    return _ratio(Measure.CLOSURE_RATE, facts, start, end)


def urgent_on_time_arrival_rate(
    facts: Iterable[CaseFacts], start: datetime, end: datetime
) -> Ratio:
    """紧急类15分钟到场率: urgent cases on scene within 15 minutes of dispatch / urgent
    cases dispatched in the period."""
    return _ratio(Measure.URGENT_ON_TIME_ARRIVAL_RATE, facts, start, end)


def urgent_on_time_initial_result_rate(
    facts: Iterable[CaseFacts], start: datetime, end: datetime
) -> Ratio:
    """紧急类1小时初步处置率: urgent cases handled within 1 hour of the handling clock's
    start (dispatch, or the failed check that sent it back) / urgent cases whose
    handling clock started in the period."""
    return _ratio(Measure.URGENT_ON_TIME_INITIAL_RESULT_RATE, facts, start, end)


def on_time_handling_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """按期处置率: cases handled by their handling deadline (extensions included) / cases
    whose handling deadline falls in the period."""
    return _ratio(Measure.ON_TIME_HANDLING_RATE, facts, start, end)


def on_time_closure_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """按期结案率: cases closed by the end of the period whose handling met its deadline
    (self-handled cases always do) / the closure rate's denominator."""
    return _ratio(Measure.ON_TIME_CLOSURE_RATE, facts, start, end)


def return_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """退单率: returns / dispatches, of the valid cases reported in the period."""
    return _ratio(Measure.RETURN_RATE, facts, start, end)


def rework_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """返工率: failed checks / checks, of the valid cases reported in the period."""
    return _ratio(Measure.REWORK_RATE, facts, start, end)


def extension_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """延期率: dispatched cases with an approved extension / dispatched cases, of the valid
    cases reported in the period."""
    return _ratio(Measure.EXTENSION_RATE, facts, start, end)


def valid_report_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """有效上报率 (patrol staff): patrol reports neither rejected as invalid nor voided /
    patrol reports decided (not waiting for registration), reported in the period;
    duplicates merged or rejected as duplicates are valid reports."""
    return _ratio(Measure.VALID_REPORT_RATE, facts, start, end)


def missed_report_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """漏报率: valid cases first found by another channel (hotline, police diversion,
    district) / valid cases, by when first found — the complement of the first-discovery
    rate."""
    return _ratio(Measure.MISSED_REPORT_RATE, facts, start, end)


def on_time_registration_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """按时立案率: cases registered by the registration deadline / cases whose registration
    deadline falls in the period."""
    return _ratio(Measure.ON_TIME_REGISTRATION_RATE, facts, start, end)


def on_time_dispatch_rate(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """按时派遣率: cases dispatched by the dispatch deadline / cases whose dispatch deadline
    falls in the period."""
    return _ratio(Measure.ON_TIME_DISPATCH_RATE, facts, start, end)


def dispatch_accuracy(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """派遣准确率: 1 − returns/dispatches, as (dispatches − returns) / dispatches."""
    return _ratio(Measure.DISPATCH_ACCURACY, facts, start, end)


def intelligent_discovery_share(
    facts: Iterable[CaseFacts], start: datetime, end: datetime
) -> Ratio:
    """智能发现占比: valid cases first found by a video algorithm / valid cases."""
    return _ratio(Measure.INTELLIGENT_DISCOVERY_SHARE, facts, start, end)


def self_handled_share(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Ratio:
    """自处理占比: valid cases solved on the spot / valid cases, by when first found."""
    return _ratio(Measure.SELF_HANDLED_SHARE, facts, start, end)


def handling_time(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Duration:
    """处置时长: minutes from dispatch to handling done, for the cases handled in the
    period: mean and 90th percentile (nearest rank)."""
    return duration_of(
        us
        for f in facts
        if _in_period(f.handle_done_at, start, end) and (us := handling_microseconds(f)) is not None
    )


def all_measures(facts: Iterable[CaseFacts], start: datetime, end: datetime) -> Figures:
    """Every measure, by name, in the API's order."""
    rows = list(facts)
    figures: Figures = {}
    for measure in MEASURE_ORDER:
        if measure is Measure.HANDLING_TIME:
            figures[measure.value] = handling_time(rows, start, end)
        else:
            figures[measure.value] = _ratio(measure, rows, start, end)
    return figures


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """``[start, end)``, both aware."""

    start: datetime
    end: datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), CHINA_TZ)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_of(at: datetime) -> Period:
    """The calendar month (China time) that contains ``at``."""
    first = _month_start(as_china_time(at).date())
    return Period(_midnight(first), _midnight(_next_month(first)))


def _query_problem(name: str, zh: str, en: str, kind: str = "invalid") -> InvalidInput:
    return InvalidInput(f"{name}: {zh} / {en}", [Problem(("query", name), f"{zh} / {en}", kind)])


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


#: The years a period may cover: the platform's era, with room on both sides.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _moment(text: str, name: str, *, end_of_day: bool) -> datetime:
    value = text.strip()
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            parsed = _midnight(day) + (timedelta(days=1) if end_of_day else timedelta(0))
        else:
            parsed = datetime.fromisoformat(value)
    except OverflowError:
        raise _query_problem(
            name, "年份超出范围", f"a time between {FIRST_YEAR} and {LAST_YEAR}", "range"
        ) from None
    except ValueError:
        raise _query_problem(
            name,
            "须为日期或带时区的时间",
            f"a date (2020-06-01) or a time with offset (2020-06-01T08:00:00+08:00), got {value!r}",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _query_problem(
            name, "时间须带时区", f"write the offset, e.g. {value}+08:00", "timezone"
        )
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise _query_problem(
            name, "年份超出范围", f"a time between {FIRST_YEAR} and {LAST_YEAR}", "range"
        )
    return parsed


def parse_period(from_text: str | None, to_text: str | None, now: datetime) -> Period:
    """The period of a request. ``from`` is a date (its midnight, China time) or a time
    with offset; ``to`` a date (that whole day included) or a time (excluded). Without
    either: the current month; without ``to``: up to the end of the current month; without
    ``from``: from the start of ``to``'s month."""
    start = _moment(from_text, "from", end_of_day=False) if from_text else None
    end = _moment(to_text, "to", end_of_day=True) if to_text else None
    if end is None:
        end = month_of(now).end
    if start is None:
        start = month_of(end - _US).start
    if not start < end:
        raise _query_problem(
            "to",
            "结束须晚于开始",
            f"the end {end.isoformat()} must be after the start {start.isoformat()}",
        )
    return Period(start, end)


# --- scopes ----------------------------------------------------------------------------------


class ScopeKind(Labelled):
    """What part of the sub-district the figures are for."""

    ALL = "all", "全街道", "Whole sub-district"
    KEY = "key", "重点管理单元", "Key units"
    GRID = "grid", "责任网格", "Grid"
    UNIT = "unit", "管理单元", "Unit"
    AREA = "area", "区域", "Area"
    DEPARTMENT = "department", "部门", "Department"
    TEAM = "team", "队伍", "Team"
    REPORTER_TEAM = "reporter_team", "上报队伍", "Reporting team"
    PERSON = "person", "人员", "Person"
    CHANNEL = "channel", "发现渠道", "Channel"
    SUBCLASS = "subclass", "小类", "Subclass"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind = ScopeKind.ALL
    value: str | None = None

    def __str__(self) -> str:
        return self.kind.value if self.value is None else f"{self.kind.value}:{self.value}"


_SCOPE_VALUES: Mapping[ScopeKind, tuple[Callable[[str], bool], str]] = {
    ScopeKind.GRID: (lambda v: bool(CODE_PATTERN.match(v)), "a 15-digit grid code"),
    ScopeKind.UNIT: (lambda v: bool(CODE_PATTERN.match(v)), "a 15-digit unit code"),
    ScopeKind.AREA: (lambda v: bool(CODE_PATTERN.match(v)), "a 15-digit area code"),
    ScopeKind.DEPARTMENT: (
        lambda v: v in {d.value for d in Department},
        "one of " + ", ".join(d.value for d in Department),
    ),
    ScopeKind.TEAM: (
        lambda v: v in {t.value for t in TeamType},
        "one of " + ", ".join(t.value for t in TeamType),
    ),
    ScopeKind.REPORTER_TEAM: (
        lambda v: v in {t.value for t in TeamType},
        "one of " + ", ".join(t.value for t in TeamType),
    ),
    ScopeKind.PERSON: (lambda v: bool(NUMBER_PATTERN.match(v)), "a person number (编号)"),
    ScopeKind.CHANNEL: (
        lambda v: v in {c.value for c in Channel},
        "one of " + ", ".join(c.value for c in Channel),
    ),
    ScopeKind.SUBCLASS: (lambda v: bool(SUBCLASS_CODE.match(v)), "a subclass code like E0102"),
}


def parse_scope(text: str | None) -> Scope:
    """``all``, ``key``, or ``<kind>:<value>`` for grid, unit, area, department, team,
    person, channel and subclass; 422 naming ``scope`` otherwise."""
    value = (text or "all").strip()
    kind_text, sep, rest = value.partition(":")
    kinds = ", ".join(
        k.value if k in (ScopeKind.ALL, ScopeKind.KEY) else f"{k.value}:<…>" for k in ScopeKind
    )
    try:
        kind = ScopeKind(kind_text)
    except ValueError:
        raise _query_problem("scope", "范围无效", f"{value!r}: use one of {kinds}") from None
    if kind in (ScopeKind.ALL, ScopeKind.KEY):
        if sep:
            raise _query_problem("scope", "范围无效", f"{kind.value} takes no value")
        return Scope(kind)
    check, wanted = _SCOPE_VALUES[kind]
    rest = rest.strip()
    if not check(rest):
        raise _query_problem("scope", "范围取值无效", f"{kind.value}: {wanted}, got {rest!r}")
    return Scope(kind, rest)


def permitted_scope(requested: Scope | None, own: Scope | None, person: str | None) -> Scope:
    """The scope a request gets. Whoever works for the whole sub-district (``own`` is
    ``None``) may ask for any scope; someone working in a grid, unit or department sees
    that scope (the default) or their own figures (``person:<number>``), nothing else —
    ``Forbidden`` naming ``scope`` otherwise."""
    if own is None:
        return requested or Scope()
    if requested is None or requested == own:
        return own
    if person is not None and requested == Scope(ScopeKind.PERSON, person):
        return requested
    raise Forbidden(
        f"范围超出权限 / you may see the figures of {own} only",
        [Problem(("query", "scope"), f"use scope={own} (or leave it out)", "scope")],
    )


def in_scope(f: CaseFacts, scope: Scope) -> bool:
    value = scope.value
    match scope.kind:
        case ScopeKind.ALL:
            return True
        case ScopeKind.KEY:
            return f.key_unit
        case ScopeKind.GRID:
            return f.grid_code == value
        case ScopeKind.UNIT:
            return f.unit_code == value
        case ScopeKind.AREA:
            return value in f.area_codes
        case ScopeKind.DEPARTMENT | ScopeKind.TEAM:
            return f.responsible == value
        case ScopeKind.REPORTER_TEAM:
            return f.reporter_team == value
        case ScopeKind.PERSON:
            return value is not None and (value in (f.reporter, f.assignee) or value in f.handlers)
        case ScopeKind.CHANNEL:
            return f.channel == value
        case ScopeKind.SUBCLASS:
            return f.subclass == value


# --- groups ----------------------------------------------------------------------------------


class GroupBy(Labelled):
    """How figures are broken down."""

    GRID = "grid", "责任网格", "Grid"
    UNIT = "unit", "管理单元", "Unit"
    CHANNEL = "channel", "发现渠道", "Channel"
    SUBCLASS = "subclass", "小类", "Subclass"
    MONTH = "month", "月", "Month"
    DAY = "day", "日", "Day"
    DEPARTMENT = "department", "责任部门（队伍）", "Responsible department or team"
    REPORTER_TEAM = "reporter_team", "上报队伍", "Team of the reporter"

    @property
    def by_time(self) -> bool:
        return self in (GroupBy.MONTH, GroupBy.DAY)


#: The longest period that may be broken down by day.
MAX_DAYS = 366


def parse_group_by(text: str | None, period: Period) -> GroupBy | None:
    if text is None or not text.strip():
        return None
    try:
        group_by = GroupBy(text.strip())
    except ValueError:
        raise _query_problem(
            "group_by", "分组无效", "one of " + ", ".join(g.value for g in GroupBy)
        ) from None
    if group_by is GroupBy.DAY and period.end - period.start > timedelta(days=MAX_DAYS):
        raise _query_problem(
            "group_by",
            f"按日分组的期间不能超过{MAX_DAYS}天",
            f"a breakdown by day covers at most {MAX_DAYS} days: use month",
        )
    return group_by


def bucket_of(at: datetime, group_by: GroupBy) -> str:
    """The month (``2020-06``) or day (``2020-06-24``) of ``at`` in China time."""
    local = as_china_time(at)
    return local.strftime("%Y-%m" if group_by is GroupBy.MONTH else "%Y-%m-%d")


def buckets(period: Period, group_by: GroupBy) -> list[tuple[str, Period]]:
    """The months or days (China time) that ``period`` touches, each cut to the period."""
    found: list[tuple[str, Period]] = []
    day = as_china_time(period.start).date()
    if group_by is GroupBy.MONTH:
        day = _month_start(day)
    while _midnight(day) < period.end:
        following = _next_month(day) if group_by is GroupBy.MONTH else day + timedelta(days=1)
        start = max(period.start, _midnight(day))
        end = min(period.end, _midnight(following))
        found.append((bucket_of(_midnight(day), group_by), Period(start, end)))
        day = following
    return found


def group_key(f: CaseFacts, group_by: GroupBy) -> str | None:
    """The group of a case for a breakdown that is not by time."""
    match group_by:
        case GroupBy.GRID:
            return f.grid_code
        case GroupBy.UNIT:
            return f.unit_code
        case GroupBy.CHANNEL:
            return f.channel.value
        case GroupBy.SUBCLASS:
            return f.subclass
        case GroupBy.DEPARTMENT:
            return f.responsible
        case GroupBy.REPORTER_TEAM:
            return f.reporter_team
        case _:
            raise ValueError(f"{group_by.value} is a breakdown by time: use buckets()")


def group_label(group_by: GroupBy, key: str | None, names: Mapping[str, str]) -> str:
    """A group's label: the name from ``names`` (grids, units, subclasses), the enum's
    labels (channels, departments and teams), the key itself for months and days."""
    if key is None:
        return "未指定 / none"
    if key in names:
        return names[key]
    enums: Sequence[type[Labelled]] = ()
    if group_by is GroupBy.CHANNEL:
        enums = (Channel,)
    elif group_by is GroupBy.DEPARTMENT:
        enums = (Department, TeamType)
    elif group_by is GroupBy.REPORTER_TEAM:
        enums = (TeamType,)
    for enum in enums:
        try:
            return enum(key).label
        except ValueError:
            continue
    return key


def arrange_groups(
    group_by: GroupBy, period: Period, found: Mapping[str | None, Figures]
) -> list[tuple[str | None, Figures]]:
    """The groups of a breakdown in order: every month or day of the period (empty ones
    too); otherwise the groups with anything counted, by key (none last)."""
    if group_by.by_time:
        return [
            (key, dict(found.get(key) or empty_figures())) for key, _ in buckets(period, group_by)
        ]
    kept = [(key, figures) for key, figures in found.items() if not is_empty(figures)]
    return sorted(kept, key=lambda item: (item[0] is None, item[0] or ""))


def measures_by_group(
    facts: Iterable[CaseFacts], period: Period, group_by: GroupBy
) -> list[tuple[str | None, Figures]]:
    """``all_measures`` for each group: by time, each month or day is its own period (so a
    case counts as closed in a month if it was closed by that month's end)."""
    rows = list(facts)
    if group_by.by_time:
        found: dict[str | None, Figures] = {
            key: all_measures(rows, part.start, part.end) for key, part in buckets(period, group_by)
        }
        return arrange_groups(group_by, period, found)
    partition: dict[str | None, list[CaseFacts]] = {}
    for f in rows:
        partition.setdefault(group_key(f, group_by), []).append(f)
    return arrange_groups(
        group_by,
        period,
        {key: all_measures(group, period.start, period.end) for key, group in partition.items()},
    )
