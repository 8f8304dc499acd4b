"""The operator's view of the outbox (发件箱): what waits, what keeps failing and why, the
dead letters (死信) that gave up after the last attempt — and replaying them once the peer
is fixed. Every replay is audited."""

from __future__ import annotations

from dataclasses import dataclass

from chengyun.clock import Clock
from chengyun.domain.errors import Conflict, InvalidInput, NotFound, Problem
from chengyun.services.district_records import OutboxEntry
from chengyun.services.unit_of_work import UnitOfWork

#: dead: gave up; failing: tried and failed, will be tried again; pending: not delivered
#: yet (failing ones included); delivered: done.
STATES = ("dead", "failing", "pending", "delivered")


@dataclass(frozen=True)
class OutboxList:
    total: int
    counts: dict[str, int]
    items: list[OutboxEntry]


def list_messages(uow: UnitOfWork, state: str, limit: int = 50, offset: int = 0) -> OutboxList:
    """The messages in ``state``, newest first, and how many are dead, failing, pending."""
    if state not in STATES:
        raise InvalidInput(
            f"未知的状态 {state!r} / unknown state {state!r}",
            [Problem(("state",), f"one of {', '.join(STATES)}", "unknown")],
        )
    with uow.reader() as uow:
        total, items = uow.outbox_admin.entries(state, limit, offset)
        counts = uow.outbox_admin.counts()
    return OutboxList(total, counts, items)


def replay(uow: UnitOfWork, clock: Clock, actor: str, message_id: int) -> OutboxEntry:
    """Make one undelivered message due now with its attempts reset (a dead letter comes
    back to life); ``Conflict`` if it was delivered already."""
    with uow:
        now = clock.now()
        entry = uow.outbox_admin.entry(message_id)
        if entry is None:
            raise NotFound(f"没有编号为 {message_id} 的消息 / no outbox message {message_id}")
        if entry.delivered_at is not None:
            raise Conflict(
                f"消息 {message_id} 已送达 / message {message_id} was delivered already",
                [Problem(("message_id",), "only undelivered messages are replayed", "delivered")],
            )
        uow.outbox_admin.replay([message_id], now)
        uow.audit.append(
            now,
            actor,
            "outbox.replay",
            f"outbox:{message_id}",
            {
                "topic": entry.topic,
                "recipient": entry.recipient,
                "was": entry.state,
                "attempts": entry.attempts,
            },
        )
        uow.commit()
        replayed = uow.outbox_admin.entry(message_id)
    assert replayed is not None
    return replayed


def replay_dead(uow: UnitOfWork, clock: Clock, actor: str) -> list[int]:
    """Replay every dead letter at once (after an outage of a peer); their ids."""
    with uow:
        now = clock.now()
        ids = uow.outbox_admin.dead_ids()
        uow.outbox_admin.replay(ids, now)
        if ids:
            uow.audit.append(
                now, actor, "outbox.replay_dead", "outbox", {"count": len(ids), "ids": ids[:200]}
            )
        uow.commit()
    return ids
