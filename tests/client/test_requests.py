"""The requests a client builds: their frames, their call-site checks, and the typed results of their replies.

The request values are the protocol's; a Connection numbers one as it sends
it (`attrs.evolve(request, id=n)`) and reads its `ok` with `read_frame`.
"""

from __future__ import annotations

from typing import Any

import attrs
import msgpack
import pytest

from client import ChannelInfo, ChannelKind, DeviceInfo, LoginResult, Message, PageResult, SendResult, UserPresence
from client._api import UNSENT
from client._connection import read_frame
from protocol import (
    AckRequest,
    AuthRequest,
    AuthResult,
    ChannelsRequest,
    ChannelsResult,
    DevicesRequest,
    DevicesResult,
    DirectRequest,
    FrameError,
    GroupRequest,
    HistoryRequest,
    InviteRequest,
    LoginRequest,
    LookupRequest,
    Ok,
    PingRequest,
    PresenceRequest,
    PresenceResult,
    NotifyRequest,
    PushRequest,
    PushTarget,
    ReadRequest,
    RegisterRequest,
    Request,
    SendRequest,
    SyncRequest,
    UserResult,
    encode,
)
from protocol._requests import REQUEST_TYPES


def frame(request: Request, request_id: int) -> dict[str, Any]:
    """What a Connection writes for `request` under `request_id`, decoded back to a map."""
    fields: dict[str, Any] = msgpack.unpackb(encode(attrs.evolve(request, id=request_id)))
    return fields


def answer(request: Request, ok: dict[str, Any]) -> Any:
    """The result a Connection hands the caller of `request` for an `ok` with these fields."""
    reply = read_frame(msgpack.packb({"t": "ok", "id": 1, **ok}), {1: attrs.evolve(request, id=1)}.get)
    assert isinstance(reply, Ok)
    return reply.result


def test_frames_carry_type_id_and_fields() -> None:
    assert frame(SendRequest(UNSENT, 3, "hi", "c-1"), 9) == {"t": "send", "id": 9, "channel": 3, "body": "hi", "cid": "c-1"}
    assert frame(LoginRequest(UNSENT, "ann", "pw", "phone"), 1) == {
        "t": "login",
        "id": 1,
        "username": "ann",
        "password": "pw",
        "device": "phone",
    }
    assert frame(GroupRequest(UNSENT, "ops", [3, 2]), 4) == {"t": "group", "id": 4, "name": "ops", "members": [2, 3]}
    assert frame(ChannelsRequest(UNSENT), 2) == {"t": "channels", "id": 2}
    assert frame(ChannelsRequest(UNSENT, 40), 2) == {"t": "channels", "id": 2, "after": 40}
    assert frame(PingRequest(UNSENT), 6) == {"t": "ping", "id": 6}


def test_numbering_a_request_changes_nothing_but_its_id() -> None:
    request = SendRequest(UNSENT, 3, "hi", "c-1")
    numbered = attrs.evolve(request, id=2**31 - 1)
    assert (numbered.id, attrs.evolve(numbered, id=UNSENT)) == (2**31 - 1, request)


def test_an_absent_page_limit_is_left_out_so_the_node_uses_its_default() -> None:
    assert frame(SyncRequest(UNSENT, 3, 10), 1) == {"t": "sync", "id": 1, "channel": 3, "after": 10}
    assert frame(HistoryRequest(UNSENT, 3, 10, 50), 1) == {"t": "history", "id": 1, "channel": 3, "before": 10, "limit": 50}


def test_push_flattens_provider_fields_and_sends_nil_endpoint_to_remove() -> None:
    target = PushTarget.webpush("https://push.example/x", "k", "a")
    assert frame(PushRequest(UNSENT, target), 1) == {
        "t": "push",
        "id": 1,
        "kind": "webpush",
        "endpoint": "https://push.example/x",
        "p256dh": "k",
        "auth": "a",
    }
    assert frame(PushRequest(UNSENT, None), 2) == {"t": "push", "id": 2, "endpoint": None}
    with pytest.raises(ValueError, match="id"):
        PushTarget("apns", "x", {"id": "1"}.items())


def test_mentions_are_sent_sorted_and_left_out_when_there_are_none() -> None:
    assert frame(SendRequest(UNSENT, 3, "hi", "c", [9, 4]), 1)["mentions"] == [4, 9]
    assert "mentions" not in frame(SendRequest(UNSENT, 3, "hi", "c"), 1)


