"""Limits: the contract's defaults, and what an operator may not set."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from protocol import Limits


def test_the_defaults_are_the_contracts() -> None:
    limits = Limits()
    assert limits.max_body_chars == 100_000
    assert limits.max_group_members == 100
    assert limits.max_message_bytes == 1 << 20
    assert (limits.max_page, limits.default_page) == (500, 100)
    assert (limits.send_rate, limits.send_burst) == (20.0, 100)
    assert (limits.heartbeat, limits.idle_heartbeats) == (5, 6)
    assert limits.idle_timeout == 30


def test_operators_change_limits_by_evolving_them() -> None:
    limits = attrs.evolve(Limits(), max_group_members=200, heartbeat=10)
    assert (limits.max_group_members, limits.idle_timeout) == (200, 60)


@pytest.mark.parametrize(
    "change",
    [
        {"max_body_chars": 0},
        {"max_group_members": 1},
        {"max_page": 0},
        {"default_page": 501},
        {"max_page": 50},  # below the default page
        {"max_presence_users": 0},
        {"send_rate": 0},
        {"send_rate": -1.0},
        {"send_rate": float("nan")},
        {"send_rate": float("inf")},
        {"send_burst": 0},
        {"heartbeat": 0},
        {"idle_heartbeats": 1},
        {"heartbeat": True},
        {"max_body_chars": 1.5},
        {"max_body_chars": "100"},
        # A body at the limit, all 4-byte characters, must fit one message.
        {"max_body_chars": 300_000},
        {"max_message_bytes": 400_000},
    ],
)
def test_impossible_limits_are_refused_at_start_up(change: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        Limits(**change)


def test_a_larger_body_limit_is_fine_with_a_larger_message_limit() -> None:
    assert Limits(max_body_chars=300_000, max_message_bytes=2 << 20).max_body_chars == 300_000
