"""SMS (短信) for staff without the government WeChat app: a sender interface and one
implementation over an HTTP gateway that takes JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from chengyun.adapters.http import PeerError, post_json


class SmsSender(Protocol):
    def send(self, to: str, text: str, reference: str) -> None:
        """Send ``text`` to the mobile number ``to`` or raise ``PeerError``;
        ``reference`` names the message so that a gateway can drop a repeat."""
        ...


@dataclass
class HttpSmsGateway:
    """POSTs ``{"to", "text", "key", "reference"}`` to ``url``; a non-2xx answer or
    ``{"ok": false}`` is a failure (the outbox tries again later)."""

    url: str
    key: str = ""
    timeout: float = 10.0

    def send(self, to: str, text: str, reference: str) -> None:
        answer = post_json(
            self.url,
            {"to": to, "text": text, "key": self.key, "reference": reference},
            timeout=self.timeout,
        )
        if isinstance(answer, dict) and answer.get("ok") is False:
            reason = answer.get("error") or answer.get("message") or "ok: false"
            raise PeerError(f"短信网关拒绝发送 / the SMS gateway refused the message: {reason}")


@dataclass
class RecordingSms:
    """Keeps what would have been sent (tests, and installations without a gateway)."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, text: str, reference: str) -> None:
        self.sent.append((to, text, reference))
