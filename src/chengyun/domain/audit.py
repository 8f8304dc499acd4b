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


def verify_chain(records: Iterable[AuditRecord]) -> list[ChainBreak]:
    """Every place where the chain does not hold, in order (empty when intact)."""
    breaks: list[ChainBreak] = []
    previous = GENESIS
    for record in records:
        if record.prev_hash != previous:
            breaks.append(
                ChainBreak(
                    record.id,
                    "前一条记录被删除或修改 / the record before it was removed or altered",
                )
            )
        expected = record_hash(
            record.prev_hash, record.at, record.actor, record.action, record.target, record.details
        )
        if expected != record.hash:
            breaks.append(ChainBreak(record.id, "记录内容被修改 / the record was altered"))
        previous = record.hash
    return breaks
