"""Outbound HTTP for the peers (district platform, government WeChat, SMS gateway): JSON over
the standard library, so that an intranet deployment needs nothing more.

A failure of any kind raises :class:`PeerError`; the outbox then retries with backoff.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any


class PeerError(Exception):
    """The peer did not take the request (network failure, non-2xx answer, bad JSON)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def request_json(
    method: str,
    url: str,
    payload: Any = None,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Any:
    """Send ``payload`` as JSON (if given) and answer the decoded JSON reply."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
    data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode("utf-8", "replace")
        raise PeerError(f"{method} {url} answered {error.code}: {detail}", error.code) from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise PeerError(f"{method} {url} failed: {error}") from error
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as error:
        raise PeerError(f"{method} {url} answered something that is not JSON") from error


def post_json(url: str, payload: Any, **options: Any) -> Any:
    return request_json("POST", url, payload, **options)


def get_json(url: str, **options: Any) -> Any:
    return request_json("GET", url, **options)
