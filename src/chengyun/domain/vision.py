"""Video algorithms (视频智能发现): cameras, scene mappings, joining repeated alerts and the
precision of each algorithm — pure rules, no I/O, time passed in.

A video algorithm (算法) watches a camera (摄像头/视频点位) and posts an alert (告警) when it
recognises a scene (场景), such as street vending; the scene mapping (场景映射) turns the
algorithm's scene code into a subclass of the case taxonomy. Repeated alerts of the same
camera and scene within a window join the open case instead of opening new ones; "scene
cleared" (场景消除) proposes closing it; operators judge a case a false alarm (误报) or
confirm it, and precision (准确率) = confirmed / (confirmed + false alarms).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chengyun.domain.cases import CaseStatus
from chengyun.domain.errors import Problem
from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import SUBCLASS_CODE

#: A camera's id as its owner numbers it (e.g. a 20-digit GB/T 28181 code).
CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
#: An algorithm's scene code; stored in lower case.
SCENE_CODE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,39}$")
#: The algorithm (source system) that sent an alert, e.g. ``hik-ai``.
SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")
#: The sub-district's longitude / latitude box is checked by the locator; this is only
#: the sanity range of a WGS-84 position.
LNG_RANGE = (-180.0, 180.0)
LAT_RANGE = (-90.0, 90.0)


class AlertEvent(Labelled):
    """What an algorithm reports about a scene."""

    ALERT = "alert", "告警", "Alert"
    CLEARED = "cleared", "场景消除", "Scene cleared"


class AlertOutcome(Labelled):
    """What the platform did with an alert."""

    OPENED = "opened", "新建案件", "Opened a case", "#1565c0"
    JOINED = "joined", "并入在办案件", "Joined the open case", "#00838f"
    MERGED = "merged", "作为重复上报合并", "Merged into an earlier open case", "#8d6e63"
    BELOW_THRESHOLD = (
        "below_threshold",
        "置信度低于门槛",
        "Below the scene's confidence threshold",
        "#9e9e9e",
    )
    SCENE_OFF = "scene_off", "场景已停用", "Scene switched off", "#9e9e9e"
    CLOSURE_PROPOSED = "closure_proposed", "建议结案", "Closure proposed", "#2e7d32"
    NO_OPEN_CASE = "no_open_case", "无在办案件", "No open case for this scene", "#9e9e9e"


class Verdict(Labelled):
    """A person's judgement of an algorithm-found case (研判)."""

    CONFIRMED = "confirmed", "确认属实", "Confirmed", "#2e7d32"
    FALSE_ALARM = "false_alarm", "误报", "False alarm", "#c62828"


@dataclass(frozen=True)
class Camera:
    """A camera (摄像头) of the registry: where it is and which grid and unit it watches.

    Positions are WGS-84; ``grid_code`` and ``unit_code`` come from locating the position.
    """

    camera_id: str
    name: str
    lng: float
    lat: float
    grid_code: str | None = None
    unit_code: str | None = None
    address: str = ""
    owner: str = ""
    active: bool = True


@dataclass(frozen=True)
class SceneMapping:
    """A scene mapping (场景映射): an algorithm's scene code → a taxonomy subclass.

    Alerts below ``min_confidence`` are recorded but open nothing; an inactive mapping
    records its alerts and opens nothing.
    """

    code: str
    subclass: str
    name_zh: str
    name_en: str
    min_confidence: float = 0.0
    active: bool = True


#: The shipped mapping, in force until the centre changes it (codes: GB/T 30428.2 and the
#: local extensions in ``data/taxonomy.json``).
DEFAULT_SCENES: tuple[SceneMapping, ...] = (
    SceneMapping("street_vending", "E0501", "占道经营", "Street vending"),
    SceneMapping("outside_shop", "E0504", "出店经营", "Trading outside the shop front"),
    SceneMapping("exposed_rubbish", "E0102", "暴露垃圾", "Exposed rubbish"),
    SceneMapping("overflowing_bin", "E0103", "垃圾满溢", "Overflowing rubbish"),
    SceneMapping("piled_materials", "E0507", "乱堆物料", "Materials piled on public space"),
    SceneMapping("car_parking", "E0505", "机动车乱停放", "Illegal car parking"),
    SceneMapping("bike_parking", "E0506", "非机动车乱停放", "Disorderly bicycle parking"),
    SceneMapping("laundry", "E0511", "乱晾晒", "Laundry hung along the street"),
    SceneMapping("roadside_ads", "E0203", "占道广告牌", "Advertising board on the pavement"),
    SceneMapping("open_barbecue", "E0510", "露天烧烤", "Open-air barbecue"),
    SceneMapping("burning", "E0115", "焚烧垃圾", "Burning rubbish or leaves"),
    SceneMapping("road_flooding", "E0406", "道路积水", "Flooded road"),
    SceneMapping("fire_lane_blocked", "E0601", "消防通道占用", "Blocked fire lane"),
    SceneMapping("abandoned_vehicle", "E0107", "废弃车辆", "Abandoned vehicle"),
    SceneMapping("flyposting", "E0201", "非法小广告", "Illegal flyposting"),
    SceneMapping("fight", "E0707", "打架斗殴", "Fight in public"),
)


