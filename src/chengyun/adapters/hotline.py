"""The 12345 hotline's receiving end: what the outbox tells the hotline (signed, caller
contacted, result, returned) is POSTed as JSON to its configured address."""

from __future__ import annotations

from dataclasses import dataclass

from chengyun.adapters.http import post_json
from chengyun.config import Settings
from chengyun.services.delivery import Sender
from chengyun.services.records import PendingMessage


@dataclass(frozen=True)
class HotlineSender:
    """POSTs ``{"topic", "message_id", **payload}`` to ``url``; a failure raises
    ``PeerError`` and the outbox tries again later. ``message_id`` lets the hotline drop
    a message it already took (delivery is at least once)."""

    url: str
    token: str | None = None
    timeout: float = 10.0

    def send(self, message: PendingMessage) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        post_json(
            self.url,
            {"topic": message.topic, "message_id": message.id, **message.payload},
            headers=headers,
            timeout=self.timeout,
        )


def hotline_routes(settings: Settings) -> dict[str, Sender]:
    """The outbox route of topics ``hotline.*`` when the hotline's address is set (else
    the default sender records them)."""
    if not settings.hotline_result_url:
        return {}
    return {"hotline": HotlineSender(settings.hotline_result_url, settings.hotline_result_token)}
