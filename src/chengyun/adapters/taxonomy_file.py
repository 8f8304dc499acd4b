"""The case taxonomy (案件分类) as JSON: the packaged national taxonomy and its rules.

The shipped file ``chengyun/data/taxonomy.json`` holds the components and events of
GB/T 30428.2 / CJ/T 214 plus the local extensions, each subclass with its rule
(立案条件, 结案条件, urgency, responsible party, a time limit per stage). The
format is ``{"source": …, "version": …, "subclasses": [ {…}, … ]}``.

``taxonomy_from_json`` checks every entry with the domain rules
(``subclass_problems``), plus enum values, types, unknown fields and duplicate
codes, and reports every problem at once, located as
``("subclasses", index, field)``; it returns nothing unless the whole file is
sound. ``subclass_from_mapping`` and ``subclass_to_mapping`` do the same for one
subclass, for the HTTP API.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from importlib import resources
from typing import Any, TypeVar

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.forces import Department, TeamType
from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import (
    CaseKind,
    Responsible,
    Sector,
    Stage,
    Subclass,
    Taxonomy,
    TimeLimit,
    TimeUnit,
    Urgency,
    subclass_problems,
)

DATA_PACKAGE = "chengyun.data"
DATA_FILE = "taxonomy.json"

Location = tuple[str | int, ...]
E = TypeVar("E", bound=Labelled)

#: Text fields of a subclass, in the order they are written.
TEXT_FIELDS = (
    "code",
    "class_code",
    "class_name_zh",
    "class_name_en",
    "name_zh",
    "name_en",
    "filing",
    "closure",
)
#: Every field of a subclass, in the order they are written.
FIELDS = (
    "code",
    "kind",
    "class_code",
    "class_name_zh",
    "class_name_en",
    "name_zh",
    "name_en",
    "sector",
    "filing",
    "closure",
    "urgency",
    "responsible",
    "limits",
)


@functools.cache
def load_default_taxonomy() -> Taxonomy:
    """The taxonomy shipped with the package (read once, then cached)."""
    return taxonomy_from_json(default_taxonomy_json())


def default_taxonomy_json() -> dict[str, Any]:
    """The packaged taxonomy file as parsed JSON, ``source`` and ``version`` included."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def taxonomy_from_json(data: Any) -> Taxonomy:
    """Parse and validate a taxonomy document; raise ``InvalidInput`` listing every problem."""
    if not isinstance(data, Mapping) or not isinstance(data.get("subclasses"), list):
        raise InvalidInput(
            "不是分类文件 / not a taxonomy document",
            [
                Problem(
                    ("subclasses",),
                    '顶层须为 {"subclasses": [...]} / the top level must be an object with a '
                    '"subclasses" list',
                    "format",
                )
            ],
        )
    problems: list[Problem] = []
    parsed: list[Subclass] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(data["subclasses"]):
        where: Location = ("subclasses", index)
        subclass, entry_problems = subclass_from_mapping(entry, where)
        problems.extend(entry_problems)
        code = entry.get("code") if isinstance(entry, Mapping) else None
        if isinstance(code, str) and code.strip():
            code = code.strip()
            earlier = first_index.get(code)
            if earlier is not None:
                problems.append(
                    Problem(
                        (*where, "code"),
                        f"代码 {code} 与第 {earlier} 项重复 / code {code} duplicates entry "
                        f"{earlier}",
                        "duplicate",
                    )
                )
                continue
            first_index[code] = index
        if subclass is not None:
            parsed.append(subclass)
    if problems:
        raise InvalidInput(
            f"分类文件有 {len(problems)} 处问题，未载入任何内容 / the taxonomy has "
            f"{len(problems)} problem(s); nothing was loaded",
            problems,
        )
    return Taxonomy(tuple(parsed))


