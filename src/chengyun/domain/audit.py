"""The audit log's hash chain (审计留痕): each record carries the hash of the one before,
so that altering or removing a record breaks the chain where it happened."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


def record_hash(
    prev_hash: str, at: datetime, actor: str, action: str, target: str, details: Mapping[str, Any]
) -> str:
    body = json.dumps(
        [prev_hash, at.astimezone(UTC).isoformat(), actor, action, target, details],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    record_id: int
    reason: str


def verify_chain(records: Iterable[AuditRecord], start: str = GENESIS) -> list[ChainBreak]:
    """Every place where the chain does not hold, in order (empty when intact).

    ``start`` is the hash the first record must follow: ``GENESIS`` for a log kept whole,
    or the hash of the last record archived when older months were taken out of it."""
    breaks: list[ChainBreak] = []
    previous = start
    first = True
    for record in records:
        if record.prev_hash != previous:
            breaks.append(ChainBreak(record.id, _START_MISSED if first else _PREDECESSOR_GONE))
        expected = record_hash(
            record.prev_hash, record.at, record.actor, record.action, record.target, record.details
        )
        if expected != record.hash:
            breaks.append(ChainBreak(record.id, "记录内容被修改 / the record was altered"))
        previous = record.hash
        first = False
    return breaks


_PREDECESSOR_GONE = "前一条记录被删除或修改 / the record before it was removed or altered"
_START_MISSED = (
    "首条记录未接续起点：之前的记录被删除或修改，或已归档 / the first record does not follow "
    "the start: the records before it were removed or altered — or archived: then check "
    "from the hash of the last record archived"
)


def is_chain_hash(value: str) -> bool:
    """A record's hash as the log writes it: 64 lowercase hexadecimal digits."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
