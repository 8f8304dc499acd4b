"""``chengyun serve --workers N``: the supervisor deals the connections it accepts to the
processes in turn, so that even a burst of keep-alive connections is shared evenly; a
process that dies is replaced, one that hangs is passed over and then replaced; a taken
port, or a process that cannot start, is one clear error."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chengyun.entrypoints import serving
from chengyun.entrypoints.cli import app
from tests.servers import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not serving.deals_connections(), reason="dealing connections (SCM_RIGHTS) is Linux's"
    ),
]

CLI = [sys.executable, "-m", "chengyun.entrypoints.cli"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A SQLite database upgraded by the migrations, in the environment of this process
    (for the processes it spawns) and of the commands it runs."""
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHENGYUN_MODE", "development")
    monkeypatch.delenv("CHENGYUN_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return dict(os.environ)


LISTEN, ESTABLISHED = "0A", "01"


def _tcp_sockets(port: int) -> list[tuple[str, int, int]]:
    """(state, peer's port, inode) of this machine's IPv4 TCP sockets whose local port is
    ``port``."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            found.append((fields[3], int(fields[2].rsplit(":", 1)[1], 16), int(fields[9])))
    return found


def _listening(port: int) -> int:
    return sum(1 for state, _, _ in _tcp_sockets(port) if state == LISTEN)


def _server_processes(parent: int) -> list[int]:
    """The server processes the supervisor ``parent`` started (not multiprocessing's
    resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return sorted(found)


def _owners(pids: list[int], inodes: set[int]) -> Counter[int]:
    """How many of the sockets ``inodes`` each process holds."""
    held: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held[pid] += 1
    return held


def _until(condition: Callable[[], bool], what: str, seconds: float = 90.0) -> None:
    """Polls ``condition`` until it holds: the processes start on their own time (each
    imports the app), which no test clock drives."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.1)


def _ready(log: Path) -> int:
    """How many server processes the supervisor has seen serve (its log)."""
    return log.read_text("utf-8").count("] ready")


def _until_replaced(process: subprocess.Popen[bytes], log: Path, gone: int, what: str) -> None:
    """Until the server process ``gone`` is no more and the one replacing it serves (the
    third to be ready)."""
    _until(
        lambda: (
            gone not in _server_processes(process.pid)
            and len(_server_processes(process.pid)) == 2
            and _ready(log) == 3
        ),
        what,
    )


def _get(connection: socket.socket, path: str) -> bytes:
    """One keep-alive HTTP/1.1 GET on an open connection; the answer's status line."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection"
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


@pytest.fixture
def server(
    env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``chengyun serve --workers 2`` on a free port, its log in ``server.log``; more
    options as the fixture's parameter."""
    port = free_port()
    more: list[str] = getattr(request, "param", [])
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", *more],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _until(lambda: _ready(tmp_path / "server.log") == 2, "both processes serve")
        assert _listening(port) == 1  # the supervisor's
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def test_a_burst_of_connections_is_shared_by_the_processes(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    workers = _server_processes(process.pid)
    assert len(workers) == 2
    # 32 keep-alive connections opened at once, as a load balancer's pool: with one shared
    # socket, the process that woke first took them all; with a socket each, the kernel's
    # hash gave one 20 and the other 12
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        for connection in connections:
            assert _get(connection, "/api/v1/health") == b"HTTP/1.1 200 OK"
        mine = {c.getsockname()[1] for c in connections}
        # the server's ends: established sockets on the port whose peers are ours
        served = {
            inode
            for state, peer, inode in _tcp_sockets(port)
            if state == ESTABLISHED and peer in mine
        }
        held = _owners(workers, served)
        assert held == {workers[0]: 16, workers[1]: 16}, held
        # the supervisor kept none of them
        assert _owners([process.pid], served) == Counter()
    finally:
        for connection in connections:
            connection.close()


def test_a_process_that_dies_is_replaced_and_sigterm_stops_all(
    server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    process, port = server
    first, second = _server_processes(process.pid)
    os.kill(first, signal.SIGKILL)
    _until_replaced(process, tmp_path / "server.log", first, "a new one replaces the one killed")
    running = _server_processes(process.pid)
    assert second in running
    with socket.create_connection(("127.0.0.1", port)) as connection:
        assert _get(connection, "/api/v1/health") == b"HTTP/1.1 200 OK"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert _listening(port) == 0
    assert [pid for pid in running if Path(f"/proc/{pid}").exists()] == []  # none outlived it
    log = (tmp_path / "server.log").read_text("utf-8")
    assert f"server process [{first}] died (exit code -9); starting another" in log
    assert "已停止 / stopped" in log


@pytest.mark.parametrize("server", [["--hang-timeout", "5"]], indirect=True)
def test_a_process_that_hangs_is_replaced(
    server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    process, port = server
    first, second = _server_processes(process.pid)
    os.kill(first, signal.SIGSTOP)  # it answers nothing; connections dealt to it wait
    try:
        _until_replaced(process, tmp_path / "server.log", first, "a new one replaces the hung one")
    finally:
        if Path(f"/proc/{first}").exists():
            os.kill(first, signal.SIGCONT)
    assert second in _server_processes(process.pid)  # the one that answered was left alone
    for _ in range(8):  # every connection is answered, the new process serving too
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            assert _get(connection, "/api/v1/health") == b"HTTP/1.1 200 OK"
    log = (tmp_path / "server.log").read_text("utf-8")
    assert f"server process [{first}] has not answered for " in log


CORES = sorted(os.sched_getaffinity(0))
several_cores = pytest.mark.skipif(len(CORES) < 2, reason="pinning needs 2 cores")


def _cores(pid: int) -> list[set[int]]:
    """The cores each thread of process ``pid`` may run on."""
    return [os.sched_getaffinity(int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()]


@several_cores
def test_each_process_keeps_to_a_core_of_its_own_and_its_replacement_to_the_same(
    server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    process, _ = server
    first, second = _server_processes(process.pid)
    cores = {pid: _cores(pid) for pid in (first, second)}
    # every thread of each on the one core of its own, the first two the supervisor may use
    assert {frozenset(set().union(*threads)) for threads in cores.values()} == {
        frozenset({CORES[0]}),
        frozenset({CORES[1]}),
    }
    assert all(len(t) == 1 for threads in cores.values() for t in threads)
    assert os.sched_getaffinity(process.pid) == set(CORES)  # the supervisor is not pinned
    os.kill(first, signal.SIGKILL)
    _until_replaced(process, tmp_path / "server.log", first, "a new one replaces the one killed")
    (new,) = set(_server_processes(process.pid)) - {second}
    assert _cores(new)[0] == cores[first][0]
    log = (tmp_path / "server.log").read_text("utf-8")
    assert f"server process [{new}] ready (CPU {min(cores[first][0])})" in log


@several_cores
@pytest.mark.parametrize("server", [["--no-pin-cpus"]], indirect=True)
def test_no_pin_cpus_leaves_the_processes_to_the_scheduler(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, _ = server
    for pid in _server_processes(process.pid):
        assert _cores(pid)[0] == set(CORES)


def test_processes_are_pinned_only_while_each_can_have_a_core() -> None:
    def cpus(workers: int, pin: bool = True) -> list[int | None]:
        return serving.Supervisor("127.0.0.1", 0, workers, pin_cpus=pin).cpus()

    assert cpus(1) == [None]  # one process may use every core
    assert cpus(len(CORES) + 1) == [None] * (len(CORES) + 1)  # more processes than cores
    if len(CORES) >= 2:
        assert cpus(2) == CORES[:2]
        assert cpus(2, pin=False) == [None, None]


def test_a_core_that_cannot_be_kept_to_is_logged_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = os.sched_getaffinity(0)
    # uvicorn's logging, once configured in this process, stops its loggers' records
    # short of the root logger: the capturing handler goes on the logger itself
    serving.logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger=serving.logger.name):
            serving._keep_to(1 << 20)  # no such core: refused for every thread
    finally:
        serving.logger.removeHandler(caplog.handler)
    assert os.sched_getaffinity(0) == before
    assert f"cannot keep to CPU {1 << 20}" in caplog.text


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (an exited one may stay a zombie
    until whoever adopted it reaps it)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


def test_server_processes_leave_when_the_supervisor_is_killed(
    server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    process, port = server
    workers = _server_processes(process.pid)
    os.kill(process.pid, signal.SIGKILL)  # no chance to stop them itself
    process.wait(timeout=30)
    _until(lambda: not any(_running(pid) for pid in workers), "the server processes exit")
    assert _listening(port) == 0  # nothing holds the port
    assert "the supervisor is gone" in (tmp_path / "server.log").read_text("utf-8")


def _answered(port: int, seconds: float) -> bool:
    """Whether a new connection's request is answered within ``seconds``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=seconds) as connection:
            return _get(connection, "/api/v1/health") == b"HTTP/1.1 200 OK"
    except OSError:  # timed out
        return False


@pytest.mark.parametrize("server", [["--hang-timeout", "0"]], indirect=True)
def test_a_silent_process_is_passed_over(server: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = server
    first, second = _server_processes(process.pid)
    os.kill(first, signal.SIGSTOP)  # never replaced (--hang-timeout 0)
    try:
        # the connections dealt to it before its heartbeat went stale wait unanswered; two
        # answered one after the other were both dealt to the other process
        _until(lambda: _answered(port, 1.0) and _answered(port, 1.0), "two answered in a row")
        for _ in range(8):  # then every one goes to the process that serves
            assert _answered(port, 30.0)
    finally:
        os.kill(first, signal.SIGCONT)
    assert _server_processes(process.pid) == [first, second]


def test_a_taken_port_is_one_clear_error(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"端口已被占用 / cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "choose another with --port" in result.stderr
    assert "Started server process" not in result.stderr  # refused before any process


def test_processes_that_cannot_start_stop_the_server(env: dict[str, str]) -> None:
    # an app that does not load: each process fails the same way, and the supervisor gives
    # up instead of starting them again forever
    supervisor = serving.Supervisor(
        "127.0.0.1", free_port(), workers=2, check_every_s=0.1, app="chengyun.nowhere:app"
    )
    before = signal.getsignal(signal.SIGTERM)
    assert supervisor.run() == 1
    assert serving.STARTUP_FAILURE in {p.exitcode for p in supervisor.processes}
    assert not any(p.is_alive() for p in supervisor.processes)
    assert signal.getsignal(signal.SIGTERM) == before  # the test process's handlers restored


ACCESS_LINE = '"GET /api/v1/health HTTP/1.1" 200'


@pytest.mark.parametrize(
    ("server", "logged"), [([], True), (["--no-access-log"], False)], indirect=["server"]
)
def test_the_access_log_is_kept_unless_turned_off(
    server: tuple[subprocess.Popen[bytes], int], logged: bool, tmp_path: Path
) -> None:
    process, port = server
    for _ in range(4):  # new connections: the kernel may give them to either process
        with socket.create_connection(("127.0.0.1", port)) as connection:
            assert _get(connection, "/api/v1/health") == b"HTTP/1.1 200 OK"
    process.send_signal(signal.SIGTERM)  # all said and written once it has stopped
    assert process.wait(timeout=60) == 0
    log = (tmp_path / "server.log").read_text("utf-8")
    assert log.count(ACCESS_LINE) == (4 if logged else 0), log
    assert "已停止 / stopped" in log  # the rest of the log is still there


def test_one_process_takes_the_access_log_setting(env: dict[str, str], tmp_path: Path) -> None:
    """``CHENGYUN_ACCESS_LOG=false`` for a single process (uvicorn's own ``run``)."""
    port = free_port()
    with (tmp_path / "one.log").open("wb") as log:
        process = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, "CHENGYUN_ACCESS_LOG": "false"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _until(lambda: _listening(port) == 1, "the process listens")
        with socket.create_connection(("127.0.0.1", port)) as connection:
            assert _get(connection, "/api/v1/health") == b"HTTP/1.1 200 OK"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    log = (tmp_path / "one.log").read_text("utf-8")
    assert ACCESS_LINE not in log
    assert "Uvicorn running" in log or "Application startup complete" in log, log
