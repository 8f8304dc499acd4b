"""Live case changes (案件动态): telling every server process that a case changed, so the
command centre can refresh at once instead of waiting for its next poll.

A change is published as the transaction that made it commits (see
``adapters/db/case_changes.py``). On PostgreSQL the writer sends ``pg_notify`` inside its
transaction — PostgreSQL delivers it on commit and drops it on rollback — and every
process listens on the channel with a connection of its own (``PostgresBus``). On SQLite
(the demo, one process) an in-process bus hands the change to the subscribers directly.
``bus_for(url)`` picks the one the database URL needs, once per process and database.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

log = logging.getLogger(__name__)

#: The PostgreSQL channel the changes travel on.
CHANNEL = "chengyun_cases"
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7900


@dataclass(frozen=True)
class CaseChange:
    """One case changed: which, how (the last action, e.g. ``report``, ``dispatch``), and
    what visibility needs to know of it, so that a listener can tell who may hear of it
    without reading the case again."""

    case_id: int
    kind: str
    number: str = ""
    status: str = ""
    version: int = 0
    grid: str | None = None
    unit: str | None = None
    assignee: str | None = None
    reporter: str | None = None
    responsible: str | None = None
    handlers: tuple[str, ...] = field(default=())
    departments: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        # the fields as they are: ``asdict`` copies each value deeply, which cost more
        # than the encoding
        fields = dict(vars(self))
        text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        if len(text.encode()) > MAX_PAYLOAD:  # only the people lists can grow that long
            text = json.dumps(
                {**fields, "handlers": [], "departments": [], "partial": True},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        return text

    @classmethod
    def from_json(cls, text: str) -> CaseChange | None:
        """The change a payload carries, or ``None`` for one that is not ours."""
        try:
            data: Any = json.loads(text)
            return cls(
                case_id=int(data["case_id"]),
                kind=str(data["kind"]),
                number=str(data.get("number") or ""),
                status=str(data.get("status") or ""),
                version=int(data.get("version") or 0),
                grid=data.get("grid"),
                unit=data.get("unit"),
                assignee=data.get("assignee"),
                reporter=data.get("reporter"),
                responsible=data.get("responsible"),
                handlers=tuple(str(h) for h in data.get("handlers") or ()),
                departments=tuple(str(d) for d in data.get("departments") or ()),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


Listener = Callable[[CaseChange], None]


class Subscription(Protocol):
    def wait_ready(self, timeout: float) -> bool:
        """Block until changes committed from now on will be delivered (``False`` if the
        bus could not start listening within ``timeout`` seconds)."""
        ...

    def close(self) -> None: ...


class CaseEventBus(Protocol):
    """Where case changes are heard. Listeners are called on a thread of the bus (or of
    the committing request): they must be quick and never block."""

    def subscribe(self, listener: Listener) -> Subscription: ...

    def publish(self, changes: Sequence[CaseChange]) -> None:
        """Hand changes to this process's listeners (the in-process bus; on PostgreSQL
        changes arrive through NOTIFY instead)."""
        ...

    def close(self) -> None: ...


class _Listeners:
    """The listeners of one bus, safe to change while changes are delivered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._next = 0

    def add(self, listener: Listener) -> int:
        with self._lock:
            self._next += 1
            self._listeners[self._next] = listener
            return self._next

    def remove(self, token: int) -> int:
        """Forget one listener; how many are left."""
        with self._lock:
            self._listeners.pop(token, None)
            return len(self._listeners)

    def deliver(self, change: CaseChange) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # one broken listener must not silence the others
                log.exception("a case-change listener failed")


class _Subscription:
    def __init__(self, ready: threading.Event, close: Callable[[], None]) -> None:
        self._ready = ready
        self._close = close
        self._closed = False

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()


