"""The security log keeps one line per kind per interval, and counts the rest."""

from __future__ import annotations

import logging

import pytest

from actors._security import SecurityEvent, SecurityLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_is_one_line_per_interval_with_the_count_left_out(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    security = SecurityLog(interval=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="chat.security"):
        for _ in range(1000):
            security.record(SecurityEvent.FAILED_LOGIN, username="alice", peer="10.0.0.1")
        clock.now = 10.0
        security.record(SecurityEvent.FAILED_LOGIN, username="alice", peer="10.0.0.1")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "failed_login username=alice peer=10.0.0.1",
        "failed_login username=alice peer=10.0.0.1 (+999 more since the last line)",
    ]


def test_each_kind_has_its_own_budget(caplog: pytest.LogCaptureFixture) -> None:
    security = SecurityLog(interval=10.0, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="chat.security"):
        security.record(SecurityEvent.FAILED_LOGIN, user=1)
        security.record(SecurityEvent.SLOW_CONSUMER, user=2)
        security.record(SecurityEvent.FAILED_LOGIN, user=3)
    assert [r.getMessage() for r in caplog.records] == ["failed_login user=1", "slow_consumer user=2"]
