"""Several server processes on one port (多进程服务), the connections dealt out in turn.

uvicorn's ``--workers`` shares one listening socket among its processes. Whichever process
wakes first accepts every connection waiting, so a burst of keep-alive connections (a load
balancer's upstream pool, a command centre's screens reconnecting after a network blip)
lands on one process while the others idle: measured here, 2 processes with 32 keep-alive
clients used 0.86 and 0.37 of a core, and with 4 processes one did nearly all the work.
A socket of each process's own on the port (``SO_REUSEPORT``, used here until 2026-11-28)
shares them out by a hash of the addresses: by chance, 20 of 32 on one process and 12 on
the other, whose answers then waited longer.

Here, on Linux, the parent process listens on the port and deals each connection it
accepts to the server processes in turn, over a Unix socket of each (``SCM_RIGHTS``): 32
connections opened at once are 16 and 16. A process gets connections once its event loop
turns (the app loaded), and none while its loop has been silent for ``STALE_S`` (it may
hang); the parent also checks that the port is free, starts a new process when one dies
or hangs, stops them all on SIGINT or SIGTERM, and stops everything if a process cannot
start (the app does not load): that would fail the same way every time. A process whose
supervisor is gone (killed) finishes its requests and exits.

While there are no more processes than cores (the processor set ``serve`` may use), each
process keeps to a core of its own (``os.sched_setaffinity``, inherited by its threads):
a process's event loop and its committing thread (``services.group_commit``) then hand
the interpreter's lock to each other on one core instead of across two. On the 2-core
benchmark machine (PostgreSQL on it too), in pairs with the processes unpinned: 32
clients back to back, 1.11 × the reports a second at 0.93 × the server's CPU per report
and 0.89 × the 99th percentile latency; offered a steady 300 reports a second, 0.81 ×
the 99th percentile (``bench/RESULTS.md``, 2026-11-28 17:15 and 17:09). ``--no-pin-cpus``
leaves the processes to the scheduler.

A process hangs when its event loop stops turning (a request stuck in a call that never
returns, a process stopped by a debugger). Each process's loop writes the time into a
heartbeat shared with the supervisor about every second; one silent for
``hang_timeout_s`` is killed, so that a new one takes its place (the connections it held
or had not yet taken are reset). Elsewhere (no ``SCM_RIGHTS`` over Unix sockets), ``serve``
uses uvicorn's own supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

#: uvicorn's exit code for a process that could not start serving
STARTUP_FAILURE = 3
#: the listen backlog, as uvicorn's default
BACKLOG = 2048
#: how long the processes get to finish their requests after SIGTERM before they are killed
STOP_TIMEOUT_S = 30.0
#: how long a process's event loop may stay silent before the process is killed and replaced
HANG_TIMEOUT_S = 60.0
#: a process whose loop was silent this long gets no new connections while another's turns
#: (its loop writes the heartbeat about every second)
STALE_S = 3.0
#: how long connections wait in the listen queue for all the first processes to serve
#: (so that the first burst is dealt evenly too) before the ones serving get them
STARTING_S = 60.0

APP = "chengyun.entrypoints.api.asgi:app"

logger = logging.getLogger("uvicorn.error")


def deals_connections() -> bool:
    """Whether the supervisor can hand accepted connections to its processes (Linux:
    ``SCM_RIGHTS`` over ``SOCK_SEQPACKET`` Unix sockets)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SCM_RIGHTS")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening_socket(host: str, port: int) -> socket.socket:
    """The supervisor's socket listening on ``host:port``; ``OSError`` if it is taken.
    Without ``SO_REUSEPORT``, so that another server's reusable socket counts as taken
    too: two ``serve`` commands on one port would otherwise share its connections
    silently."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _dealt_server(config: Any, channel: socket.socket) -> Any:
    """A uvicorn server listening on nothing, serving the connections that arrive on
    ``channel`` (each a file descriptor sent by the supervisor)."""
    import uvicorn

    connecting: set[asyncio.Task[Any]] = set()

    def connected(task: asyncio.Task[Any]) -> None:
        connecting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # the client left before its transport was made (asyncio closed the socket)
            logger.debug("连接未建立 / connection dropped: %s", task.exception())

    class DealtServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])  # the lifespan; no listening socket
            loop = asyncio.get_running_loop()
            channel.setblocking(False)
            loop.add_reader(channel.fileno(), self._take, loop)

        def _take(self, loop: asyncio.AbstractEventLoop) -> None:
            def create_protocol() -> asyncio.Protocol:
                # uvicorn's own protocol, as its listening server would create it
                protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
                    config=self.config,
                    server_state=self.server_state,
                    app_state=self.lifespan.state,
                    _loop=loop,
                )
                return protocol

            while True:
                try:
                    _, fds, _, _ = socket.recv_fds(channel, 1, 16)
                except BlockingIOError:
                    return
                except OSError:
                    fds = []
                if not fds:  # the supervisor is gone (killed): nothing more will come
                    loop.remove_reader(channel.fileno())
                    if not self.should_exit:
                        logger.error(
                            "主进程已不在，本进程退出 / the supervisor is gone; this server "
                            "process finishes its requests and exits"
                        )
                        self.should_exit = True
                    return
                for fd in fds:
                    connection = socket.socket(fileno=fd)
                    if self.should_exit:
                        connection.close()
                        continue
                    task = loop.create_task(
                        loop.connect_accepted_socket(
                            create_protocol, connection, ssl=self.config.ssl
                        )
                    )
                    connecting.add(task)  # kept until done
                    task.add_done_callback(connected)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            asyncio.get_running_loop().remove_reader(channel.fileno())
            channel.close()  # connections still on their way are reset
            await super().shutdown(sockets=sockets)

    return DealtServer(config)


def _process_main(
    app: str,
    log_level: str,
    access_log: bool,
    heartbeat: ctypes.c_double,
    channel: socket.socket,
    cpu: int | None,
) -> None:
    """One server process: uvicorn on the connections the supervisor sends over
    ``channel``, until SIGINT or SIGTERM; its event loop writes the time into ``heartbeat``
    as it turns (the supervisor deals it connections from the first beat on). With a
    ``cpu``, the process keeps to it once the app is loaded (``_keep_to``)."""
    import uvicorn

    async def beat() -> None:
        heartbeat.value = time.monotonic()  # one clock for all processes on Linux

    # uvicorn calls ``callback_notify`` from its loop's tick once ``timeout_notify`` passed
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        callback_notify=beat,
        timeout_notify=1,
    )
    config.configure_logging()
    # the app (territory, taxonomy, roster) is loaded before the first beat
    try:
        config.load()
    except Exception:
        logger.exception("无法加载应用 / cannot load the app")
        sys.exit(STARTUP_FAILURE)
    if cpu is not None:
        _keep_to(cpu)
    _dealt_server(config, channel).run()


def _keep_to(cpu: int) -> None:
    """Keeps this process to ``cpu``: every thread it has (libraries loaded with the app
    start some of their own), and so the threads they start later. A core it may no longer
    use (the machine's processor set changed since the supervisor read it) is logged and
    the process left to the scheduler, rather than failed and replaced in a loop."""
    try:
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task), {cpu})
    except OSError as exc:
        logger.warning(
            "无法绑定CPU %d / cannot keep to CPU %d (%s); left to the scheduler",
            cpu,
            cpu,
            exc.strerror or exc,
        )


@dataclass
class _Slot:
    """One server process and what the supervisor shares with it."""

    process: BaseProcess
    #: the time its loop last turned (0 until it serves)
    heartbeat: ctypes.c_double
    #: the supervisor's end of the Unix socket the process takes its connections from
    channel: socket.socket
    #: the core it keeps to (``None``: any), and so its replacement's
    cpu: int | None = None
    ready_logged: bool = False

    def serving(self, now: float) -> bool:
        beat = self.heartbeat.value
        return bool(beat) and now - beat < STALE_S


@dataclass
class Supervisor:
    """Keeps ``workers`` server processes running on ``host:port`` until told to stop,
    dealing them the connections it accepts."""

    host: str
    port: int
    workers: int
    log_level: str = "info"
    #: uvicorn's line per request (``Settings.access_log``)
    access_log: bool = True
    check_every_s: float = 0.5
    #: a process whose loop was silent this long is killed and replaced; 0: never
    hang_timeout_s: float = HANG_TIMEOUT_S
    app: str = APP
    #: each process on a core of its own while there are no more processes than cores
    pin_cpus: bool = True
    slots: list[_Slot] = field(default_factory=list)
    #: every process started, replaced ones included
    processes: list[BaseProcess] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    #: held while a process's channel is written to or closed
    channels: threading.Lock = field(default_factory=threading.Lock)

    def cpus(self) -> list[int | None]:
        """The core each process keeps to, by its place; ``None``: any. Pinned while
        ``pin_cpus`` and there are several processes, and no more than the cores this
        process may use."""
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if not self.pin_cpus or not 1 < self.workers <= len(allowed):
            return [None] * self.workers
        return list(allowed[: self.workers])

    def _start_one(self, cpu: int | None) -> _Slot:
        context = multiprocessing.get_context("spawn")
        # no lock: a process killed or stopped while holding it would stop the supervisor's
        # next read for good; one aligned double is written and read whole
        heartbeat = context.RawValue(ctypes.c_double, 0.0)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = context.Process(
            target=_process_main,
            args=(self.app, self.log_level, self.access_log, heartbeat, theirs, cpu),
            name="chengyun-server",
        )
        process.start()
        theirs.close()  # the process has its own copy; sends to ``mine`` never block
        self.processes.append(process)
        return _Slot(process, heartbeat, mine, cpu)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def run(self) -> int:
        """Serves until SIGINT or SIGTERM (0), or until the port is taken or a process
        fails to start (1)."""
        try:
            listener = listening_socket(self.host, self.port)
        except OSError as exc:
            logger.error(
                "端口已被占用 / cannot listen on %s:%d: %s — stop the program using it or "
                "choose another with --port",
                self.host,
                self.port,
                exc.strerror or exc,
            )
            return 1
        before = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        logger.info(
            "城运服务 / chengyun serving on http://%s:%d with %d processes, connections "
            "dealt in turn (Press CTRL+C to quit)",
            f"[{self.host}]" if ":" in self.host else self.host,
            self.port,
            self.workers,
        )
        dealer = threading.Thread(target=self._deal, args=(listener,), name="dealer")
        failed = False
        try:
            for cpu in self.cpus():
                self.slots.append(self._start_one(cpu))  # each stopped below, whatever fails
            dealer.start()
            while not self.stopping.wait(self.check_every_s):
                failed = self._replace_the_dead()
                if failed:
                    break
        finally:
            self.stopping.set()
            if dealer.is_alive():
                dealer.join()
            listener.close()
            self._stop_all()
            for signum, handler in before.items():
                signal.signal(signum, handler)
        return 1 if failed else 0

    def _deal(self, listener: socket.socket) -> None:
        """The dealer thread: accepts each connection and sends it to the next process
        that serves. Until the first processes all serve (``STARTING_S`` at most), and
        while none does, connections wait in the listen queue."""
        listener.setblocking(False)
        deadline = time.monotonic() + STARTING_S
        started = False
        turn = 0
        while not self.stopping.is_set():
            now = time.monotonic()
            serving = [slot.serving(now) for slot in self.slots]
            started = started or all(serving) or now >= deadline
            if not started or not any(serving):
                self.stopping.wait(0.05)
                continue
            readable, _, _ = select.select([listener], [], [], self.check_every_s)
            while readable and not self.stopping.is_set():
                try:
                    connection, _ = listener.accept()
                except OSError:  # none waiting (or the client gave up first)
                    break
                with connection, self.channels:
                    turn = self._send(connection, turn)

    def _send(self, connection: socket.socket, turn: int) -> int:
        """Sends ``connection`` to the first process serving from ``turn`` on; the next
        turn. Not sent (none serves, or their queues are full), it is closed."""
        now = time.monotonic()
        count = len(self.slots)
        for step in range(count):
            index = (turn + step) % count
            slot = self.slots[index]
            if not slot.serving(now):
                continue
            try:
                socket.send_fds(slot.channel, [b"c"], [connection.fileno()], socket.MSG_DONTWAIT)
            except OSError:  # its queue is full (it is behind), or it just died
                continue
            return index + 1
        logger.warning("没有可接收连接的服务进程 / no server process can take a connection")
        return turn

    def _replace_the_dead(self) -> bool:
        """Starts a new process for each that died or hung, and logs each that began to
        serve; ``True`` if one could not start at all."""
        for index, slot in enumerate(self.slots):
            if self.stopping.is_set():
                break
            process = slot.process
            if process.is_alive() and self._hung(process, slot.heartbeat.value):
                process.kill()
                process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                if slot.heartbeat.value and not slot.ready_logged:
                    slot.ready_logged = True
                    core = "" if slot.cpu is None else f" (CPU {slot.cpu})"
                    logger.info(
                        "服务进程 [%s] 已就绪%s / server process [%s] ready%s",
                        process.pid,
                        core,
                        process.pid,
                        core,
                    )
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
            self.slots[index] = self._start_one(slot.cpu)
            with self.channels:
                slot.channel.close()  # the connections it had not taken are reset
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
        for slot in self.slots:
            if slot.process.is_alive():
                slot.process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for slot in self.slots:
            process = slot.process
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                logger.warning("服务进程 [%s] 未按时退出 / killing server process", process.pid)
                process.kill()
                process.join()
            with self.channels:
                slot.channel.close()
        logger.info("已停止 / stopped")


def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    hang_timeout_s: float = HANG_TIMEOUT_S,
    access_log: bool = True,
    pin_cpus: bool = True,
) -> int:
    """Serves the platform with ``workers`` processes; the exit code (see ``Supervisor``).
    The supervisor binds the port before it starts any process, so that a taken port is
    one clear error, not one per process."""
    import uvicorn

    uvicorn.Config(APP, log_level=log_level).configure_logging()
    return Supervisor(
        host,
        port,
        workers,
        log_level,
        access_log=access_log,
        hang_timeout_s=hang_timeout_s,
        pin_cpus=pin_cpus,
    ).run()