@dataclass(frozen=True)
class Alert:
    """An alert (告警) as received, and what became of it: the case it opened or joined
    (``case_id``; for an alert merged as a duplicate, the earlier case) and the case
    record it opened itself (``opened_case_id``)."""

    id: int | None
    source: str
    alert_id: str
    request_hash: str
    event: AlertEvent
    camera_id: str
    scene: str
    subclass: str
    occurred_at: datetime
    received_at: datetime
    confidence: float
    outcome: AlertOutcome
    bbox: tuple[float, float, float, float] | None = None
    photo_id: str | None = None
    case_id: int | None = None
    opened_case_id: int | None = None


@dataclass(frozen=True)
class CaseVerdict:
    """A person's verdict on an algorithm-found case."""

    case_id: int
    verdict: Verdict
    actor: str
    at: datetime
    note: str = ""


def normal_scene(code: str) -> str:
    """Scene codes compare case-insensitively: stored in lower case."""
    return code.strip().lower()


def _text_problem(
    problems: list[Problem], name: str, value: str, limit: int, required: bool = True
) -> None:
    if required and not value.strip():
        problems.append(Problem((name,), f"须填写 / {name} is required", "missing"))
    elif len(value) > limit:
        problems.append(
            Problem((name,), f"最多 {limit} 个字符 / at most {limit} characters", "too_long")
        )


def camera_problems(camera: Camera) -> list[Problem]:
    """Everything wrong with a camera that needs no territory (the locator checks where
    the position falls)."""
    problems: list[Problem] = []
    if not CAMERA_ID.match(camera.camera_id):
        problems.append(
            Problem(
                ("camera_id",),
                "摄像头编号须为1–64位字母、数字或 _.:- / a camera id is 1–64 letters, digits "
                f"or _.:- (starting with a letter or digit), got {camera.camera_id!r}",
                "format",
            )
        )
    _text_problem(problems, "name", camera.name, 100)
    _text_problem(problems, "address", camera.address, 200, required=False)
    _text_problem(problems, "owner", camera.owner, 100, required=False)
    for name, value, (low, high) in (
        ("lng", camera.lng, LNG_RANGE),
        ("lat", camera.lat, LAT_RANGE),
    ):
        if not math.isfinite(value) or not low <= value <= high:
            problems.append(
                Problem(
                    (name,),
                    f"须为 {low:g}..{high:g} 之间的数字 / must be a number in "
                    f"{low:g}..{high:g}, got {value}",
                    "range",
                )
            )
    return problems


def scene_problems(mapping: SceneMapping, known_subclass: Callable[[str], bool]) -> list[Problem]:
    """Everything wrong with a scene mapping; ``known_subclass`` asks the taxonomy in force."""
    problems: list[Problem] = []
    if not SCENE_CODE.match(mapping.code):
        problems.append(
            Problem(
                ("code",),
                "场景代码须为1–40位小写字母、数字或 _.:- / a scene code is 1–40 lower-case "
                f"letters, digits or _.:-, got {mapping.code!r}",
                "format",
            )
        )
    if not SUBCLASS_CODE.match(mapping.subclass):
        problems.append(
            Problem(
                ("subclass",),
                f"小类代码如 E0501 / a subclass code such as E0501, got {mapping.subclass!r}",
                "format",
            )
        )
    elif not known_subclass(mapping.subclass):
        problems.append(
            Problem(
                ("subclass",),
                f"{mapping.subclass} 不在分类中，见 GET /api/v1/taxonomy / {mapping.subclass} is "
                "not in the taxonomy: see GET /api/v1/taxonomy",
                "unknown",
            )
        )
    _text_problem(problems, "name_zh", mapping.name_zh, 60)
    _text_problem(problems, "name_en", mapping.name_en, 100, required=False)
    if not math.isfinite(mapping.min_confidence) or not 0 <= mapping.min_confidence <= 1:
        problems.append(
            Problem(
                ("min_confidence",),
                f"须在 0..1 之间 / must be in 0..1, got {mapping.min_confidence}",
                "range",
            )
        )
    return problems


