"""The address gazetteer (地名地址库): address text → a position, and how sure we are.

Entries are roads with house-number ranges (门牌号段: one side of a road, odd or even
numbers, between two points), landmarks (地标), residential compounds (小区) and shops
(商铺), each with aliases. Text is normalised first (full-width characters, spaces,
the city/district/sub-district prefix, Chinese numerals before 号/弄), then the most
specific match wins: a named place, else a road and its number, else the road alone.
Pure: no I/O; the entries are handed in.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chengyun.domain.errors import Problem
from chengyun.domain.labels import Labelled

MAX_NAME = 100
MAX_NUMBER = 99_999


class EntryKind(Labelled):
    """What a gazetteer entry names."""

    ROAD = "road", "道路门牌", "Road number range"
    LANDMARK = "landmark", "地标", "Landmark"
    COMPOUND = "compound", "小区", "Residential compound"
    SHOP = "shop", "商铺", "Shop"


class Parity(Labelled):
    """Which house numbers of a road a range holds (单双号)."""

    ALL = "all", "单双号", "All numbers"
    ODD = "odd", "单号", "Odd numbers"
    EVEN = "even", "双号", "Even numbers"


@dataclass(frozen=True)
class GazetteerEntry:
    """One entry. A road range runs from ``position`` (number ``first``) to ``end``
    (number ``last``); the other kinds are a point at ``position``."""

    kind: EntryKind
    name: str
    position: tuple[float, float]
    aliases: tuple[str, ...] = ()
    end: tuple[float, float] | None = None
    first: int = 0
    last: int = 0
    parity: Parity = Parity.ALL
    note: str = ""
    id: int | None = None

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (normalise(self.name), *map(normalise, self.aliases)) if n)


@dataclass(frozen=True)
class Match:
    """Where an address is: a WGS-84 position, a confidence in [0, 1], the entry used and
    how it was matched."""

    lng: float
    lat: float
    confidence: float
    entry_id: int | None
    entry_name: str
    kind: EntryKind
    how: str
    number: int | None = field(default=None)


# --- normalising ----------------------------------------------------------------------------

_PREFIXES = re.compile(r"^(中国)?(上海市?)?(青浦区)?(盈浦街道(办事处)?)?")
_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}
_DIGITS["〇"] = 0
_DIGITS["两"] = 2
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=[号弄支栋幢楼室])")
_DROP = re.compile(r"[\s,，、。．.;；:：()（）\[\]【】\"'“”‘’#＃\-—_/]+")


def _chinese_number(text: str) -> int:
    """``一百二十三`` → 123, ``十五`` → 15, ``一二三`` (digit by digit) → 123."""
    if not any(c in "十百千" for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))
    total, current = 0, 0
    for char in text:
        if char in _DIGITS:
            current = _DIGITS[char]
        else:
            unit = {"十": 10, "百": 100, "千": 1000}[char]
            total += (current or 1) * unit
            current = 0
    return total + current


def normalise(text: str) -> str:
    """Address text as matched: NFKC (full-width digits and letters become ASCII),
    spaces and punctuation dropped, the Shanghai/Qingpu/Yingpu prefix dropped, Chinese
    numerals before 号/弄/栋 written in digits, 號 as 号."""
    folded = unicodedata.normalize("NFKC", text or "").replace("號", "号").replace("衖", "弄")
    folded = _DROP.sub("", folded).lower()
    folded = _PREFIXES.sub("", folded, count=1)
    return _CN_NUMBER.sub(lambda m: str(_chinese_number(m.group(0))), folded)


_HOUSE = re.compile(r"^(\d{1,5})(?:号|弄|支弄|$|[^\d])")


def house_number(rest: str) -> int | None:
    """The number right after a road name: ``123弄5号`` → 123 (a lane's number is its
    place on the road), ``45号`` → 45."""
    found = _HOUSE.match(rest)
    return int(found.group(1)) if found else None


# --- geometry --------------------------------------------------------------------------------


def _interpolate(entry: GazetteerEntry, number: int) -> tuple[float, float]:
    end = entry.end or entry.position
    span = entry.last - entry.first
    t = 0.5 if span == 0 else min(max((number - entry.first) / span, 0.0), 1.0)
    return (
        entry.position[0] + (end[0] - entry.position[0]) * t,
        entry.position[1] + (end[1] - entry.position[1]) * t,
    )


def _holds(entry: GazetteerEntry, number: int) -> bool:
    low, high = sorted((entry.first, entry.last))
    if not low <= number <= high:
        return False
    if entry.parity is Parity.ODD:
        return number % 2 == 1
    if entry.parity is Parity.EVEN:
        return number % 2 == 0
    return True


def _midpoint(entries: Sequence[GazetteerEntry]) -> tuple[float, float]:
    points = [p for e in entries for p in (e.position, e.end or e.position)]
    return (
        sum(p[0] for p in points) / len(points),
        sum(p[1] for p in points) / len(points),
    )


# --- matching --------------------------------------------------------------------------------


def match(text: str, entries: Iterable[GazetteerEntry]) -> Match | None:
    """The best position for ``text``, or ``None`` when nothing in the gazetteer is named.

    Confidence: 1.0 the whole text is a place's name; 0.9 a named place within the text,
    or a road number inside a range of its side; 0.5 a road number outside every range
    (nearest range end); 0.4 a road named without a number (the road's middle)."""
    wanted = normalise(text)
    if not wanted:
        return None
    points: list[tuple[int, GazetteerEntry, str]] = []
    roads: dict[str, list[GazetteerEntry]] = {}
    for entry in entries:
        for name in entry.names():
            if entry.kind is EntryKind.ROAD:
                roads.setdefault(name, []).append(entry)
            elif name in wanted:
                points.append((len(name), entry, name))
    if points:
        _, entry, name = max(points, key=lambda p: (p[0], -(p[1].id or 0)))
        exact = name == wanted
        return Match(
            entry.position[0],
            entry.position[1],
            1.0 if exact else 0.9,
            entry.id,
            entry.name,
            entry.kind,
            "name" if exact else "name_in_text",
        )
    found = [(wanted.find(name), name) for name in roads if name in wanted]
    if not found:
        return None
    # the longest road name (城中北路 before 城中路), then the earliest in the text
    start, name = max(found, key=lambda f: (len(f[1]), -f[0]))
    ranges = roads[name]
    number = house_number(wanted[start + len(name) :])
    if number is not None and number <= MAX_NUMBER:
        holding = [e for e in ranges if _holds(e, number)]
        if holding:
            entry = min(holding, key=lambda e: (abs(e.last - e.first), e.id or 0))
            lng, lat = _interpolate(entry, number)
            return Match(lng, lat, 0.9, entry.id, entry.name, entry.kind, "road_number", number)

        def distance(e: GazetteerEntry) -> int:
            return min(abs(number - e.first), abs(number - e.last))

        entry = min(ranges, key=lambda e: (distance(e), e.id or 0))
        lng, lat = _interpolate(entry, number)
        return Match(lng, lat, 0.5, entry.id, entry.name, entry.kind, "road_nearest", number)
    lng, lat = _midpoint(ranges)
    first = min(ranges, key=lambda e: e.id or 0)
    return Match(lng, lat, 0.4, first.id, first.name, first.kind, "road_only")


# --- validation ------------------------------------------------------------------------------


def _position_problems(position: tuple[float, float], where: str) -> list[Problem]:
    lng, lat = position
    if not (math.isfinite(lng) and math.isfinite(lat)) or not (73 <= lng <= 136 and 3 <= lat <= 54):
        return [
            Problem(
                (where,),
                "坐标须为中国境内的 WGS-84 经纬度 / a WGS-84 lng/lat inside China",
                "position",
            )
        ]
    return []


def entry_problems(entry: GazetteerEntry) -> list[Problem]:
    """What every entry must satisfy, from the API or a spreadsheet."""
    problems: list[Problem] = []
    if not normalise(entry.name) or len(entry.name) > MAX_NAME:
        problems.append(
            Problem(("name",), f"名称须为1-{MAX_NAME}个字符 / 1-{MAX_NAME} characters", "format")
        )
    if any(not normalise(a) or len(a) > MAX_NAME for a in entry.aliases):
        problems.append(
            Problem(("aliases",), "别名不能为空或过长 / aliases must be 1-100 characters", "format")
        )
    problems += _position_problems(entry.position, "position")
    if entry.kind is EntryKind.ROAD:
        if entry.end is None:
            problems.append(
                Problem(
                    ("end",),
                    "道路门牌段须给出终点坐标 / a road range needs its end position",
                    "missing",
                )
            )
        else:
            problems += _position_problems(entry.end, "end")
        for name, value in (("first", entry.first), ("last", entry.last)):
            if not 1 <= value <= MAX_NUMBER:
                problems.append(
                    Problem(
                        (name,),
                        f"门牌号须在1到{MAX_NUMBER}之间 / a house number from 1 to {MAX_NUMBER}",
                        "range",
                    )
                )
        for name, value in (("first", entry.first), ("last", entry.last)):
            if entry.parity is Parity.ODD and value % 2 == 0:
                problems.append(
                    Problem((name,), "单号段的起止号须为单号 / odd range: odd numbers", "parity")
                )
            if entry.parity is Parity.EVEN and value % 2 == 1:
                problems.append(
                    Problem((name,), "双号段的起止号须为双号 / even range: even numbers", "parity")
                )
    return problems