def taxonomy_to_json(
    taxonomy: Taxonomy, *, source: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """The taxonomy as a JSON document, subclasses in the taxonomy's order.

    ``source`` and ``version`` are written when given (the domain type does not
    carry them)."""
    document: dict[str, Any] = {}
    if source is not None:
        document["source"] = source
    if version is not None:
        document["version"] = version
    document["subclasses"] = [subclass_to_mapping(s) for s in taxonomy]
    return document


def subclass_to_mapping(subclass: Subclass) -> dict[str, Any]:
    """One subclass as a JSON object: enum values, limits in stage order."""
    limits: dict[str, Any] = {}
    for stage in Stage:
        limit = subclass.limits.get(stage)
        if limit is not None:
            limits[stage.value] = {"amount": _number(limit.amount), "unit": limit.unit.value}
    return {
        "code": subclass.code,
        "kind": subclass.kind.value,
        "class_code": subclass.class_code,
        "class_name_zh": subclass.class_name_zh,
        "class_name_en": subclass.class_name_en,
        "name_zh": subclass.name_zh,
        "name_en": subclass.name_en,
        "sector": subclass.sector.value,
        "filing": subclass.filing,
        "closure": subclass.closure,
        "urgency": subclass.urgency.value,
        "responsible": subclass.responsible.value,
        "limits": limits,
    }


def subclass_from_mapping(
    mapping: Any, where: Location = ()
) -> tuple[Subclass | None, list[Problem]]:
    """Parse one subclass object; return it (or ``None``) and every problem, each
    located under ``where`` (e.g. ``("subclasses", 3, "limits", "handle", "unit")``)."""
    if not isinstance(mapping, Mapping):
        return None, [Problem(where, "须为对象 / must be an object", "format")]
    problems: list[Problem] = []
    for key in mapping:
        if key not in FIELDS:
            problems.append(
                Problem(
                    (*where, str(key)),
                    f"未知字段 {key!r} / unknown field {key!r}; fields are: {', '.join(FIELDS)}",
                    "unknown",
                )
            )
    texts: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = mapping.get(name)
        if value is None:
            problems.append(Problem((*where, name), f"缺少 {name} / {name} is missing", "missing"))
        elif not isinstance(value, str):
            problems.append(Problem((*where, name), f"{name} 须为文本 / {name} must be a string"))
        else:
            texts[name] = value.strip()
    if "class_name_en" in texts and not texts["class_name_en"]:
        problems.append(
            Problem(
                (*where, "class_name_en"),
                "class_name_en 为空 / class_name_en is empty",
                "missing",
            )
        )
    kind = _enum(CaseKind, mapping, "kind", where, problems)
    sector = _enum(Sector, mapping, "sector", where, problems)
    urgency = _enum(Urgency, mapping, "urgency", where, problems)
    responsible = _responsible(mapping, where, problems)
    limits, reported = _limits(mapping.get("limits"), where, problems)
    if (
        len(texts) != len(TEXT_FIELDS)
        or kind is None
        or sector is None
        or urgency is None
        or responsible is None
    ):
        return None, problems
    subclass = Subclass(
        code=texts["code"],
        kind=kind,
        class_code=texts["class_code"],
        class_name_zh=texts["class_name_zh"],
        class_name_en=texts["class_name_en"],
        name_zh=texts["name_zh"],
        name_en=texts["name_en"],
        sector=sector,
        filing=texts["filing"],
        closure=texts["closure"],
        urgency=urgency,
        responsible=responsible,
        limits=limits,
    )
    for problem in subclass_problems(subclass):
        # a limit whose amount or unit was already reported is not reported again as missing
        if problem.location[:2] in reported:
            continue
        problems.append(Problem((*where, *problem.location), problem.message, problem.kind))
    return (None if problems else subclass), problems


def _number(amount: float) -> float | int:
    return int(amount) if float(amount).is_integer() else amount


def _enum(
    enum: type[E], mapping: Mapping[str, Any], name: str, where: Location, problems: list[Problem]
) -> E | None:
    value = mapping.get(name)
    if value is None:
        problems.append(Problem((*where, name), f"缺少 {name} / {name} is missing", "missing"))
        return None
    if not isinstance(value, str):
        problems.append(Problem((*where, name), f"{name} 须为文本 / {name} must be a string"))
        return None
    try:
        return enum.parse(value)
    except ValueError as exc:
        problems.append(Problem((*where, name), str(exc)))
        return None


def _responsible(
    mapping: Mapping[str, Any], where: Location, problems: list[Problem]
) -> Responsible | None:
    value = mapping.get("responsible")
    location = (*where, "responsible")
    if value is None:
        problems.append(Problem(location, "缺少责任主体 / responsible is missing", "missing"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(location, "responsible 须为文本 / responsible must be a string"))
        return None
    for enum in (TeamType, Department):
        try:
            return enum.parse(value)
        except ValueError:
            continue
    choices = ", ".join(f"{m.value} ({m.zh})" for m in (*TeamType, *Department))
    problems.append(
        Problem(
            location,
            f"'{value.strip()}' 不是先行力量队伍类型或七大部门之一 / is not a first-line team type "
            f"or one of the seven departments: {choices}",
            "reference",
        )
    )
    return None


def _limits(
    value: Any, where: Location, problems: list[Problem]
) -> tuple[dict[Stage, TimeLimit], set[tuple[str | int, ...]]]:
    """The stage limits that parse, and the ``("limits", stage)`` keys already reported."""
    limits: dict[Stage, TimeLimit] = {}
    reported: set[tuple[str | int, ...]] = set()
    if value is None:
        return limits, reported  # every stage is then reported missing by subclass_problems
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                (*where, "limits"),
                'limits 须为对象，如 {"handle": {"amount": 2, "unit": "working_days"}} / limits '
                "must be an object of stage → {amount, unit}",
            )
        )
        reported.update(("limits", s.value) for s in Stage)
        return limits, reported
    for key, entry in value.items():
        try:
            stage = Stage(key)
        except ValueError:
            stages = ", ".join(s.value for s in Stage)
            problems.append(
                Problem(
                    (*where, "limits", str(key)),
                    f"未知环节 {key!r} / unknown stage {key!r}; stages are: {stages}",
                    "unknown",
                )
            )
            continue
        here: Location = (*where, "limits", stage.value)
        if not isinstance(entry, Mapping):
            problems.append(
                Problem(here, '时限须为 {"amount": 数值, "unit": 单位} / a limit is {amount, unit}')
            )
            reported.add(("limits", stage.value))
            continue
        amount = entry.get("amount")
        unit_text = entry.get("unit")
        ok = True
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            problems.append(
                Problem(
                    (*here, "amount"),
                    f"时限须为数值 / the amount must be a number, got {amount!r}",
                    "missing" if amount is None else "invalid",
                )
            )
            ok = False
        elif not math.isfinite(amount):
            problems.append(Problem((*here, "amount"), "时限须为有限数值 / amount must be finite"))
            ok = False
        unit: TimeUnit | None = None
        if not isinstance(unit_text, str):
            problems.append(
                Problem(
                    (*here, "unit"),
                    "缺少时限单位 / the unit is missing: minutes, working_hours or working_days",
                    "missing",
                )
            )
            ok = False
        else:
            try:
                unit = TimeUnit.parse(unit_text)
            except ValueError as exc:
                problems.append(Problem((*here, "unit"), str(exc)))
                ok = False
        if ok and unit is not None and isinstance(amount, int | float):
            limits[stage] = TimeLimit(float(amount), unit)
        else:
            reported.add(("limits", stage.value))
    return limits, reported
