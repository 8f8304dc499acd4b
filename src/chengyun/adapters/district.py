"""The district link's sender: carries the outbox's district messages to the linked
platforms as JSON over HTTP (``POST {base}/api/v1/district/messages``, bearer token).

Any failure raises (``PeerError``), so the outbox keeps the message and tries again with
backoff; the peer answers a repeated message id as it did the first time, so a retry after a
lost answer does no harm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chengyun.adapters.http import PeerError, post_json
from chengyun.clock import Clock
from chengyun.config import Settings
from chengyun.services.cases import DISTRICT
from chengyun.services.delivery import Sender
from chengyun.services.district import (
    CASE_UP,
    UPSTREAM,
    came_from_upstream,
    case_message,
    escalation_reason,
    up_message_id,
)
from chengyun.services.records import CaseRecord, PendingMessage
from chengyun.services.unit_of_work import UnitOfWork

PATH = "/api/v1/district/messages"


@dataclass(frozen=True)
class Peer:
    """A linked platform: its base URL and this platform's bearer token there."""

    url: str
    token: str

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + PATH


@dataclass
class DistrictSender:
    """Sends ``district`` (the engine's escalations and forwards, built into ``case.up``
    here), ``district.status`` and ``district.down`` messages to the peer they name."""

    code: str
    clock: Clock
    load_case: Callable[[int], CaseRecord | None]
    upstream: Peer | None = None
    peers: dict[str, Peer] = field(default_factory=dict)
    timeout: float = 10.0

    def send(self, message: PendingMessage) -> None:
        if message.topic == DISTRICT:
            if self.upstream is None:  # no district above this one: recorded as notified
                return
            body = self._case_up(message)
            if body is None:
                return
            peer: Peer | None = self.upstream
        else:
            body = dict(message.payload)
            recipient = message.recipient
            peer = self.upstream if recipient == UPSTREAM else self.peers.get(recipient)
        if peer is None:
            raise PeerError(
                f"未配置对接平台 {message.recipient} / no linked platform {message.recipient}: "
                "set CHENGYUN_DISTRICT_URL or CHENGYUN_DISTRICT_PEERS, then replay"
            )
        answer = post_json(
            peer.endpoint,
            body,
            headers={"Authorization": f"Bearer {peer.token}"},
            timeout=self.timeout,
        )
        if not isinstance(answer, dict) or answer.get("message_id") != body.get("message_id"):
            raise PeerError(f"{peer.endpoint} answered without the message id: {answer!r:.200}")

    def _case_up(self, message: PendingMessage) -> dict[str, Any] | None:
        if message.case_id is None:
            raise PeerError("升级消息没有案件 / the escalation names no case")
        record = self.load_case(message.case_id)
        if record is None:
            raise PeerError(f"案件 {message.case_id} 不存在 / case {message.case_id} is gone")
        if came_from_upstream(record):
            return None  # the district's own case: its status goes back, not the case
        number = record.case.number
        return case_message(
            record,
            CASE_UP,
            up_message_id(self.code, number),
            self.code,
            self.clock.now(),
            escalation_reason(record),
        )


def district_routes(
    settings: Settings, clock: Clock, uow: Callable[[], UnitOfWork]
) -> dict[str, Sender]:
    """The ``district`` route when a district or a sub-district is configured, else none
    (the engine's escalations to the district then stay with the default sender)."""
    if not (settings.district_url or settings.district_peers):
        return {}

    def load_case(case_id: int) -> CaseRecord | None:
        with uow() as unit:
            return unit.cases.get(case_id)

    upstream = None
    if settings.district_url:
        upstream = Peer(settings.district_url, settings.district_token or "")
    peers = {code: Peer(p["url"], p["token"]) for code, p in settings.district_peers.items()}
    sender = DistrictSender(
        settings.district_code,
        clock,
        load_case,
        upstream,
        peers,
        settings.district_timeout_seconds,
    )
    return {DISTRICT: sender}
