"""`make demo` from a warm package cache to a serving platform (target: under 30 s).

Clones the repository into a temporary folder, runs ``make demo`` on a free port and
times until ``/api/v1/health`` answers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.record import Figure

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def once() -> float:
    work = Path(tempfile.mkdtemp(prefix="chengyun-demo-"))
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work / "repo")], check=True)
        port = _free_port()
        start = time.perf_counter()
        process = subprocess.Popen(
            ["make", "demo", f"PORT={port}"],
            cwd=work / "repo",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while time.perf_counter() - start < 180:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/api/v1/health", timeout=1
                    ):
                        return time.perf_counter() - start
                except OSError:
                    time.sleep(0.2)
            raise RuntimeError("make demo did not serve within 180 s")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(repeats: int = 3) -> list[Figure]:
    runs = [once() for _ in range(repeats)]
    return [
        Figure(
            "make demo, warm package cache, to serving",
            "s",
            runs,
            "< 30 s",
            sorted(runs)[len(runs) // 2] < 30,
        )
    ]
