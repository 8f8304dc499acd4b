"""A delivery round around the senders that prepare for one (``RoundSender``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chengyun.services.delivery import RecordingSender, RoutingSender, round_of
from chengyun.services.records import PendingMessage


class Preparing:
    """A sender that notes its rounds and whether a message came inside one."""

    def __init__(self) -> None:
        self.rounds = 0
        self.inside = False
        self.sent_inside: list[bool] = []

    @contextmanager
    def round(self) -> Iterator[None]:
        self.rounds += 1
        self.inside = True
        try:
            yield
        finally:
            self.inside = False

    def send(self, message: PendingMessage) -> None:
        self.sent_inside.append(self.inside)


def _message(topic: str) -> PendingMessage:
    return PendingMessage(1, topic, "P1", {}, 0, None)


def test_a_routing_sender_enters_each_peer_s_round_once() -> None:
    # the same peer for two topics and as the default: one round, held to the end
    peer = Preparing()
    routing = RoutingSender({"district": peer, "hotline": peer}, peer)
    with round_of(routing):
        for topic in ("district.escalate", "hotline.reply", "task"):
            routing.send(_message(topic))
    assert peer.rounds == 1 and peer.sent_inside == [True, True, True]
    assert not peer.inside


def test_a_sender_without_a_round_is_sent_to_as_it_is() -> None:
    recording = RecordingSender()
    with round_of(recording):
        recording.send(_message("task"))
    assert [m.topic for m in recording.sent] == ["task"]
