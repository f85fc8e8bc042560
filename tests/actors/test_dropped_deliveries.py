"""Deliveries dropped at full mailboxes are counted, and logged at a bounded rate."""

from __future__ import annotations

import logging

import pytest

from actors._services import DroppedDeliveries


def test_a_burst_of_drops_is_one_line_then_one_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    dropped = DroppedDeliveries(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for user in range(1000):
            dropped.record(user)
        assert [r.getMessage() for r in caplog.records] == [
            "dropped 1 deliveries at full user mailboxes (the latest for user 0);"
            " their devices fill the gaps with sync"
        ]
        now[0] += DroppedDeliveries.LOG_INTERVAL
        dropped.record(7)
    assert caplog.records[-1].getMessage().startswith("dropped 1000 deliveries at full user mailboxes (the latest for user 7)")
    assert len(caplog.records) == 2