class InProcessBus:
    """Changes delivered within this process (SQLite: the demo runs one process)."""

    def __init__(self) -> None:
        self._listeners = _Listeners()
        self._ready = threading.Event()
        self._ready.set()

    def subscribe(self, listener: Listener) -> Subscription:
        token = self._listeners.add(listener)
        return _Subscription(self._ready, lambda: self._forget(token))

    def _forget(self, token: int) -> None:
        self._listeners.remove(token)

    def publish(self, changes: Sequence[CaseChange]) -> None:
        for change in changes:
            self._listeners.deliver(change)

    def close(self) -> None:
        pass


class PostgresBus:
    """Changes from every process, heard with ``LISTEN`` on a connection of its own in a
    background thread. The thread runs while someone listens, and reconnects after a
    lost connection (changes committed meanwhile are missed: the pages' poll covers them).
    """

    POLL_SECONDS = 0.5
    RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._listeners = _Listeners()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()

    @classmethod
    def for_url(cls, url: str | sa.URL) -> PostgresBus:
        parsed = sa.make_url(url)
        return cls(parsed.set(drivername="postgresql").render_as_string(hide_password=False))

    def subscribe(self, listener: Listener) -> Subscription:
        token = self._listeners.add(listener)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self._ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._stop, self._ready),
                    name="chengyun-case-events",
                    daemon=True,
                )
                self._thread.start()
            ready = self._ready
        return _Subscription(ready, lambda: self._unsubscribe(token))

    def _unsubscribe(self, token: int) -> None:
        with self._lock:
            if self._listeners.remove(token) == 0:
                self._stop.set()
                self._thread = None

    def publish(self, changes: Sequence[CaseChange]) -> None:
        """Delivered through PostgreSQL, never directly: see ``notify``."""

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _run(self, stop: threading.Event, ready: threading.Event) -> None:
        import psycopg

        failures = 0
        while not stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    ready.set()
                    failures = 0
                    while not stop.is_set():
                        for note in connection.notifies(timeout=self.POLL_SECONDS):
                            if stop.is_set():  # a newer thread may listen already: no twice
                                break
                            change = CaseChange.from_json(note.payload)
                            if change is not None:
                                self._listeners.deliver(change)
            except psycopg.Error as error:
                ready.clear()
                pause = self.RECONNECT_SECONDS[min(failures, len(self.RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("listening for case changes failed (%s); again in %ss", error, pause)
                stop.wait(pause)


_BUSES: dict[str, CaseEventBus] = {}
_BUSES_LOCK = threading.Lock()


def bus_for(url: str | sa.URL) -> CaseEventBus:
    """This process's bus for the database at ``url``: LISTEN/NOTIFY on PostgreSQL,
    in-process otherwise."""
    parsed = sa.make_url(url)
    key = parsed.render_as_string(hide_password=False)
    with _BUSES_LOCK:
        bus = _BUSES.get(key)
        if bus is None:
            if parsed.get_backend_name() == "postgresql":
                bus = PostgresBus.for_url(parsed)
            else:
                bus = InProcessBus()
            _BUSES[key] = bus
        return bus


def notify(connection: sa.Connection, changes: Sequence[CaseChange]) -> None:
    """Tell the listeners about ``changes`` as ``connection``'s transaction commits:
    ``pg_notify`` in the transaction on PostgreSQL, the in-process bus otherwise."""
    if not changes:
        return
    if connection.dialect.name == "postgresql":
        payloads = list(dict.fromkeys(c.to_json() for c in changes))
        # the driver's own cursor: SQLAlchemy's connection is committing right now
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            # the payloads as one JSON array (a ``json`` element's text is as it was sent):
            # a text array would have every payload escaped character by character
            cursor.execute(
                "SELECT pg_notify(%s, payload::text) FROM json_array_elements(%s::json) AS payload",
                (CHANNEL, "[" + ",".join(payloads) + "]"),
            )
        finally:
            cursor.close()
        return
    bus_for(connection.engine.url).publish(changes)
