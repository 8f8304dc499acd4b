"""Delivery of the outbox (发件箱): messages written with the change that caused them are
sent after commit, with retries, backoff and a dead-letter state an operator can see."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from chengyun.clock import Clock
from chengyun.services.records import PendingMessage
from chengyun.services.unit_of_work import UnitOfWork

MAX_ATTEMPTS = 8
#: messages a delivery round takes (one transaction)
ROUND = 200
#: rounds a worker pass takes at most (``deliver_due``): 2,000 messages, then the sweep
ROUNDS = 10


class Sender(Protocol):
    def send(self, message: PendingMessage) -> None:
        """Deliver one message or raise; a raise means: try again later."""
        ...


@runtime_checkable
class RoundSender(Protocol):
    """A sender that prepares for a delivery round (reads once what every message of the
    round needs): ``deliver_outbox`` sends its round inside ``round()``."""

    def send(self, message: PendingMessage) -> None: ...

    def round(self) -> AbstractContextManager[None]: ...


@contextmanager
def round_of(sender: Sender) -> Iterator[None]:
    """``sender``'s round, or nothing to prepare."""
    if isinstance(sender, RoundSender):
        with sender.round():
            yield
    else:
        yield


@dataclass
class RecordingSender:
    """Delivers by recording: the platform shows "notified X at T" until the real channels
    (government WeChat, SMS, the district platform) are connected."""

    sent: list[PendingMessage] = field(default_factory=list)

    def send(self, message: PendingMessage) -> None:
        self.sent.append(message)


@dataclass
class RoutingSender:
    """Hands each message to the peer that carries its topic: the part of the topic before
    the first dot (``district.escalate`` → ``district``) picks a route; everything else —
    the notifications to people — goes to ``default``."""

    routes: dict[str, Sender]
    default: Sender

    def send(self, message: PendingMessage) -> None:
        route = self.routes.get(message.topic.split(".", 1)[0], self.default)
        route.send(message)

    @contextmanager
    def round(self) -> Iterator[None]:
        """The rounds of the peers that prepare for one (each once, however many topics
        it carries)."""
        peers = {id(s): s for s in (*self.routes.values(), self.default)}
        with ExitStack() as stack:
            for sender in peers.values():
                stack.enter_context(round_of(sender))
            yield


@dataclass(frozen=True)
class DeliveryResult:
    delivered: int
    failed: int
    dead: int

    def __add__(self, other: DeliveryResult) -> DeliveryResult:
        return DeliveryResult(
            self.delivered + other.delivered, self.failed + other.failed, self.dead + other.dead
        )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … up to an hour between tries."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=1))


def deliver_outbox(
    uow: UnitOfWork,
    clock: Clock,
    sender: Sender,
    batch: int = ROUND,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryResult:
    """One round: send what is due, ``batch`` messages at most, inside the sender's
    ``round()`` if it has one (``RoundSender``); safe on several workers (rows are locked,
    locked ones skipped)."""
    failed = dead = 0
    sent: list[int] = []
    with uow:
        now: datetime = clock.now()
        pending = uow.outbox.pending(now, batch)
        with round_of(sender) if pending else nullcontext():
            for message in pending:
                try:
                    sender.send(message)
                except Exception as exc:  # any failure of a peer: retry later, never lose it
                    attempts = message.attempts + 1
                    gives_up = attempts >= max_attempts
                    uow.outbox.failed(
                        message.id,
                        f"{type(exc).__name__}: {exc}",
                        now + backoff(attempts),
                        gives_up,
                    )
                    failed += 1
                    dead += int(gives_up)
                    continue
                sent.append(message.id)
        # the round's deliveries in one statement, committed with its failures
        uow.outbox.delivered(sent, now)
        uow.commit()
    return DeliveryResult(len(sent), failed, dead)


def deliver_due(
    uow: Callable[[], UnitOfWork],
    clock: Clock,
    sender: Sender,
    *,
    batch: int = ROUND,
    rounds: int = ROUNDS,
) -> DeliveryResult:
    """Rounds of ``deliver_outbox`` while each delivers a full round, ``rounds`` at most:
    what a worker's pass delivers. One round a pass would cap delivery at ``batch``
    messages a pass (a second), and a busy hour queueing more would never catch up; the
    cap on the rounds leaves the next sweep its turn, and a round in which a peer failed
    ends the pass (its messages wait for their backoff; the others are taken next pass,
    rather than a peer that is down being tried ten rounds running)."""
    total = DeliveryResult(0, 0, 0)
    for _ in range(rounds):
        done = deliver_outbox(uow(), clock, sender, batch)
        total += done
        if done.delivered < batch:
            break
    return total
