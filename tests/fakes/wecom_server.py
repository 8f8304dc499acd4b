"""A local government WeChat (政务微信 / WeCom) server for tests: the documented endpoints
(gettoken, message/send, auth/getuserinfo, the OAuth authorize page) with token expiry
and error codes, plus an HTTP SMS gateway. Run it with :func:`running`.

Behaviour follows the WeCom documentation: a token stays the same while it is valid
(``gettoken`` answers the current one), a stale token is refused with 42001 (expired) or
40014 (unknown), a message to no reachable member fails with 81013 while a partly
unknown list answers ``invaliduser``, ``enable_duplicate_check`` drops a repeat of the
same request JSON, and a sign-in code can be used once (40029 otherwise).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.servers import served

CORP_ID = "ww-test-corp"
SECRET = "test-secret"
AGENT_ID = 1000002
SMS_KEY = "sms-key"


@dataclass
class Token:
    value: str
    issued: float
    calls: int = 0
    revoked: bool = False


@dataclass
class FakeWeCom:
    """The server's state; tests change it between calls."""

    users: set[str] = field(default_factory=set)
    token_seconds: float = 7200
    expire_after_calls: int | None = None
    """A token is expired after this many message/send calls made with it."""
    down: bool = False
    """Every endpoint answers 503 (the peer is unavailable)."""
    rate_limited: int = 0
    """The next n message/send calls answer 45009."""
    busy: int = 0
    """The next n message/send calls answer -1."""
    lose_answers: int = 0
    """The next n message/send calls are carried out but answered with 502 (lost answer)."""
    sms_down: bool = False
    signed_in: str | None = None
    """Who the authorize page signs in (a userid), or an ``openid:…`` for a non-member."""
    tokens: list[Token] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    """One entry per member a card reached: touser, title, description, url, btntxt."""
    sms: list[dict[str, Any]] = field(default_factory=list)
    gettoken_calls: int = 0
    send_calls: int = 0
    codes: dict[str, str] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- helpers for tests ----------------------------------------------------------

    def expire_token(self) -> None:
        """The current token stops working now (as if its two hours were over)."""
        with self.lock:
            for token in self.tokens:
                token.revoked = True

    def issue_code(self, userid: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = userid
        return code

    # --- the rules ------------------------------------------------------------------

    def _current(self) -> Token | None:
        if not self.tokens:
            return None
        token = self.tokens[-1]
        return None if self._expired(token) else token

    def _expired(self, token: Token) -> bool:
        return (
            token.revoked
            or time.monotonic() - token.issued > self.token_seconds
            or (self.expire_after_calls is not None and token.calls >= self.expire_after_calls)
        )

    def check_token(self, value: str | None) -> dict[str, Any] | Token:
        known = next((t for t in self.tokens if t.value == value), None)
        if known is None:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        if self._expired(known):
            return {"errcode": 42001, "errmsg": "access_token expired"}
        return known


def _unavailable() -> Response:
    return JSONResponse({"error": "service unavailable"}, status_code=503)


def build_app(fake: FakeWeCom) -> FastAPI:
    app = FastAPI()

    @app.get("/cgi-bin/gettoken")
    def gettoken(corpid: str = "", corpsecret: str = "") -> Response:
        if fake.down:
            return _unavailable()
        with fake.lock:
            fake.gettoken_calls += 1
            if corpid != CORP_ID:
                return JSONResponse({"errcode": 40013, "errmsg": "invalid corpid"})
            if corpsecret != SECRET:
                return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
            token = fake._current()
            if token is None:
                token = Token(secrets.token_urlsafe(24), time.monotonic())
                fake.tokens.append(token)
            left = int(fake.token_seconds - (time.monotonic() - token.issued))
            return JSONResponse(
                {"errcode": 0, "errmsg": "ok", "access_token": token.value, "expires_in": left}
            )

    @app.post("/cgi-bin/message/send")
    async def send(request: Request, access_token: str | None = None) -> Response:
        if fake.down:
            return _unavailable()
        body = await request.json()
        with fake.lock:
            fake.send_calls += 1
            token = fake.check_token(access_token)
            if isinstance(token, dict):
                return JSONResponse(token)
            token.calls += 1
            if fake.rate_limited:
                fake.rate_limited -= 1
                return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
            if fake.busy:
                fake.busy -= 1
                return JSONResponse({"errcode": -1, "errmsg": "system busy"})
            card = body.get("textcard") or {}
            if (
                body.get("msgtype") != "textcard"
                or body.get("agentid") != AGENT_ID
                or not card.get("title")
                or not card.get("description")
                or not card.get("url")
                or len(card["title"].encode()) > 128
                or len(card["description"].encode()) > 512
                or len(card.get("btntxt", "")) > 4
            ):
                return JSONResponse({"errcode": 40058, "errmsg": f"invalid parameter: {body}"})
            wanted = [u for u in str(body.get("touser", "")).split("|") if u]
            valid = [u for u in wanted if u.lower() in fake.users]
            invalid = [u.lower() for u in wanted if u.lower() not in fake.users]
            if not valid:
                return JSONResponse({"errcode": 81013, "errmsg": "user & party & tag all invalid"})
            key = json.dumps(body, sort_keys=True, ensure_ascii=False)
            now = time.monotonic()
            repeat = (
                body.get("enable_duplicate_check") == 1
                and key in fake.seen
                and now - fake.seen[key] < int(body.get("duplicate_check_interval", 1800))
            )
            if not repeat:
                fake.seen[key] = now
                for user in valid:
                    fake.messages.append({"touser": user, **card})
            answer = {
                "errcode": 0,
                "errmsg": "ok",
                "invaliduser": "|".join(invalid),
                "msgid": secrets.token_hex(8),
            }
            if fake.lose_answers:
                fake.lose_answers -= 1
                return JSONResponse({"error": "bad gateway"}, status_code=502)
            return JSONResponse(answer)

    @app.get("/cgi-bin/auth/getuserinfo")
    def getuserinfo(access_token: str | None = None, code: str = "") -> Response:
        if fake.down:
            return _unavailable()
        with fake.lock:
            token = fake.check_token(access_token)
            if isinstance(token, dict):
                return JSONResponse(token)
            who = fake.codes.pop(code, None)
            if who is None:
                return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
            if who.startswith("openid:"):
                return JSONResponse({"errcode": 0, "errmsg": "ok", "openid": who[7:]})
            return JSONResponse({"errcode": 0, "errmsg": "ok", "userid": who})

    @app.get("/connect/oauth2/authorize")
    def authorize(
        appid: str = "", redirect_uri: str = "", state: str = "", scope: str = ""
    ) -> Response:
        if appid != CORP_ID or scope != "snsapi_base" or fake.signed_in is None:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"}, status_code=400)
        code = fake.issue_code(fake.signed_in)
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
        )

    @app.post("/sms")
    async def sms(request: Request) -> Response:
        if fake.sms_down:
            return _unavailable()
        body = await request.json()
        if body.get("key") != SMS_KEY:
            return JSONResponse({"ok": False, "error": "bad key"})
        with fake.lock:
            if all(s["reference"] != body.get("reference") for s in fake.sms):
                fake.sms.append(body)
        return JSONResponse({"ok": True})

    return app


@contextmanager
def running(fake: FakeWeCom | None = None) -> Iterator[FakeWeCom]:
    """The fake on a free port in a thread; ``fake.url`` is its base address."""
    fake = fake or FakeWeCom()
    with served(build_app(fake), name="fake-wecom") as url:
        fake.url = url
        yield fake
