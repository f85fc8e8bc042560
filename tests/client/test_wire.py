"""The client's side of the wire: the node's frames as typed replies and events, malformed ones refused.

The decoder is the protocol's own, with the client's lenient rules; these
tests go through `read_frame`, the one way the client's Connection reads a
frame, so they test what the client really does with the node's bytes.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

import protocol
from client import (
    ByeEvent,
    ByeReason,
    ChannelEvent,
    ChannelKind,
    ChatError,
    Message,
    NotMember,
    PresenceEvent,
    RateLimited,
    ReceiptEvent,
    TypingEvent,
    UserPresence,
    error_for,
)
from client._connection import read_frame
from protocol import Err, ErrorCode, FrameError, LookupRequest, Ok, UserResult

MSG: dict[str, Any] = {"channel": 7, "seq": 3, "sender": 11, "device": 12, "body": "hi ☃", "ts": 1_700_000_000_000, "cid": "c1"}
MAX = 2**63 - 1


def pack(frame: Any) -> bytes:
    data: bytes = msgpack.packb(frame, use_bin_type=True)
    return data


def nothing_in_flight(_request_id: int) -> None:
    return None


def test_an_ok_is_read_as_the_result_of_the_request_it_answers() -> None:
    in_flight = {5: LookupRequest(5, "ann")}.get
    assert read_frame(pack({"t": "ok", "id": 5, "user": 9}), in_flight) == Ok(5, UserResult(9))


def test_an_ok_for_no_request_in_flight_is_left_unread() -> None:
    # Its caller gave up (cancelled); the Connection drops it.
    assert read_frame(pack({"t": "ok", "id": 5, "user": "not read"}), nothing_in_flight) == Ok(5, None)


def test_err_carries_code_message_and_retry() -> None:
    assert read_frame(
        pack({"t": "err", "id": 2, "code": "rate_limited", "msg": "slow down", "retry": 250}), nothing_in_flight
    ) == Err(2, "rate_limited", "slow down", 250)
    err = read_frame(pack({"t": "err", "id": 2, "code": "not_member", "msg": ""}), nothing_in_flight)
    assert err == Err(2, "not_member", "", None)
    assert isinstance(err, Err) and err.code is ErrorCode.NOT_MEMBER


def test_an_err_without_an_id_is_read_for_what_it_is() -> None:
    # The node's answer to a frame it could not read, before it closes.
    assert read_frame(pack({"t": "err", "id": None, "code": "bad_request", "msg": "x"}), nothing_in_flight) == Err(
        None, ErrorCode.BAD_REQUEST, "x"
    )


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
        ({"t": "presence", "user": 1, "online": True, "last": 99}, PresenceEvent(UserPresence(1, True, 99))),
        ({"t": "bye", "reason": "draining", "retry": 1000}, ByeEvent(ByeReason.DRAINING, 1000)),
        ({"t": "bye", "reason": "idle"}, ByeEvent(ByeReason.IDLE, None)),
    ],
)
def test_each_event_type_decodes_to_its_value(frame: dict[str, Any], event: object) -> None:
    assert read_frame(pack(frame), nothing_in_flight) == event


def test_a_msg_event_reaches_the_app_as_its_message() -> None:
    assert type(read_frame(pack({"t": "msg", **MSG}), nothing_in_flight)) is Message


def test_unknown_fields_and_event_types_are_ignored_for_forward_compatibility() -> None:
    assert read_frame(pack({"t": "msg", **MSG, "edited": True}), nothing_in_flight) == Message(**MSG)
    assert read_frame(pack({"t": "reaction", "channel": 1}), nothing_in_flight) is None


def test_codes_and_bye_reasons_newer_than_the_client_are_kept_as_strings() -> None:
    err = read_frame(pack({"t": "err", "id": 3, "code": "quota_exceeded", "msg": "m"}), nothing_in_flight)
    assert err == Err(3, "quota_exceeded", "m")
    assert isinstance(err, Err) and type(err.code) is str
    assert type(error_for(err.code, err.msg)) is ChatError
    bye = read_frame(pack({"t": "bye", "reason": "maintenance", "retry": 5}), nothing_in_flight)
    assert bye == ByeEvent("maintenance", 5)


def test_the_strict_reading_refuses_what_the_client_tolerates() -> None:
    # The same decoder, as a conformance test reads a server: nothing unknown passes.
    for frame in (
        {"t": "reaction", "channel": 1},
        {"t": "err", "id": 3, "code": "quota_exceeded", "msg": "m"},
        {"t": "bye", "reason": "maintenance"},
    ):
        with pytest.raises(FrameError):
            protocol.decode_server_frame(pack(frame), nothing_in_flight)


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",  # never used in msgpack
        pack([1, 2]),
        pack({"id": 1}),
        pack({"t": 5}),
        pack({"t": "ok"}),
        pack({"t": "ok", "id": True}),
        pack({"t": "ok", "id": -1}),
        pack({"t": "ok", "id": MAX + 1}),
        pack({"t": "err", "id": 1, "msg": "x"}),
        pack({"t": "err", "id": -2, "code": "internal", "msg": "x"}),
        pack({"t": "err", "id": 1, "code": 5, "msg": "x"}),
        pack({"t": "err", "id": 1, "code": "internal", "msg": "x", "retry": -1}),
        pack({"t": "msg", **{**MSG, "seq": "3"}}),
        pack({"t": "msg", **{**MSG, "seq": 0}}),
        pack({"t": "msg", **{**MSG, "sender": -11}}),
        pack({"t": "msg", **{**MSG, "channel": MAX + 1}}),
        pack({"t": "msg", **{**MSG, "ts": -1}}),
        pack({"t": "msg", **{**MSG, "body": b"bytes"}}),
        pack({"t": "presence", "user": 1, "online": 1, "last": 0}),
        pack({"t": "channel", "channel": 7, "kind": "party", "name": "", "members": []}),
        pack({"t": "channel", "channel": 7, "kind": "group", "name": "", "members": [1, "2"]}),
        pack({"t": "channel", "channel": 7, "kind": "group", "name": "", "members": [1, 0]}),
        pack({"t": "receipt", "channel": 7, "user": 1, "seq": -4}),
        pack({"t": "bye", "reason": 5}),
        pack({"t": "bye", "reason": "idle", "retry": -5}),
        pack({"t": "typing", "id": 3, "channel": 1, "user": 1}),
        pack({"t": "reaction", "id": 3}),  # an id: neither a reply nor an event
        pack({1: "int keys"}),
        pack({"t": "ok", "id": 1}) + b"\x00",  # trailing bytes
        "a text message",
    ],
)
def test_malformed_frames_are_refused(data: bytes | str) -> None:
    with pytest.raises(FrameError):
        read_frame(data, nothing_in_flight)


def test_a_server_frame_may_hold_thousands_of_maps() -> None:
    # A long channels or presence list; only client frames are held to a container count.
    presence = [{"user": user, "online": False, "last": 0} for user in range(1, 5001)]
    request = protocol.PresenceRequest(1, range(1, 5001))
    ok = read_frame(pack({"t": "ok", "id": 1, "presence": presence}), {1: request}.get)
    assert isinstance(ok, Ok) and isinstance(ok.result, protocol.PresenceResult)
    assert len(ok.result.presence) == 5000


def test_every_protocol_error_code_has_its_own_exception_class() -> None:
    # protocol.ErrorCode, the one the node answers with: a code added there
    # without a class here fails this test.
    classes = {type(error_for(code, "m")) for code in protocol.ErrorCode}
    assert len(classes) == len(protocol.ErrorCode)
    for code in protocol.ErrorCode:
        error = error_for(code, "m", 5)
        assert type(error) is not ChatError and isinstance(error, ChatError)
        assert (error.code, error.msg, error.retry) == (code, "m", 5)
        assert type(error_for(code.value, "m")) is type(error), "the code's wire string finds its class"
    assert isinstance(error_for("not_member", ""), NotMember)
    assert error_for("rate_limited", "", 300).retry == 300 and isinstance(error_for("rate_limited", ""), RateLimited)


def test_a_code_newer_than_the_client_is_a_plain_chat_error() -> None:
    error = error_for("quota_exceeded", "too much")
    assert type(error) is ChatError and error.code == "quota_exceeded"
