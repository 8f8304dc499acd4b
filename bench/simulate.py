"""The capacity simulation: 30 simulated days of the demo sub-district (default incident
rates: about 21,000 incidents) against the demo roster, as ``chengyun simulate --days 30``
runs it — territory, incidents, the discrete-event run, the workbook and the charts.
Target: under 60 s. The CPU time of the process is shown too, because on a shared small
machine the wall-clock time includes what the other processes took.

The baseline, in the same process right before each run: a fixed pure-Python
calibration of the simulation's own kind, with no platform code — a SimPy environment
with 2,000 processes, each waiting 300 timeouts of fixed, staggered lengths (about
1–2 s on the reference machine). Printed and
recorded: its seconds and, per run, the simulation's wall-clock seconds over the
baseline's (``… / baseline``), which survives a noisy machine better than the seconds.

Quick trial without recording: ``python -m bench.simulate --days 5 --repeats 1``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import simpy

from bench.record import Figure, fmt, print_or_record

TARGET_S = 60.0
CALIBRATION_PROCESSES = 2_000
CALIBRATION_STEPS = 300


def calibration() -> float:
    """Wall seconds of the baseline: ``CALIBRATION_PROCESSES`` SimPy processes, each
    waiting ``CALIBRATION_STEPS`` timeouts (fixed lengths, staggered between processes)."""

    def worker(env: simpy.Environment, k: int) -> simpy.events.ProcessGenerator:
        for step in range(CALIBRATION_STEPS):
            yield env.timeout(1 + (k * 7 + step * 13) % 17)

    start = time.perf_counter()
    env = simpy.Environment()
    for k in range(CALIBRATION_PROCESSES):
        env.process(worker(env, k))
    env.run()
    return time.perf_counter() - start


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
    walls, cpus, bare = [], [], []
    incidents = 0
    for i in range(repeats):
        bare.append(calibration())
        wall, cpu, incidents = once(days)
        walls.append(wall)
        cpus.append(cpu)
        print(
            f"  run {i + 1}: {fmt(wall)} s wall, {fmt(cpu)} s CPU, {incidents} incidents; "
            f"baseline {fmt(bare[-1])} s, simulate/baseline {wall / bare[-1]:.1f}",
            flush=True,
        )
    label = f"simulate {days} days of the demo sub-district ({incidents:,} incidents)"
    reference = "— (reference)"
    return [
        Figure(label, "s", walls, f"< {TARGET_S:g} s", sorted(walls)[len(walls) // 2] < TARGET_S),
        Figure(f"{label}, CPU time of the process", "s", cpus, "—", True),
        Figure(
            f"baseline: SimPy, {CALIBRATION_PROCESSES:,} processes × {CALIBRATION_STEPS} "
            "timeouts, pure Python",
            "s",
            bare,
            reference,
            True,
        ),
        Figure(
            f"simulate {days} days / baseline",
            "×",
            [w / b for w, b in zip(walls, bare, strict=True)],
            reference,
            True,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    print_or_record(run(args.repeats, args.days), args.record)


if __name__ == "__main__":
    main()
