"""A small client of government WeChat (政务微信, the government edition of 企业微信 WeCom):
the access token, application messages (text cards) and the web sign-in's code → user id.

Government deployments run their own server, so the API base and the authorize page are
settings. Documented error codes are turned into typed errors: a stale token is refreshed
once and the call repeated; a rate limit or a busy server is raised for the outbox to try
again later; a user the server does not know is raised for the caller to fall back on SMS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from chengyun.adapters.http import PeerError, request_json
from chengyun.clock import Clock

#: Refused tokens: 40014 invalid access_token, 42001 expired, 40001 invalid credential.
STALE_TOKEN = frozenset({40014, 42001, 40001})
RATE_LIMITED = frozenset({45009, 45033})
UNKNOWN_USER = frozenset({81013, 60111})
BUSY = -1
INVALID_CODE = frozenset({40029, 50001, 40031})
#: Refresh a token this long before it expires (clocks of the two sides differ a little).
EARLY = timedelta(minutes=5)
#: WeCom drops a message whose JSON it has seen within this interval (at most 4 hours):
#: an outbox retry after a lost answer then reaches the phone only once.
DUPLICATE_CHECK_SECONDS = 4 * 3600


class WeComError(PeerError):
    """Government WeChat answered with an error code (``errcode`` ≠ 0)."""

    def __init__(self, errcode: int, errmsg: str, call: str) -> None:
        super().__init__(
            f"政务微信 {call} 返回错误 {errcode} / government WeChat {call} "
            f"answered {errcode}: {errmsg}"
        )
        self.errcode = errcode
        self.errmsg = errmsg


class StaleToken(WeComError):
    """The access token was refused even after fetching a new one."""


class RateLimited(WeComError):
    """Too many calls (45009): try again later."""


class Busy(WeComError):
    """The server is busy (-1): try again later."""


class UnknownUser(WeComError):
    """None of the recipients is a member the application can reach (81013, 60111)."""


class InvalidCode(WeComError):
    """The sign-in code is wrong, used or expired (40029)."""


class NotAMember(PeerError):
    """The sign-in came from someone who is not a member of the organisation (an openid,
    no userid)."""


def _error(errcode: int, errmsg: str, call: str) -> WeComError:
    kind: type[WeComError] = WeComError
    if errcode in STALE_TOKEN:
        kind = StaleToken
    elif errcode in RATE_LIMITED:
        kind = RateLimited
    elif errcode == BUSY:
        kind = Busy
    elif errcode in UNKNOWN_USER:
        kind = UnknownUser
    elif errcode in INVALID_CODE:
        kind = InvalidCode
    return kind(errcode, errmsg, call)


class TokenStore(Protocol):
    """Where processes share the access token (a table); best effort — a store that cannot
    be written only costs another ``gettoken``."""

    def load(self, corp_id: str, agent: str) -> tuple[str, datetime] | None: ...
    def save(self, corp_id: str, agent: str, token: str, expires_at: datetime) -> None: ...
    def forget(self, corp_id: str, agent: str, token: str) -> None: ...


@dataclass(frozen=True)
class TextCard:
    """An application message of type ``textcard``: title (≤128 bytes), description
    (≤512 bytes, a few ``<div class="gray|normal|highlight">`` allowed), a link and a
    button text (≤4 characters)."""

    title: str
    description: str
    url: str
    button: str = "详情"


@dataclass(frozen=True)
class SendResult:
    msgid: str
    invalid_users: frozenset[str]


@dataclass
class WeComClient:
    """One corp's application (``agent_id``) at ``base_url``; thread-safe."""

    base_url: str
    corp_id: str
    secret: str
    agent_id: int
    clock: Clock
    store: TokenStore | None = None
    authorize_base: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._lock = threading.Lock()
        self._token: tuple[str, datetime] | None = None
        # tokens the server refused: a store that could not be written must not hand
        # one of them back
        self._refused: list[str] = []

    # --- the access token -------------------------------------------------------------

    @property
    def _agent(self) -> str:
        return str(self.agent_id)

    def access_token(self) -> str:
        """The cached token while it is valid, else one from the store, else a new one."""
        with self._lock:
            now = self.clock.now()
            if self._token is not None and self._token[1] - EARLY > now:
                return self._token[0]
            if self.store is not None:
                stored = self.store.load(self.corp_id, self._agent)
                if (
                    stored is not None
                    and stored[1] - EARLY > now
                    and stored[0] not in self._refused
                ):
                    self._token = stored
                    return stored[0]
            return self._fetch_token(now)

    def _fetch_token(self, now: datetime) -> str:
        try:
            answer = self._get(
                "/cgi-bin/gettoken",
                {"corpid": self.corp_id, "corpsecret": self.secret},
                "gettoken",
            )
        except StaleToken as refused:  # 40001 here: the secret itself is wrong
            raise WeComError(
                refused.errcode,
                f"{refused.errmsg} — 请检查 CHENGYUN_WECOM_CORP_ID / CHENGYUN_WECOM_SECRET "
                "(check the corp id and secret)",
                "gettoken",
            ) from refused
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise PeerError("政务微信 gettoken 未返回令牌 / gettoken answered without a token")
        seconds = answer.get("expires_in")
        lifetime = timedelta(seconds=seconds if isinstance(seconds, int) else 7200)
        self._token = (token, now + lifetime)
        if self.store is not None:
            self.store.save(self.corp_id, self._agent, token, now + lifetime)
        return token

    def _drop(self, token: str) -> None:
        """Forget a token the server refused, here and in the store."""
        with self._lock:
            if self._token is not None and self._token[0] == token:
                self._token = None
            self._refused = [*self._refused[-9:], token]
        if self.store is not None:
            self.store.forget(self.corp_id, self._agent, token)

    # --- calls --------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str], call: str) -> dict[str, Any]:
        return self._checked(
            request_json("GET", self.base_url + path, params=params, timeout=self.timeout), call
        )

    @staticmethod
    def _checked(answer: Any, call: str) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise PeerError(f"政务微信 {call} 答复格式错误 / {call} answered no JSON object")
        errcode = answer.get("errcode", 0)
        if errcode not in (0, None):
            raise _error(int(errcode), str(answer.get("errmsg", "")), call)
        return answer

    def _with_token(
        self, method: str, path: str, call: str, params: dict[str, str], payload: Any = None
    ) -> dict[str, Any]:
        """Call with the token; a refused token is dropped, a new one fetched, the call
        repeated once."""
        for attempt in (1, 2):
            token = self.access_token()
            answer = request_json(
                method,
                self.base_url + path,
                payload,
                params={"access_token": token, **params},
                timeout=self.timeout,
            )
            try:
                return self._checked(answer, call)
            except StaleToken:
                self._drop(token)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def send_textcard(self, userids: list[str], card: TextCard) -> SendResult:
        """Send ``card`` to members; ``UnknownUser`` when none of them can be reached, else
        the ones that could not in ``invalid_users`` (lower-cased, as the server answers)."""
        payload = {
            "touser": "|".join(userids),
            "msgtype": "textcard",
            "agentid": self.agent_id,
            "textcard": {
                "title": card.title,
                "description": card.description,
                "url": card.url,
                "btntxt": card.button,
            },
            "enable_duplicate_check": 1,
            "duplicate_check_interval": DUPLICATE_CHECK_SECONDS,
        }
        answer = self._with_token("POST", "/cgi-bin/message/send", "message/send", {}, payload)
        invalid = str(answer.get("invaliduser") or "")
        return SendResult(
            str(answer.get("msgid", "")),
            frozenset(u.lower() for u in invalid.split("|") if u),
        )

    def send_card(self, userids: list[str], title: str, description: str, url: str) -> set[str]:
        """``send_textcard`` for the staff sender: the user ids it could not reach."""
        try:
            result = self.send_textcard(userids, TextCard(title, description, url))
        except UnknownUser:
            return {u.lower() for u in userids}
        return set(result.invalid_users)

    def user_for_code(self, code: str) -> str:
        """The member's user id for a sign-in ``code`` (``InvalidCode``, ``NotAMember``)."""
        answer = self._with_token("GET", "/cgi-bin/auth/getuserinfo", "getuserinfo", {"code": code})
        userid = answer.get("userid") or answer.get("UserId")
        if not isinstance(userid, str) or not userid:
            raise NotAMember(
                "不是本单位政务微信成员 / the sign-in is not from a member of the organisation"
            )
        return userid

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where the browser goes to sign in (silent ``snsapi_base`` inside the app)."""
        query = urlencode(
            {
                "appid": self.corp_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "snsapi_base",
                "state": state,
                "agentid": self.agent_id,
            }
        )
        return f"{self.authorize_base}?{query}#wechat_redirect"
