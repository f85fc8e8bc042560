"""The requests' frames and the typed results read from their `ok` replies."""

from __future__ import annotations

from typing import Any

import pytest

import client._requests as rq
from client import (
    ChannelInfo,
    ChannelKind,
    Credentials,
    Device,
    Message,
    Page,
    PresenceInfo,
    ProtocolError,
    Sent,
    Session,
)


def test_frames_carry_type_id_and_fields() -> None:
    assert rq.Send(3, "hi", "c-1").frame(9) == {"t": "send", "id": 9, "channel": 3, "body": "hi", "cid": "c-1"}
    assert rq.Login("ann", "pw", "phone").frame(1) == {
        "t": "login",
        "id": 1,
        "username": "ann",
        "password": "pw",
        "device": "phone",
    }
    assert rq.Group("ops", [2, 3]).frame(4) == {"t": "group", "id": 4, "name": "ops", "members": (2, 3)}
    assert rq.Channels().frame(2) == {"t": "channels", "id": 2}
    assert rq.Ping().frame(6) == {"t": "ping", "id": 6}


def test_an_absent_page_limit_is_left_out_so_the_node_uses_its_default() -> None:
    assert rq.Sync(3, 10).frame(1) == {"t": "sync", "id": 1, "channel": 3, "after": 10}
    assert rq.History(3, 10, 50).frame(1) == {"t": "history", "id": 1, "channel": 3, "before": 10, "limit": 50}


def test_push_flattens_provider_fields_and_sends_nil_endpoint_to_remove() -> None:
    assert rq.Push("webpush", "https://push.example/x", {"p256dh": "k", "auth": "a"}).frame(1) == {
        "t": "push",
        "id": 1,
        "kind": "webpush",
        "endpoint": "https://push.example/x",
        "p256dh": "k",
        "auth": "a",
    }
    assert rq.Push("apns", None).frame(2) == {"t": "push", "id": 2, "kind": "apns", "endpoint": None}
    with pytest.raises(ValueError, match="id"):
        rq.Push("apns", "x", {"id": 1})


def test_secrets_stay_out_of_reprs() -> None:
    assert "hunter2" not in repr(rq.Login("ann", "hunter2", "d"))
    assert "tok" not in repr(rq.Auth("tok"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: rq.Send(0, "x", "c"),
        lambda: rq.Send(True, "x", "c"),
        lambda: rq.Send(1, b"x", "c"),  # type: ignore[arg-type]
        lambda: rq.Sync(1, -1),
        lambda: rq.Sync(1, 0, 0),
        lambda: rq.Group("g", [1, -2]),
        lambda: rq.Invite(1, ["2"]),  # type: ignore[list-item]
        lambda: rq.Lookup(7),  # type: ignore[arg-type]
    ],
)
def test_mistyped_arguments_fail_at_the_call_site(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()


def test_only_requests_that_can_be_repeated_safely_are_idempotent() -> None:
    classes = [getattr(rq, name) for name in dir(rq)]
    repeatable = {c.__name__ for c in classes if isinstance(c, type) and getattr(c, "IDEMPOTENT", False)}
    assert repeatable == {
        "Auth", "Devices", "Lookup", "Direct", "Channels", "Send",
        "Sync", "History", "Read", "Presence", "Push", "Ping",
    }


MSG: dict[str, Any] = {"channel": 7, "seq": 3, "sender": 11, "device": 12, "body": "hi", "ts": 5, "cid": "c1"}


def test_results_are_typed_values() -> None:
    assert rq.Register("ann", "pw").result({"user": 4}) == 4
    assert rq.Login("ann", "pw", "d").result({"user": 4, "device": 8, "token": "s"}) == Credentials(4, 8, "s")
    assert rq.Auth("s").result({"user": 4, "device": 8, "heartbeat": 5}) == Session(4, 8, 5.0)
    assert rq.Send(7, "hi", "c1").result({"channel": 7, "seq": 3, "ts": 5}) == Sent(7, 3, 5)
    assert rq.Sync(7, 2).result({"messages": [MSG], "more": False}) == Page((Message(**MSG),), False)
    assert rq.Channels().result(
        {"channels": [{"channel": 7, "kind": "direct", "name": "", "members": [4, 5], "last": 3, "read": 1}]}
    ) == (ChannelInfo(7, ChannelKind.DIRECT, "", frozenset({4, 5}), 3, 1),)
    presence = {"presence": [{"user": 5, "online": False, "last": 0}]}
    assert rq.Presence([5]).result(presence) == (PresenceInfo(5, False, 0),)
    assert rq.Devices().result({"devices": [{"device": 8, "name": "d", "last": 9}]}) == (Device(8, "d", 9),)
    assert rq.Read(7, 3).result({}) is None  # type: ignore[func-returns-value]


@pytest.mark.parametrize(
    ("request_", "ok"),
    [
        (rq.Auth("s"), {"user": 4, "device": 8, "heartbeat": 0}),
        (rq.Auth("s"), {"user": 4, "device": 8}),
        (rq.Sync(7, 2), {"messages": [MSG]}),
        (rq.Sync(7, 2), {"messages": [{**MSG, "ts": None}], "more": False}),
        (rq.Channels(), {"channels": {}}),
        (rq.Direct(5), {"channel": "7"}),
    ],
)
def test_malformed_results_raise_protocol_error(request_: rq.Request[Any], ok: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        request_.result(ok)


@pytest.mark.parametrize(
    ("request_", "seqs", "channel"),
    [
        (rq.Sync(7, 2), [3, 5, 4], 7),  # not ascending
        (rq.Sync(7, 2), [2, 3], 7),  # not after `after`
        (rq.Sync(7, 2), [3], 8),  # another channel
        (rq.History(7, 5), [3, 5], 7),  # not before `before`
    ],
)
def test_pages_that_would_corrupt_cursors_are_refused(
    request_: rq.Request[Any], seqs: list[int], channel: int
) -> None:
    ok = {"messages": [{**MSG, "seq": s, "channel": channel} for s in seqs], "more": False}
    with pytest.raises(ProtocolError):
        request_.result(ok)
