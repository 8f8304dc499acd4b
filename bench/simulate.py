"""The capacity simulation: 30 simulated days of the demo sub-district (default incident
rates: about 21,000 incidents) against the demo roster, as ``chengyun simulate --days 30``
runs it — territory, incidents, the discrete-event run, the workbook and the charts.
Target: under 60 s. The CPU time of the process is shown too, because on a shared small
machine the wall-clock time includes what the other processes took.

Quick trial without recording: ``python -m bench.simulate --days 5 --repeats 1``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.record import Figure, fmt

TARGET_S = 60.0


def once(days: int) -> tuple[float, float, int]:
    from dataclasses import replace

    from chengyun.adapters.taxonomy_file import load_default_taxonomy
    from chengyun.entrypoints.cli_simulate import load_roster, load_territory
    from chengyun.simulation.config import SimulationConfig
    from chengyun.simulation.engine import simulate
    from chengyun.simulation.incidents import Places, generate
    from chengyun.simulation.outputs import write_outputs

    folder = Path(tempfile.mkdtemp(prefix="chengyun-sim-"))
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        territory = load_territory(None)
        roster = load_roster([], territory)
        config = replace(SimulationConfig(), days=days, seed=1)
        places = Places(territory)
        taxonomy = load_default_taxonomy()
        incidents = generate(config.incidents, places, taxonomy, days, config.seed)
        result = simulate(
            territory, roster, config, incidents, places=places, taxonomy=taxonomy, name="demo"
        )
        write_outputs(result, folder)
        return time.perf_counter() - wall, time.process_time() - cpu, result.incidents
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(repeats: int = 3, days: int = 30) -> list[Figure]:
    walls, cpus = [], []
    incidents = 0
    for i in range(repeats):
        wall, cpu, incidents = once(days)
        walls.append(wall)
        cpus.append(cpu)
        print(f"  run {i + 1}: {fmt(wall)} s wall, {fmt(cpu)} s CPU, {incidents} incidents")
    label = f"simulate {days} days of the demo sub-district ({incidents:,} incidents)"
    return [
        Figure(label, "s", walls, f"< {TARGET_S:g} s", sorted(walls)[len(walls) // 2] < TARGET_S),
        Figure(f"{label}, CPU time of the process", "s", cpus, "—", True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    for figure in run(args.repeats, args.days):
        print(f"{figure.benchmark}: median {fmt(figure.median)} {figure.unit} ({figure.target})")


if __name__ == "__main__":
    main()