def test_secrets_stay_out_of_reprs() -> None:
    assert "hunter2" not in repr(LoginRequest(UNSENT, "ann", "hunter2", "d"))
    assert "s3cr3t" not in repr(AuthRequest(UNSENT, "s3cr3t"))
    assert "s3cret" not in repr(LoginResult(1, 2, "s3cret"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SendRequest(UNSENT, 0, "x", "c"),
        lambda: SendRequest(UNSENT, True, "x", "c"),
        lambda: SendRequest(UNSENT, 2**63, "x", "c"),
        lambda: SendRequest(UNSENT, 1, b"x", "c"),
        lambda: SendRequest(-1, 1, "x", "c"),
        lambda: SyncRequest(UNSENT, 1, -1),
        lambda: SyncRequest(UNSENT, 1, 0, 0),
        lambda: GroupRequest(UNSENT, "g", [1, -2]),
        lambda: InviteRequest(UNSENT, 1, ["2"]),
        lambda: LookupRequest(UNSENT, 7),
        lambda: PushTarget("webpush", "https://x", {"auth": 5, "p256dh": "k"}.items()),
        lambda: PushTarget.apns("t", topic=5),
        lambda: NotifyRequest(UNSENT, 1, "mute"),
        lambda: AckRequest(UNSENT, 1, -1),
        lambda: SendRequest(UNSENT, 1, "x", "c", [0]),
        lambda: PushTarget("webpush", None, ()),
    ],
)
def test_mistyped_arguments_fail_at_the_call_site(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()


def test_only_requests_that_can_be_repeated_safely_are_idempotent() -> None:
    repeatable = {cls.__name__ for cls in REQUEST_TYPES.values() if cls.IDEMPOTENT}
    assert repeatable == {
        "AuthRequest", "DevicesRequest", "LookupRequest", "DirectRequest", "ChannelsRequest", "SendRequest",
        "SyncRequest", "HistoryRequest", "ReadRequest", "PresenceRequest", "PushRequest", "PingRequest",
        "BlockRequest", "UnblockRequest", "BlockedRequest", "AckRequest", "NotifyRequest",
    }  # fmt: skip


MSG: dict[str, Any] = {"channel": 7, "seq": 3, "sender": 11, "device": 12, "body": "hi", "ts": 5, "cid": "c1"}


def test_results_are_typed_values() -> None:
    assert answer(RegisterRequest(UNSENT, "ann", "password"), {"user": 4}) == UserResult(4)
    assert answer(LoginRequest(UNSENT, "ann", "pw", "d"), {"user": 4, "device": 8, "token": "s"}) == LoginResult(4, 8, "s")
    assert answer(AuthRequest(UNSENT, "s"), {"user": 4, "device": 8, "heartbeat": 5}) == AuthResult(4, 8, 5)
    assert answer(SendRequest(UNSENT, 7, "hi", "c1"), {"channel": 7, "seq": 3, "ts": 5}) == SendResult(7, 3, 5)
    assert answer(SyncRequest(UNSENT, 7, 2), {"messages": [MSG], "more": False}) == PageResult((Message(**MSG),), False)
    assert answer(
        ChannelsRequest(UNSENT),
        {"channels": [{"channel": 7, "kind": "direct", "name": "", "members": [4, 5], "last": 3, "read": 1}]},
    ) == ChannelsResult((ChannelInfo(7, ChannelKind.DIRECT, "", frozenset({4, 5}), 3, 1),), more=False)
    presence = {"presence": [{"user": 5, "online": False, "last": 0}]}
    assert answer(PresenceRequest(UNSENT, [5]), presence) == PresenceResult((UserPresence(5, False, 0),))
    assert answer(DevicesRequest(UNSENT), {"devices": [{"device": 8, "name": "d", "last": 9}]}) == DevicesResult(
        (DeviceInfo(8, "d", 9),)
    )
    assert answer(ReadRequest(UNSENT, 7, 3), {}) is None


@pytest.mark.parametrize(
    ("request_", "ok"),
    [
        (AuthRequest(UNSENT, "s"), {"user": 4, "device": 8, "heartbeat": 0}),
        (AuthRequest(UNSENT, "s"), {"user": 4, "device": 8}),
        (AuthRequest(UNSENT, "s"), {"user": 4, "device": 8, "heartbeat": 2.5}),
        (LoginRequest(UNSENT, "ann", "pw", "d"), {"user": 4, "device": 8, "token": ""}),
        (SyncRequest(UNSENT, 7, 2), {"messages": [MSG]}),
        (SyncRequest(UNSENT, 7, 2), {"messages": [{**MSG, "ts": None}], "more": False}),
        (ChannelsRequest(UNSENT), {"channels": {}}),
        (ChannelsRequest(UNSENT), {"channels": [], "more": "yes"}),
        (DirectRequest(UNSENT, 5), {"channel": "7"}),
        (DirectRequest(UNSENT, 5), {"channel": -7}),
    ],
)
def test_malformed_results_are_refused(request_: Request, ok: dict[str, Any]) -> None:
    with pytest.raises(FrameError):
        answer(request_, ok)


@pytest.mark.parametrize(
    ("request_", "seqs", "channel"),
    [
        (SyncRequest(UNSENT, 7, 2), [3, 5, 4], 7),  # not ascending
        (SyncRequest(UNSENT, 7, 2), [3, 3], 7),  # a repeat
        (SyncRequest(UNSENT, 7, 2), [2, 3], 7),  # not after `after`
        (SyncRequest(UNSENT, 7, 2), [3], 8),  # another channel
        (SyncRequest(UNSENT, 7, 2, 2), [3, 4, 5], 7),  # longer than its limit
        (HistoryRequest(UNSENT, 7, 5), [3, 5], 7),  # not before `before`
    ],
)
def test_pages_that_would_corrupt_cursors_are_refused(request_: Request, seqs: list[int], channel: int) -> None:
    ok = {"messages": [{**MSG, "seq": s, "channel": channel} for s in seqs], "more": False}
    with pytest.raises(FrameError):
        answer(request_, ok)


def channel_info(channel: int) -> dict[str, Any]:
    return {"channel": channel, "kind": "group", "name": "g", "members": [1], "last": 0, "read": 0}


def test_channel_pages_that_would_stall_paging_are_refused() -> None:
    with pytest.raises(FrameError, match="empty"):
        answer(ChannelsRequest(UNSENT, 10), {"channels": [], "more": True})
    with pytest.raises(FrameError, match="not after"):
        answer(ChannelsRequest(UNSENT, 10), {"channels": [channel_info(11), channel_info(10)], "more": True})
    page = answer(ChannelsRequest(UNSENT, 10), {"channels": [channel_info(12), channel_info(11)], "more": True})
    assert [info.channel for info in page.channels] == [12, 11] and page.more
    # A v1 node says nothing of more: its list is complete.
    assert answer(ChannelsRequest(UNSENT), {"channels": [channel_info(3)]}).more is False
