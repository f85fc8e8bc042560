"""No input from a peer makes the session raise: every message has a defined answer."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Close, Dispatch, Err, Ok, ProtocolSession
from protocol._requests import REQUEST_TYPES

from .conftest import authenticate
from .strategies import msgpack_scalars, msgpack_values


def sessions() -> list[ProtocolSession]:
    return [ProtocolSession(now=0.0), authenticate(ProtocolSession(now=0.0))]


def check(outputs: list[object]) -> None:
    """The shapes the contract allows for one received message."""
    assert outputs, "every message gets an answer"
    if isinstance(outputs[-1], Close):
        assert all(isinstance(out, Err) and out.id is None for out in outputs[:-1])
    else:
        [out] = outputs
        assert isinstance(out, Dispatch | Ok | Err)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    for session in sessions():
        check(session.receive_bytes(data, 1.0))


@given(st.text(max_size=50))
def test_arbitrary_text(data: str) -> None:
    for session in sessions():
        check(session.receive_text(data, 1.0))


@given(msgpack_values)
def test_arbitrary_msgpack_values(value: Any) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    for session in sessions():
        check(session.receive_bytes(data, 1.0))


request_types = st.sampled_from(sorted(REQUEST_TYPES))
field_names = st.sampled_from(
    [
        "username",
        "password",
        "device",
        "token",
        "user",
        "name",
        "members",
        "channel",
        "users",
        "body",
        "cid",
        "after",
        "before",
        "limit",
        "seq",
        "kind",
        "endpoint",
        "id",
    ]
) | st.text(max_size=8)


# Nesting is covered above; here the values are the shapes fields take.
field_values = msgpack_scalars | st.lists(
    st.integers(-(2**63), 2**64 - 1) | msgpack_scalars, max_size=5
)


@settings(max_examples=300)
@given(
    t=request_types | msgpack_scalars,
    request_id=st.integers(-5, 2**64 - 1) | msgpack_scalars,
    fields=st.dictionaries(field_names, field_values, max_size=8),
)
def test_arbitrary_maps_get_one_answer_echoing_a_valid_id(
    t: Any, request_id: Any, fields: dict[str, Any]
) -> None:
    frame = {**fields, "t": t, "id": request_id}
    data = msgpack.packb(frame, use_bin_type=True)
    valid_id = type(request_id) is int and 0 <= request_id < 2**63
    for session in sessions():
        outputs = session.receive_bytes(data, 1.0)
        check(outputs)
        if not isinstance(outputs[-1], Close):
            [out] = outputs
            answered = out.request.id if isinstance(out, Dispatch) else out.id
            assert answered == (request_id if valid_id else None)
