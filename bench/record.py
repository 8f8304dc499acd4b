"""Appending measured figures to RESULTS.md with the date, commit and machine."""

from __future__ import annotations

import platform
import statistics
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Figure:
    benchmark: str
    unit: str
    runs: list[float]
    target: str
    met: bool

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = (
        len(
            [
                1
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("processor")
            ]
        )
        if Path("/proc/cpuinfo").exists()
        else 0
    )
    return f"{platform.system()} {platform.machine()}, {cores} cores, {cpu}, Python {platform.python_version()}"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(value: float) -> str:
    return f"{value:,.3g}" if value < 1000 else f"{value:,.0f}"


def append(figures: list[Figure]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"### {stamp} — commit {commit()}",
        f"Machine: {machine()}",
        "",
        "| benchmark | median | min–max | runs | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.benchmark} | {fmt(f.median)} {f.unit} | {fmt(min(f.runs))}–{fmt(max(f.runs))} "
            f"| {len(f.runs)} | {f.target} | {'yes' if f.met else '**no**'} |"
        )
    text = "\n".join(lines) + "\n"
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppended by `make bench`; newest last.\n", "utf-8"
        )
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(text)
    return text


def print_or_record(figures: list[Figure], record: bool) -> None:
    """Append the figures to RESULTS.md (``record``) or print them."""
    if record:
        print(append(figures))
        return
    for f in figures:
        print(f"{f.benchmark}: {fmt(f.median)} {f.unit} (target {f.target}, met {f.met})")