# --- joining repeated alerts ------------------------------------------------------------------


@dataclass(frozen=True)
class OpenEpisode:
    """The case the latest alert of a camera and scene belongs to, and when that alert was."""

    case_id: int
    last_alert_at: datetime
    case_open: bool


def case_to_join(episode: OpenEpisode | None, at: datetime, window: timedelta) -> int | None:
    """The case an alert at ``at`` joins, or ``None`` for a new case.

    It joins when the same camera and scene alerted within ``window`` of it (before or
    after: alerts may arrive out of order) and that case is still open; the window rolls
    with every alert, so a scene that persists for hours stays one case.
    """
    if episode is None or not episode.case_open:
        return None
    return episode.case_id if abs(at - episode.last_alert_at) <= window else None


def admission(mapping: SceneMapping, confidence: float) -> AlertOutcome | None:
    """Why an alert opens nothing (the scene is off, or it is too unsure), or ``None``."""
    if not mapping.active:
        return AlertOutcome.SCENE_OFF
    if confidence < mapping.min_confidence:
        return AlertOutcome.BELOW_THRESHOLD
    return None


# --- precision --------------------------------------------------------------------------------

#: A case that reached these statuses was real: someone handled it.
CONFIRMING_STATUSES = frozenset({CaseStatus.HANDLED, CaseStatus.CHECKED, CaseStatus.CLOSED})


def outcome_of(status: CaseStatus | None, verdict: Verdict | None) -> Verdict | None:
    """Whether an algorithm-found case counts as confirmed, a false alarm, or neither yet.

    A person's verdict decides; without one, a case that was handled was real.
    """
    if verdict is not None:
        return verdict
    if status in CONFIRMING_STATUSES:
        return Verdict.CONFIRMED
    return None


def precision(confirmed: int, false_alarms: int) -> float | None:
    """准确率 = confirmed / (confirmed + false alarms); ``None`` before anything is judged."""
    judged = confirmed + false_alarms
    return round(confirmed / judged, 4) if judged else None


@dataclass(frozen=True)
class AlertFact:
    """Alerts of one algorithm and scene that went to one case (or to none)."""

    source: str
    scene: str
    case_id: int | None
    alerts: int
    status: CaseStatus | None = None
    verdict: Verdict | None = None


@dataclass(frozen=True)
class PrecisionRow:
    """One algorithm (and scene, or all its scenes when ``scene`` is ``None``)."""

    source: str
    scene: str | None
    alerts: int
    cases: int
    confirmed: int
    false_alarms: int
    pending: int

    @property
    def precision(self) -> float | None:
        return precision(self.confirmed, self.false_alarms)


def _tally(source: str, scene: str | None, facts: list[AlertFact]) -> PrecisionRow:
    outcomes: dict[int, Verdict | None] = {}
    for fact in facts:
        if fact.case_id is not None:
            outcomes[fact.case_id] = outcome_of(fact.status, fact.verdict)
    confirmed = sum(1 for v in outcomes.values() if v is Verdict.CONFIRMED)
    false_alarms = sum(1 for v in outcomes.values() if v is Verdict.FALSE_ALARM)
    return PrecisionRow(
        source=source,
        scene=scene,
        alerts=sum(f.alerts for f in facts),
        cases=len(outcomes),
        confirmed=confirmed,
        false_alarms=false_alarms,
        pending=len(outcomes) - confirmed - false_alarms,
    )


def precision_table(facts: Iterable[AlertFact]) -> tuple[list[PrecisionRow], list[PrecisionRow]]:
    """Per algorithm and scene, and per algorithm over all its scenes; a case counts once
    in each row however many alerts it gathered."""
    by_scene: dict[tuple[str, str], list[AlertFact]] = {}
    by_source: dict[str, list[AlertFact]] = {}
    for fact in facts:
        by_scene.setdefault((fact.source, fact.scene), []).append(fact)
        by_source.setdefault(fact.source, []).append(fact)
    scenes = [_tally(s, c, by_scene[(s, c)]) for s, c in sorted(by_scene)]
    sources = [_tally(s, None, by_source[s]) for s in sorted(by_source)]
    return scenes, sources
