"""The territory index cache says when it answers from memory (``fresh``): the Open311
route checks a request on its event loop only then, never waiting there for a query or
for another thread's reload."""

from __future__ import annotations

from chengyun.adapters.geo.index import TerritoryIndexCache
from chengyun.domain.territory import Territory


def test_fresh_only_once_loaded_and_within_its_refresh_period(
    demo_territory: Territory,
) -> None:
    loads: list[int] = []

    def load() -> tuple[Territory | None, int]:
        loads.append(1)
        return demo_territory, 7

    kept = TerritoryIndexCache(load, lambda: 7, refresh_seconds=60)
    assert not kept.fresh()  # nothing loaded yet: the first get reads
    kept.get()
    assert kept.fresh() and loads == [1]
    kept.invalidate()
    assert not kept.fresh()
    checked_always = TerritoryIndexCache(load, lambda: 7, refresh_seconds=0)
    checked_always.get()
    assert not checked_always.fresh()  # every get reads the revision
