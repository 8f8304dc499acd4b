"""The simulation's parameters (仿真参数), with shipped defaults, and their config file.

Every number the model uses is here, grouped as the config file groups them
(``[incidents]``, ``[patrol]``, ``[cameras]``, ``[citizens]``, ``[handling]``). A TOML
or JSON file overrides any of them; unknown keys and wrong types are refused naming
the key. ``docs/simulation.md`` is the reference.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.forces import Shift, TeamType

#: A Monday (a working day) in a year the working calendar knows; any date after the grids went live works.
DEFAULT_START = date(2025, 6, 9)

#: Incidents by hour of day (0–23): quiet at night, a morning and a late-afternoon peak.
DEFAULT_HOUR_WEIGHTS: tuple[float, ...] = (
    0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.6, 3.4, 3.6, 3.4, 3.0,
    2.6, 2.8, 3.0, 3.2, 3.4, 3.2, 2.8, 2.4, 2.0, 1.6, 1.2, 0.8,
)  # fmt: skip

#: The everyday mix of a Shanghai suburban sub-district (relative weights by subclass);
#: the rest of the taxonomy is not generated unless a config file names it.
DEFAULT_SUBCLASS_WEIGHTS: Mapping[str, float] = {
    "E0102": 14.0,  # exposed rubbish
    "E0103": 4.0,
    "E0104": 4.0,
    "E0106": 3.0,
    "E0108": 3.0,
    "E0110": 2.0,
    "E0112": 1.0,
    "E0201": 4.0,
    "E0202": 3.0,
    "E0203": 2.0,
    "E0301": 1.0,
    "E0303": 1.0,
    "E0401": 0.3,  # road collapse (urgent)
    "E0402": 0.3,  # burst water main (urgent)
    "E0403": 0.2,  # gas leak (urgent)
    "E0404": 1.5,
    "E0501": 5.0,
    "E0503": 2.0,
    "E0504": 10.0,  # trading outside the shop front
    "E0505": 6.0,
    "E0506": 9.0,  # disorderly bicycle parking
    "E0507": 5.0,
    "E0510": 1.0,
    "E0601": 2.0,
    "E0602": 1.0,  # unsafe e-bike charging (urgent)
    "E0603": 0.5,  # falling-object hazard (urgent)
    "E0701": 1.0,  # non-police 110 call (urgent)
    "E0703": 2.0,
    "E0704": 0.3,  # suspicious person or object (urgent)
    "E0707": 0.2,  # fight in public (urgent)
    "E0801": 3.0,
    "C0101": 0.5,  # water manhole cover (urgent)
    "C0102": 0.5,
    "C0103": 0.4,
    "C0118": 2.0,  # street light
    "C0212": 1.0,
    "C0305": 3.0,  # litter bin
    "C0402": 1.5,
    "C0407": 0.5,
    "C0604": 0.2,
}

#: How long one person takes to walk their whole beat once, in minutes, by team and
#: shift: a person covering four units passes any one spot every 4× this on average.
DEFAULT_PATROL_INTERVALS: Mapping[str, Mapping[str, float]] = {
    Shift.DAY.value: {
        TeamType.GRID_SUPERVISOR.value: 90.0,
        TeamType.NON_MOTOR.value: 120.0,
        TeamType.THIRD_PARTY.value: 120.0,
        TeamType.MAINTENANCE.value: 240.0,
        TeamType.SOCIAL_SECURITY.value: 120.0,
        TeamType.PUBLIC_ORDER.value: 180.0,
        TeamType.POPULATION.value: 360.0,
        TeamType.PROPERTY.value: 120.0,
    },
    Shift.NIGHT.value: {
        TeamType.SOCIAL_SECURITY.value: 120.0,
        TeamType.THIRD_PARTY.value: 180.0,
        TeamType.PROPERTY.value: 240.0,
    },
}

#: Subclasses a video algorithm recognises (智能识别), with its recall.
DEFAULT_CAMERA_RECALL: Mapping[str, float] = {
    "E0102": 0.7,
    "E0103": 0.6,
    "E0112": 0.5,
    "E0202": 0.5,
    "E0203": 0.6,
    "E0401": 0.6,
    "E0501": 0.7,
    "E0503": 0.6,
    "E0504": 0.8,
    "E0505": 0.8,
    "E0506": 0.8,
    "E0507": 0.7,
    "E0510": 0.6,
    "E0601": 0.6,
    "E0707": 0.5,
}

#: Mean handling minutes of the quick, frequent jobs (others: by urgency).
DEFAULT_HANDLING_MINUTES: Mapping[str, float] = {
    "E0102": 15.0,
    "E0201": 10.0,
    "E0202": 10.0,
    "E0203": 10.0,
    "E0505": 10.0,
    "E0506": 10.0,
    "E0507": 15.0,
    "C0305": 15.0,
}


@dataclass(frozen=True)
class IncidentConfig:
    """How problems arise (案件发生): ``per_day`` on average, spread over the hours by
    ``hour_weights``, over subclasses by ``subclass_weights`` and over units by
    ``unit_weights`` (a unit code, or ``key``/``community``/``rural`` for every unit of
    that kind; multipliers, 1 by default). ``street_share`` of them lie on the street
    frontage where a unit has one; ``hazard_share`` of component problems are hazards."""

    per_day: float = 700.0
    hour_weights: tuple[float, ...] = DEFAULT_HOUR_WEIGHTS
    subclass_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_SUBCLASS_WEIGHTS)
    )
    unit_weights: Mapping[str, float] = field(
        default_factory=lambda: {"key": 1.5, "community": 1.0, "rural": 0.6}
    )
    street_share: float = 0.55
    hazard_share: float = 0.1


@dataclass(frozen=True)
class PatrolConfig:
    """Patrol rounds (巡查): ``interval_minutes[shift][team]`` is the time one person
    takes to walk their beat; each pass finds a problem with ``detect_probability``;
    ``unit_factor[unit code]`` multiplies how often a unit is walked (2: twice as often).
    ``self_handle_probability`` of the general event problems a patrol finds are solved
    on the spot (发现即处置)."""

    interval_minutes: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PATROL_INTERVALS.items()}
    )
    detect_probability: float = 0.7
    self_handle_probability: float = 0.4
    unit_factor: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraConfig:
    """Cameras and algorithms (智能发现): the share of street and community positions a
    camera sees (``unit_coverage`` overrides per unit code), the algorithm's recall per
    subclass (``default_recall`` for the others) and the delay of an alert."""

    street_coverage: float = 0.6
    community_coverage: float = 0.25
    unit_coverage: Mapping[str, float] = field(default_factory=dict)
    recall: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CAMERA_RECALL))
    default_recall: float = 0.0
    delay_minutes: float = 2.0


@dataclass(frozen=True)
class CitizenConfig:
    """Citizens (市民): the chance and mean delay of a QR-code report (扫码上报), of a
    12345 hotline call, and of a 110 call diverted as non-police (非警务警情) for the
    ``police_subclasses``."""

    qr_probability: float = 0.12
    qr_delay_minutes: float = 60.0
    hotline_probability: float = 0.35
    hotline_delay_minutes: float = 240.0
    police_probability: float = 0.5
    police_delay_minutes: float = 10.0
    police_subclasses: tuple[str, ...] = ("E0701", "E0703", "E0704", "E0707")


@dataclass(frozen=True)
class HandlingConfig:
    """Handling (处置): travel at ``speed_kmh`` (``urgent_speed_kmh`` to an urgent case)
    times a ``detour`` factor from where the handler is; mean minutes per subclass (``minutes``; ``urgent_minutes`` and
    ``general_minutes`` otherwise) with a lognormal spread ``spread`` (coefficient of
    variation); mean delays of accepting, of an operator registering a citizen report,
    of the check and of closing; return and rework rates; how often the queue of cases
    nobody could take is tried again."""

    speed_kmh: float = 12.0
    urgent_speed_kmh: float = 25.0
    detour: float = 1.3
    minutes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_HANDLING_MINUTES))
    urgent_minutes: float = 30.0
    general_minutes: float = 20.0
    spread: float = 0.5
    accept_minutes: float = 3.0
    register_minutes: float = 10.0
    check_minutes: float = 90.0
    close_minutes: float = 5.0
    return_rate: float = 0.03
    rework_rate: float = 0.05
    queue_retry_minutes: float = 30.0
    sweep_minutes: float = 1.0


@dataclass(frozen=True)
class SimulationConfig:
    """Everything one run needs besides the roster and the territory."""

    start: date = DEFAULT_START
    days: int = 30
    seed: int = 1
    incidents: IncidentConfig = field(default_factory=IncidentConfig)
    patrol: PatrolConfig = field(default_factory=PatrolConfig)
    cameras: CameraConfig = field(default_factory=CameraConfig)
    citizens: CitizenConfig = field(default_factory=CitizenConfig)
    handling: HandlingConfig = field(default_factory=HandlingConfig)


# --- loading ---------------------------------------------------------------------------------


def _bad(path: tuple[str, ...], zh: str, en: str) -> InvalidInput:
    where = ".".join(path) or "config"
    return InvalidInput(
        f"仿真配置有误：{where} / the simulation config is wrong at {where}",
        [Problem(path or ("config",), f"{zh} / {en}")],
    )


def _number(value: Any, path: tuple[str, ...]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, "须为数字", f"a number, got {value!r}")
    number = float(value)
    if number != number or number < 0 or number in (float("inf"),):
        raise _bad(path, "须为非负有限数", f"a finite number ≥ 0, got {value!r}")
    if path[-1].endswith(("probability", "share", "coverage", "recall", "rate")) and number > 1:
        raise _bad(path, "须在0到1之间", f"a share between 0 and 1, got {value!r}")
    return number


def _merge(current: Any, value: Any, path: tuple[str, ...]) -> Any:
    """``value`` from a config file laid over ``current``, checked by the current type."""
    if dataclasses.is_dataclass(current) and not isinstance(current, type):
        if not isinstance(value, Mapping):
            raise _bad(path, "须为表", f"a table of settings, got {value!r}")
        names = {f.name for f in dataclasses.fields(current)}
        changes: dict[str, Any] = {}
        for key, item in value.items():
            if key not in names:
                raise _bad(
                    (*path, str(key)),
                    "未知的设置",
                    f"unknown setting; known here: {', '.join(sorted(names))}",
                )
            changes[key] = _merge(getattr(current, key), item, (*path, str(key)))
        return dataclasses.replace(current, **changes)
    if isinstance(current, date):
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise _bad(path, "须为日期", f"a date like 2025-06-02, got {value!r}") from None
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise _bad(path, "须为 true/false", f"true or false, got {value!r}")
        return value
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(path, "须为非负整数", f"a whole number ≥ 0, got {value!r}")
        return value
    if isinstance(current, float):
        return _number(value, path)
    if isinstance(current, tuple):
        if not isinstance(value, list | tuple):
            raise _bad(path, "须为列表", f"a list, got {value!r}")
        if current and isinstance(current[0], str):
            return tuple(str(v) for v in value)
        items = tuple(_number(v, (*path, str(i))) for i, v in enumerate(value))
        if path[-1] == "hour_weights" and (len(items) != 24 or not sum(items) > 0):
            raise _bad(path, "须为24个权重且不全为0", "24 weights, one per hour, not all 0")
        return items
    if isinstance(current, Mapping):
        if not isinstance(value, Mapping):
            raise _bad(path, "须为表", f"a table, got {value!r}")
        merged: dict[str, Any] = dict(current)
        for key, item in value.items():
            inner = current.get(key)
            if isinstance(inner, Mapping) or isinstance(item, Mapping):
                merged[str(key)] = _merge(inner or {}, item, (*path, str(key)))
            else:
                merged[str(key)] = _number(item, (*path, str(key)))
        return merged
    raise _bad(path, "无法设置", "this setting cannot be set from a file")  # pragma: no cover


def config_from_mapping(
    data: Mapping[str, Any], base: SimulationConfig | None = None
) -> SimulationConfig:
    """A config from parsed TOML or JSON, over ``base`` (the defaults)."""
    merged: SimulationConfig = _merge(base or SimulationConfig(), data, ())
    return merged


def load_config(path: Path, base: SimulationConfig | None = None) -> SimulationConfig:
    """Read a ``.toml`` or ``.json`` config file."""
    text = path.read_bytes()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"无法读取仿真配置 {path.name} / cannot read the config file {path.name}",
            [Problem(("file",), f"{type(exc).__name__}: {exc}", "format")],
        ) from exc
    if not isinstance(data, Mapping):
        raise _bad((), "须为表", "the file must hold a table of settings")
    return config_from_mapping(data, base)


def patrol_interval(config: PatrolConfig, shift: Shift, team: TeamType) -> float | None:
    """Minutes for one person of ``team`` to walk their beat on ``shift``; ``None`` when
    that team does not patrol then."""
    value = config.interval_minutes.get(shift.value, {}).get(team.value)
    return value if value else None
