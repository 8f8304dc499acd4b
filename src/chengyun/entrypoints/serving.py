"""Several server processes on one port (多进程服务), each with a listening socket of its own.

uvicorn's ``--workers`` shares one listening socket among its processes. Whichever process
wakes first accepts every connection waiting, so a burst of keep-alive connections (a load
balancer's upstream pool, a command centre's screens reconnecting after a network blip)
lands on one process while the others idle: measured here, 2 processes with 32 keep-alive
clients used 0.86 and 0.37 of a core, and with 4 processes one did nearly all the work.

On Linux each process here binds a socket of its own to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections over the sockets by a hash of
their addresses, whichever process is awake. The parent process only supervises: it
checks that the port is free, starts the processes, starts a new one when one dies or
hangs, stops them all on SIGINT or SIGTERM, and stops everything if a process cannot start
(the app does not load, its port is taken): that would fail the same way every time.

A process hangs when its event loop stops turning (a request stuck in a call that never
returns, a process stopped by a debugger): it then accepts connections into its socket's
queue and answers none. Each process's loop writes the time into a heartbeat shared with
the supervisor about every two seconds; one silent for ``hang_timeout_s`` is killed, so
that a new one takes its place (its queued connections are reset). Elsewhere (no
``SO_REUSEPORT`` load balancing), ``serve`` uses uvicorn's own supervisor.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType

#: uvicorn's exit code for a process that could not start serving
STARTUP_FAILURE = 3
#: the listen backlog, as uvicorn's default
BACKLOG = 2048
#: how long the processes get to finish their requests after SIGTERM before they are killed
STOP_TIMEOUT_S = 30.0
#: how long a process's event loop may stay silent before the process is killed and replaced
HANG_TIMEOUT_S = 60.0

APP = "chengyun.entrypoints.api.asgi:app"

logger = logging.getLogger("uvicorn.error")


def balanced_by_kernel() -> bool:
    """Whether sockets bound with ``SO_REUSEPORT`` share their connections out (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_taken(host: str, port: int) -> OSError | None:
    """The error binding ``host:port`` gives, or ``None`` when it is free. Bound without
    ``SO_REUSEPORT``, so that another server's reusable socket counts as taken too: two
    ``serve`` commands on one port would otherwise share its connections silently."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket of this process's own, listening on ``host:port`` beside its siblings."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _process_main(
    host: str, port: int, log_level: str, access_log: bool, heartbeat: ctypes.c_double
) -> None:
    """One server process: its own socket, then uvicorn until SIGINT or SIGTERM; its event
    loop writes the time into ``heartbeat`` as it turns."""
    import uvicorn

    async def beat() -> None:
        heartbeat.value = time.monotonic()  # one clock for all processes on Linux

    # uvicorn calls ``callback_notify`` from its loop's tick once ``timeout_notify`` passed
    config = uvicorn.Config(
        APP,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        callback_notify=beat,
        timeout_notify=1,
    )
    config.configure_logging()
    # the app (territory, taxonomy, roster) is loaded before the socket listens: the
    # kernel hands a listening socket its share of connections at once
    try:
        config.load()
    except Exception:
        logger.exception("无法加载应用 / cannot load the app")
        sys.exit(STARTUP_FAILURE)
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        logger.error("无法监听 / cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class Supervisor:
    """Keeps ``workers`` server processes running on ``host:port`` until told to stop."""

    host: str
    port: int
    workers: int
    log_level: str = "info"
    #: uvicorn's line per request (``Settings.access_log``)
    access_log: bool = True
    check_every_s: float = 0.5
    #: a process whose loop was silent this long is killed and replaced; 0: never
    hang_timeout_s: float = HANG_TIMEOUT_S
    processes: list[BaseProcess] = field(default_factory=list)
    #: each process's heartbeat (0 until it serves): the time its loop last turned
    heartbeats: list[ctypes.c_double] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def _start_one(self) -> tuple[BaseProcess, ctypes.c_double]:
        context = multiprocessing.get_context("spawn")
        # no lock: a process killed or stopped while holding it would stop the supervisor's
        # next read for good; one aligned double is written and read whole
        heartbeat = context.RawValue(ctypes.c_double, 0.0)
        process = context.Process(
            target=_process_main,
            args=(self.host, self.port, self.log_level, self.access_log, heartbeat),
            name="chengyun-server",
        )
        process.start()
        return process, heartbeat

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def run(self) -> int:
        """Serves until SIGINT or SIGTERM (0) or until a process fails to start (1)."""
        before = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        logger.info(
            "城运服务 / chengyun serving on http://%s:%d with %d processes, each with its own "
            "socket (Press CTRL+C to quit)",
            f"[{self.host}]" if ":" in self.host else self.host,
            self.port,
            self.workers,
        )
        for _ in range(self.workers):
            process, heartbeat = self._start_one()
            self.processes.append(process)
            self.heartbeats.append(heartbeat)
        failed = False
        try:
            while not self.stopping.wait(self.check_every_s):
                failed = self._replace_the_dead()
                if failed:
                    break
        finally:
            self._stop_all()
            for signum, handler in before.items():
                signal.signal(signum, handler)
        return 1 if failed else 0

    def _replace_the_dead(self) -> bool:
        """Starts a new process for each that died or hung; ``True`` if one could not start
        at all."""
        for index, process in enumerate(self.processes):
            if self.stopping.is_set():
                break
            if process.is_alive() and self._hung(process, self.heartbeats[index].value):
                process.kill()
                process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                continue
            if process.exitcode == STARTUP_FAILURE:
                logger.error(
                    "服务进程 [%s] 无法启动，全部停止 / server process [%s] could not start; "
                    "stopping all (its log above says why)",
                    process.pid,
                    process.pid,
                )
                return True
            logger.warning(
                "服务进程 [%s] 已退出（退出码 %s），重新启动 / server process [%s] died "
                "(exit code %s); starting another",
                process.pid,
                process.exitcode,
                process.pid,
                process.exitcode,
            )
            self.processes[index], self.heartbeats[index] = self._start_one()
        return False

    def _hung(self, process: BaseProcess, beat: float) -> bool:
        if not self.hang_timeout_s or not beat:  # never, or still starting
            return False
        silent = time.monotonic() - beat
        if silent < self.hang_timeout_s:
            return False
        logger.error(
            "服务进程 [%s] %.0f 秒无响应，终止并重启 / server process [%s] has not answered "
            "for %.0f s; killing it and starting another",
            process.pid,
            silent,
            process.pid,
            silent,
        )
        return True

    def _stop_all(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes:
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                logger.warning("服务进程 [%s] 未按时退出 / killing server process", process.pid)
                process.kill()
                process.join()
        logger.info("已停止 / stopped")


def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    hang_timeout_s: float = HANG_TIMEOUT_S,
    access_log: bool = True,
) -> int:
    """Serves the platform with ``workers`` processes; the exit code (see ``Supervisor``).
    The port is checked first, so that a taken port is one clear error, not one per
    process."""
    import uvicorn

    uvicorn.Config(APP, log_level=log_level).configure_logging()
    taken = port_taken(host, port)
    if taken is not None:
        logger.error(
            "端口已被占用 / cannot listen on %s:%d: %s — stop the program using it or choose "
            "another with --port",
            host,
            port,
            taken.strerror or taken,
        )
        return 1
    return Supervisor(
        host, port, workers, log_level, access_log=access_log, hang_timeout_s=hang_timeout_s
    ).run()
