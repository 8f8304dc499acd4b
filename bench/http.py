"""A lean HTTP/1.1 load client: one keep-alive connection per simulated client, requests
written as bytes, answers read by their Content-Length (or chunks).

The benchmarks' load generator runs on the same two cores as the server, so every
millisecond it spends is one the server does not get. A general client (httpx2) costs
about 2 ms of CPU per request here; this one, which only does what the load needs (GET,
POST with a JSON or form body, fixed headers, a status and a body back), costs a small
fraction of that — as wrk would, while the answers are still read and checked. On
uvloop's loop (``run_loop``), reading an answer's head at once and timing a request
without a task of its own, it costs 0.21–0.22 ms a request offered 1,000 a second
against a fixed-answer server, against 0.29 on asyncio's loop with a read per header
line and ``wait_for`` (2026-11-29).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

T = TypeVar("T")


class HttpError(Exception):
    """No answer: the connection failed, closed or timed out."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanClient:
    """One keep-alive connection to ``base``; use one per concurrent client."""

    def __init__(self, base: str, headers: dict[str, str], timeout: float = 30.0) -> None:
        parts = urlsplit(base)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        fixed = {"Host": f"{self._host}:{self._port}", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.request("GET", path, b"", "", headers)

    async def post(
        self,
        path: str,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        if data is not None:
            body = urlencode(data).encode()
            kind = "application/x-www-form-urlencoded"
        else:
            body = _dumps(json).encode()
            kind = "application/json"
        return await self.request("POST", path, body, kind, headers)

    async def request(
        self, method: str, path: str, body: bytes, kind: str, headers: dict[str, str] | None
    ) -> Answer:
        try:
            # ``asyncio.timeout`` rather than ``wait_for``, which ran each request as a task
            # of its own
            async with asyncio.timeout(self._timeout):
                return await self._exchange(method, path, body, kind, headers or {})
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as exc:
            await self.close()
            raise HttpError(f"{method} {path}: {type(exc).__name__}") from exc

    async def _exchange(
        self, method: str, path: str, body: bytes, kind: str, headers: dict[str, str]
    ) -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body:
            extra += f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        writer.write(f"{method} {path} HTTP/1.1\r\n{self._fixed}{extra}\r\n".encode() + body)
        # the status line and the headers in one read
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = -1
        chunked = close = False
        for line in lines:
            if not line:
                continue
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            content = await _chunks(reader)
        elif length >= 0:
            content = await reader.readexactly(length)
        else:
            content = await reader.read()
            close = True
        if close:
            await self.close()
        return Answer(status, content)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``main`` run on uvloop's event loop, as the server's requests are, or on asyncio's
    where uvloop is missing."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
