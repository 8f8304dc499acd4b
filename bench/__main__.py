"""Run the benchmarks: ``python -m bench [NAME ...]`` (default: all)."""

from __future__ import annotations

import sys

from bench import (
    demo_startup,
    dispatch,
    intake,
    locate,
    measures,
    open311,
    reads,
    simulate,
    sweep,
)
from bench.record import append

BENCHMARKS = {
    "locate": locate.run,
    "demo": demo_startup.run,
    "intake": intake.run,
    "sweep": sweep.run,
    "reads": reads.run,
    "measures": measures.run,
    "simulate": simulate.run,
    "open311": open311.run,
    "dispatch": dispatch.run,
}


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    figures = []
    for name in names or list(BENCHMARKS):
        print(f"… {name}", flush=True)
        figures.extend(BENCHMARKS[name]())
    print(append(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
