"""Sessions in a known state, and frames written as plain maps.

Tests talk to the session the way a driver does: msgpack bytes in, typed
outputs back. Time is a float the test chooses; there is no event loop.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from protocol import AuthResult, Dispatch, Limits, Ok, Output, ProtocolSession

USER, DEVICE = 41, 42


def pack(fields: dict[str, Any]) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)


def receive(session: ProtocolSession, fields: dict[str, Any], now: float = 1.0) -> list[Output]:
    return session.receive_bytes(pack(fields), now)


def authenticate(session: ProtocolSession) -> ProtocolSession:
    [dispatch] = receive(session, {"t": "auth", "id": 1, "token": "t0ken"})
    assert isinstance(dispatch, Dispatch)
    session.answer(dispatch.request, Ok(1, AuthResult(USER, DEVICE, heartbeat=5)))
    return session


@pytest.fixture
def fresh() -> ProtocolSession:
    return ProtocolSession(now=0.0)


@pytest.fixture
def authed() -> ProtocolSession:
    return authenticate(ProtocolSession(now=0.0, limits=Limits()))
