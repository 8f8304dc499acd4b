"""The benchmarks' lean HTTP client (``bench/http.py``) against a real socket server: it
reads an answer by its length or its chunks, keeps the connection, opens a new one after
``Connection: close``, and raises ``HttpError`` when the server hangs up mid-answer. Its
loop is uvloop's, as the server's is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from bench.http import HttpError, LeanClient, run_loop

Answer = Callable[[bytes], bytes | None]


async def _serving(answer: Answer, then: Callable[[str], Awaitable[object]]) -> list[bytes]:
    """A server on a free port answering each request with ``answer(request)`` (``None``
    hangs up); ``then`` runs against its base URL. The requests received, by connection
    (each prefixed with the connection's number)."""
    seen: list[bytes] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                seen.append(b"%d " % number + request)
                reply = answer(request)
                if reply is None:
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Le")
                    break
                writer.write(reply)
                if b"connection: close" in reply.lower():
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await then(f"http://127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()
    return seen


def _sized(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n" + b"".join(extra)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_answers_by_length_on_one_kept_connection() -> None:
    got: list[tuple[int, object]] = []

    async def two(base: str) -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        client = LeanClient(base, {"Authorization": "Bearer t"})
        for n in (1, 2):
            answer = await client.post("/api/v1/cases", json={"n": n, "说明": "井盖"})
            got.append((answer.status_code, answer.json()))
        await client.close()

    seen = run_loop(_serving(lambda r: _sized(b'{"number":"E1"}'), two))
    assert got == [(201, {"number": "E1"}), (201, {"number": "E1"})]
    assert [s.split(b" ", 1)[0] for s in seen] == [b"1", b"1"]  # one connection, kept
    first = seen[0].decode()
    assert first.startswith("1 POST /api/v1/cases HTTP/1.1\r\n")
    assert "Authorization: Bearer t\r\n" in first
    assert "Content-Type: application/json\r\n" in first
    assert first.endswith('\r\n\r\n{"n":1,"说明":"井盖"}')


def test_chunked_answers_and_a_closed_connection_reopened() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"4\r\n[1,2\r\n2;x=y\r\n,3\r\n1\r\n]\r\n0\r\n\r\n"
    )
    got: list[object] = []

    async def two(base: str) -> None:
        client = LeanClient(base, {})
        for _ in range(2):
            got.append((await client.get("/api/v1/cases")).json())
        await client.close()

    seen = run_loop(_serving(lambda r: chunked, two))
    assert got == [[1, 2, 3], [1, 2, 3]]
    assert [s.split(b" ", 1)[0] for s in seen] == [b"1", b"2"]  # a new connection after close


def test_an_answer_cut_short_is_an_http_error_and_the_next_reconnects() -> None:
    answers = iter([None, _sized(b"{}")])
    outcomes: list[object] = []

    async def two(base: str) -> None:
        client = LeanClient(base, {})
        with pytest.raises(HttpError, match="POST /x: IncompleteReadError"):
            await client.post("/x", data={"a": "1"})
        answer = await client.post("/x", data={"a": "2"})
        outcomes.append(answer.status_code)
        await client.close()

    seen = run_loop(_serving(lambda r: next(answers), two))
    assert outcomes == [201]
    assert [s.split(b" ", 1)[0] for s in seen] == [b"1", b"2"]
    assert seen[1].endswith(
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=2"
    )
