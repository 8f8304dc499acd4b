"""Address text → position: normalising Chinese addresses, road number ranges with odd
and even sides, named places and aliases, and confidence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chengyun.demo.hotline import demo_gazetteer
from chengyun.domain.gazetteer import (
    EntryKind,
    GazetteerEntry,
    Parity,
    entry_problems,
    house_number,
    match,
    normalise,
)

ODD = GazetteerEntry(
    kind=EntryKind.ROAD,
    name="城中路",
    aliases=("城中北路",),
    position=(121.10, 31.10),
    end=(121.10, 31.11),
    first=1,
    last=99,
    parity=Parity.ODD,
    id=1,
)
EVEN = GazetteerEntry(
    kind=EntryKind.ROAD,
    name="城中路",
    position=(121.1002, 31.10),
    end=(121.1002, 31.11),
    first=2,
    last=100,
    parity=Parity.EVEN,
    id=2,
)
COMPOUND = GazetteerEntry(
    kind=EntryKind.COMPOUND, name="城中新苑", position=(121.105, 31.105), id=3
)
SHOP = GazetteerEntry(
    kind=EntryKind.SHOP,
    name="华联超市城中店",
    aliases=("城中华联",),
    position=(121.106, 31.106),
    id=4,
)
ENTRIES = [ODD, EVEN, COMPOUND, SHOP]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上海市青浦区盈浦街道城中路３５号", "城中路35号"),
        ("城中路 一百二十三 弄", "城中路123弄"),
        ("城中路十五號", "城中路15号"),
        ("（城中新苑）５栋", "城中新苑5栋"),
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_house_numbers_read_lanes_as_their_place_on_the_road() -> None:
    assert house_number("123弄5号") == 123
    assert house_number("45号") == 45
    assert house_number("7") == 7
    assert house_number("号") is None


def test_a_number_is_interpolated_on_its_side_of_the_road() -> None:
    odd = match("城中路50号", ENTRIES)
    assert odd is not None and odd.entry_id == 2  # 50 is even: the even side
    assert odd.lng == pytest.approx(121.1002)
    assert odd.lat == pytest.approx(31.10 + 0.01 * 48 / 98)
    first = match("城中路1号", ENTRIES)
    assert first is not None and first.entry_id == 1
    assert (first.lng, first.lat) == pytest.approx((121.10, 31.10))
    assert first.confidence == 0.9 and first.how == "road_number"
    lane = match("城中北路９９弄3号", ENTRIES)  # an alias, full-width digits, a lane
    assert lane is not None and lane.number == 99
    assert lane.lat == pytest.approx(31.11)


def test_numbers_outside_the_ranges_and_roads_alone_are_unsure() -> None:
    far = match("城中路500号", ENTRIES)
    assert far is not None and far.how == "road_nearest" and far.confidence == 0.5
    road = match("城中路边上", ENTRIES)
    assert road is not None and road.how == "road_only" and road.confidence == 0.4
    assert match("没有这条路", ENTRIES) is None
    assert match("   ", ENTRIES) is None


def test_named_places_win_and_the_longest_name_first() -> None:
    exact = match("城中新苑", ENTRIES)
    assert exact is not None and exact.confidence == 1.0 and exact.kind is EntryKind.COMPOUND
    inside = match("城中路88号城中华联门口", ENTRIES)
    assert inside is not None and inside.entry_id == 4 and inside.confidence == 0.9


def test_entries_are_checked() -> None:
    assert entry_problems(ODD) == []
    broken = GazetteerEntry(
        kind=EntryKind.ROAD, name=" ", position=(0.0, 0.0), first=2, last=0, parity=Parity.ODD
    )
    where = {p.location[0] for p in entry_problems(broken)}
    assert where == {"name", "position", "end", "first", "last"}


def test_the_demo_gazetteer_is_sound_and_places_its_roads() -> None:
    entries = [GazetteerEntry(**{**e.__dict__, "id": i}) for i, e in enumerate(demo_gazetteer(), 1)]
    assert all(entry_problems(e) == [] for e in entries)
    kinds = {e.kind for e in entries}
    assert kinds == set(EntryKind)
    for road in ("城中路", "公园路", "青松路", "盈港路", "淀山湖大道"):
        found = match(f"{road}21号", entries)
        assert found is not None and found.how == "road_number", road


@given(
    st.text(
        alphabet=st.sampled_from(
            "城中路新苑号弄栋幢一二十百千零〇两１２３0123456789 -（）上海市青浦区"
        ),
        max_size=40,
    )
    | st.text(max_size=40)
)
def test_any_text_gives_a_match_or_none_never_an_error(text: str) -> None:
    found = match(text, ENTRIES)
    assert found is None or 0 < found.confidence <= 1
