"""Decoding the node's frames into typed replies and events, and refusing malformed ones."""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from client import (
    ByeEvent,
    ChannelEvent,
    ChannelKind,
    ChatError,
    ErrorCode,
    Message,
    NotMember,
    PresenceEvent,
    ProtocolError,
    RateLimited,
    ReceiptEvent,
    TypingEvent,
    error_for,
)
from client._wire import Err, Ok, decode, encode

MSG: dict[str, Any] = {"channel": 7, "seq": 3, "sender": 11, "device": 12, "body": "hi ☃", "ts": 1_700_000_000_000, "cid": "c1"}


def pack(frame: Any) -> bytes:
    data: bytes = msgpack.packb(frame, use_bin_type=True)
    return data


def test_encode_is_msgpack_with_str_keys_and_bin_for_bytes() -> None:
    data = encode({"t": "send", "id": 1, "body": "é", "blob": b"\x00"})
    assert msgpack.unpackb(data, raw=False) == {"t": "send", "id": 1, "body": "é", "blob": b"\x00"}


def test_ok_keeps_its_fields_for_the_request_to_parse() -> None:
    frame = decode(pack({"t": "ok", "id": 5, "user": 9}))
    assert frame == Ok(5, {"t": "ok", "id": 5, "user": 9})


def test_err_carries_code_message_and_retry() -> None:
    assert decode(pack({"t": "err", "id": 2, "code": "rate_limited", "msg": "slow down", "retry": 250})) == Err(
        2, "rate_limited", "slow down", 250
    )
    assert decode(pack({"t": "err", "id": 2, "code": "not_member", "msg": ""})) == Err(2, "not_member", "", None)


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        ({"t": "msg", **MSG}, Message(**MSG)),
        (
            {"t": "channel", "channel": 7, "kind": "group", "name": "ops", "members": [1, 2]},
            ChannelEvent(7, ChannelKind.GROUP, "ops", frozenset({1, 2})),
        ),
        ({"t": "receipt", "channel": 7, "user": 1, "seq": 4}, ReceiptEvent(7, 1, 4)),
        ({"t": "typing", "channel": 7, "user": 1}, TypingEvent(7, 1)),
        ({"t": "presence", "user": 1, "online": True, "last": 99}, PresenceEvent(1, True, 99)),
        ({"t": "bye", "reason": "draining", "retry": 1000}, ByeEvent("draining", 1000)),
        ({"t": "bye", "reason": "idle"}, ByeEvent("idle", None)),
    ],
)
def test_each_event_type_decodes_to_its_value(frame: dict[str, Any], event: object) -> None:
    assert decode(pack(frame)) == event


def test_unknown_fields_and_event_types_are_ignored_for_forward_compatibility() -> None:
    assert decode(pack({"t": "msg", **MSG, "edited": True})) == Message(**MSG)
    assert decode(pack({"t": "reaction", "channel": 1})) is None


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",  # never used in msgpack
        pack([1, 2]),
        pack({"id": 1}),
        pack({"t": 5}),
        pack({"t": "ok"}),
        pack({"t": "ok", "id": True}),
        pack({"t": "err", "id": 1, "msg": "x"}),
        pack({"t": "msg", **{**MSG, "seq": "3"}}),
        pack({"t": "msg", **{**MSG, "body": b"bytes"}}),
        pack({"t": "presence", "user": 1, "online": 1, "last": 0}),
        pack({"t": "channel", "channel": 7, "kind": "party", "name": "", "members": []}),
        pack({"t": "channel", "channel": 7, "kind": "group", "name": "", "members": [1, "2"]}),
        pack({"t": "typing", "id": 3, "channel": 1, "user": 1}),
        pack({1: "int keys"}),
        pack({"t": "ok", "id": 1}) + b"\x00",  # trailing bytes
    ],
)
def test_malformed_frames_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(data)


def test_every_protocol_error_code_has_its_own_exception_class() -> None:
    classes = {type(error_for(code, "m")) for code in ErrorCode}
    assert len(classes) == len(ErrorCode)
    for code in ErrorCode:
        error = error_for(code, "m", 5)
        assert type(error) is not ChatError and isinstance(error, ChatError)
        assert (error.code, error.msg, error.retry) == (code, "m", 5)
    assert isinstance(error_for("not_member", ""), NotMember)
    assert error_for("rate_limited", "", 300).retry == 300 and isinstance(error_for("rate_limited", ""), RateLimited)


def test_a_code_newer_than_the_client_is_a_plain_chat_error() -> None:
    error = error_for("quota_exceeded", "too much")
    assert type(error) is ChatError and error.code == "quota_exceeded"
