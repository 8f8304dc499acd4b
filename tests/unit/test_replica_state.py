"""The read replica's state (``Replica``), on a driven clock: after a failure it is not
tried again for ``retry_s`` seconds, then it is; each outage and recovery is logged once."""

from __future__ import annotations

import logging

import pytest

from chengyun.adapters.db.unit_of_work import Replica


def test_a_replica_found_down_is_tried_again_after_the_interval_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    replica = Replica(retry_s=10, monotonic=lambda: now[0])
    assert replica.worth_trying() and not replica.down and replica.error is None
    with caplog.at_level(logging.WARNING):
        replica.failed(ConnectionRefusedError("connection refused\nis the server running?"))
        assert replica.down and replica.error == "ConnectionRefusedError: connection refused"
        now[0] = 109.9
        assert not replica.worth_trying()
        now[0] = 110.0
        assert replica.worth_trying()
        replica.failed(OSError(""))  # tried again, still down: the next try 10 s on
        assert replica.error == "OSError: "
        now[0] = 119.0
        assert not replica.worth_trying()
        now[0] = 125.0
        replica.answered()
        replica.answered()  # answering again is no news
    assert not replica.down and replica.error is None and replica.worth_trying()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "unreachable or behind" in messages[0] and "connection refused" in messages[0]
    assert "answers again, after 25 s on the primary" in messages[1]
