"""An ASGI app served by uvicorn on a port of this machine, in a thread, for the tests that
need a real HTTP peer (browsers, linked platforms, fake government WeChat)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServedApp:
    """``app`` on ``port`` (a free one by default); ``start`` waits until it listens, ``stop``
    until it has shut down. Started again, it is the same app: a restart, not a cold start."""

    def __init__(self, app: Any, port: int | None = None, name: str = "test-uvicorn") -> None:
        import uvicorn

        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self._uvicorn = uvicorn
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return bool(self._server is not None and self._server.started)

    def start(self) -> None:
        config = self._uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = self._uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: the server did not start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
            self._server = None


@contextmanager
def served(app: Any, name: str = "test-uvicorn") -> Iterator[str]:
    """``app`` served for the block; yields its base URL."""
    server = ServedApp(app, name=name)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
