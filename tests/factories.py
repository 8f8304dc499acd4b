"""Plain factory functions for tests: reports, photos, people from the demo roster."""

from __future__ import annotations

import io
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from chengyun.adapters.db.engine import alembic_config
from chengyun.adapters.db.writes import WROTE

G1 = "310118002900001"
CENTRE = (121.110, 31.150)  # WGS-84, inside grid 1 (live since 2020-06-01)
OPERATOR = "YPC-ZB01"
COMMANDER = "YPC-ZH01"
GATEWAY = "gateway"


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Take ``engine``'s schema back to ``revision`` by running the migrations down."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@contextmanager
def statements_sent(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends inside the block, in order (SQLAlchemy's: a
    COPY sent through the driver, as a group commit's rows are, is not among them)."""
    sent: list[str] = []

    def executed(_c: object, _k: object, statement: str, *_: object) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", executed)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", executed)


def write_commits(engine: sa.Engine) -> list[str]:
    """The commits of transactions that wrote, from now on (a unit of work left after reads
    only commits too, sending nothing that matters: those are not counted)."""
    seen: list[str] = []

    def committed(connection: sa.Connection) -> None:
        if connection.info.get(WROTE):
            seen.append("commit")

    sa.event.listen(engine, "commit", committed)
    return seen


class Passes(threading.Event):
    """A stop event for the worker's loop (``entrypoints.worker.run``) that records each
    wait the loop asks for instead of waiting, calls ``between`` (if given) with the waits
    so far, and stops the loop after ``passes`` of them: the loop driven pass by pass, no
    timer slept."""

    def __init__(self, passes: int, between: Callable[[list[float]], None] | None = None) -> None:
        super().__init__()
        self.passes = passes
        self.between = between
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        if self.between is not None:
            self.between(self.waits)
        if len(self.waits) >= self.passes:
            self.set()
        return self.is_set()


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "patrol",
        "subclass": "E0102",
        "description": "人行道上有暴露垃圾 / exposed rubbish on the pavement",
        "position": {"lng": CENTRE[0], "lat": CENTRE[1], "crs": "wgs84"},
        "observed_at": "2020-06-24T09:20:00+08:00",
        "hazard": False,
    }
    body.update(changes)
    return body


def patrol_member(client: TestClient, grid: str = G1) -> str:
    people = client.get(
        "/api/v1/people", params={"post": "patrol", "grid": grid, "limit": 1}
    ).json()["items"]
    return people[0]["number"]


def files(*images: bytes) -> list[tuple[str, tuple[str, io.BytesIO, str]]]:
    return [
        ("photos", (f"p{i}.png", io.BytesIO(data), "image/png")) for i, data in enumerate(images)
    ]


def as_reporter(client: TestClient, body: dict[str, Any]) -> dict[str, str]:
    """Reports come from the reporter's own account, or from the integration gateway."""
    auth = client.headers_for  # type: ignore[attr-defined]
    return dict(auth(body.get("reporter") or GATEWAY))


def submit(client: TestClient, body: dict[str, Any], key: str | None = None, **kwargs: Any):
    """POST /api/v1/cases as the reporter (JSON, or multipart when ``files`` are given)."""
    headers = as_reporter(client, body)
    if key:
        headers["Idempotency-Key"] = key
    if "files" in kwargs:
        return client.post(
            "/api/v1/cases", data={"case": json.dumps(body)}, headers=headers, **kwargs
        )
    return client.post("/api/v1/cases", json=body, headers=headers, **kwargs)


def login_csrf(client: TestClient) -> str:
    """The CSRF token of the sign-in page's form (``GET /login``), for ``POST /login``."""
    page = client.get("/login")
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


def do(client: TestClient, case_id: int, action: str, actor: str, **body: Any):
    """An action on a case by the person ``actor``."""
    auth = client.headers_for  # type: ignore[attr-defined]
    return client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=body, headers=auth(actor))
