"""Encoding and decoding whole frames: the server and client roles agree, and pages fit a message."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import (
    ChannelEvent,
    ChannelInfo,
    ChannelKind,
    ChannelResult,
    ChannelsResult,
    DirectRequest,
    Dispatch,
    Err,
    ErrorCode,
    Event,
    FrameError,
    LeaveRequest,
    Limits,
    Message,
    MsgEvent,
    Ok,
    PageResult,
    PingRequest,
    PushRequest,
    PushTarget,
    Request,
    SendRequest,
    decode_server_frame,
    encode,
)
from protocol._codec import pack_frame

from .roles import as_parsed, server_reads
from .strategies import errs, events, exchanges, messages, oks, requests

# -- the two roles agree ----------------------------------------------------------
#
# The server role parses requests in the ProtocolSession; the client role reads
# replies and events with decode_server_frame, leniently as every client does
# (and strictly, as a conformance test does). Each reads what the other writes
# as the value that was written.


@settings(max_examples=300)
@given(requests)
def test_every_request_a_client_writes_is_parsed_by_the_server_as_itself(request: Request) -> None:
    limits = Limits()
    out = server_reads(encode(request), request.PHASE, limits)
    if isinstance(request, PingRequest):
        assert out == Ok(request.id)
    else:
        assert out == Dispatch(as_parsed(request, limits))


def nothing_in_flight(_request_id: int) -> None:
    return None


@settings(max_examples=300)
@given(exchanges, st.booleans())
def test_every_ok_the_server_writes_is_read_by_the_client_as_itself(
    exchange: tuple[Request, Ok], lenient: bool
) -> None:
    request, ok = exchange
    assert decode_server_frame(encode(ok), {ok.id: request}.get, lenient=lenient) == ok


@given(errs, st.booleans())
def test_every_err_the_server_writes_is_read_by_the_client_as_itself(err: Err, lenient: bool) -> None:
    assert decode_server_frame(encode(err), nothing_in_flight, lenient=lenient) == err


@settings(max_examples=200)
@given(events, st.booleans())
def test_every_event_the_server_writes_is_read_by_the_client_as_itself(
    event: Event, lenient: bool
) -> None:
    assert decode_server_frame(encode(event), nothing_in_flight, lenient=lenient) == event


def test_a_result_is_read_by_the_request_it_answers() -> None:
    # An ok names no result type: the same fields are another result for
    # another request, and no result for a request whose ok is bare.
    data = encode(Ok(4, ChannelResult(9)))
    assert decode_server_frame(data, {4: DirectRequest(4, 2)}.get) == Ok(4, ChannelResult(9))
    assert decode_server_frame(data, {4: LeaveRequest(4, 9)}.get) == Ok(4)
    with pytest.raises(FrameError):
        decode_server_frame(data, {4: SendRequest(4, 9, "hi", "c")}.get)


def test_strings_go_out_as_msgpack_str_and_bytes_as_bin() -> None:
    data = encode(SendRequest(1, 2, "é", "c"))
    assert b"\xa2\xc3\xa9" in data  # fixstr of two bytes: the UTF-8 of "é"
    assert msgpack.unpackb(pack_frame({"blob": b"\x00"}), raw=False) == {"blob": b"\x00"}
    assert pack_frame({"blob": b"\x00"}) == b"\x81\xa4blob\xc4\x01\x00"  # bin 8


@given(st.one_of(oks, errs, events))
def test_replies_carry_an_id_and_events_never_do(frame: Ok | Err | Event) -> None:
    fields = msgpack.unpackb(encode(frame))
    assert ("id" in fields) == isinstance(frame, Ok | Err)
    assert list(fields)[0] == "t"


def test_the_wire_shape_of_a_message_event() -> None:
    event = MsgEvent(Message(channel=1, seq=2, sender=3, device=4, body="hi", ts=5, cid="c"))
    assert msgpack.unpackb(encode(event)) == {
        "t": "msg",
        "channel": 1,
        "seq": 2,
        "sender": 3,
        "device": 4,
        "body": "hi",
        "ts": 5,
        "cid": "c",
    }


def test_the_wire_shape_of_an_err() -> None:
    assert msgpack.unpackb(encode(Err(None, ErrorCode.RATE_LIMITED, retry=50))) == {
        "t": "err",
        "id": None,
        "code": "rate_limited",
        "msg": "sending too fast",
        "retry": 50,
    }


def test_sets_go_out_sorted_so_equal_values_are_equal_bytes() -> None:
    a = ChannelEvent(1, ChannelKind.GROUP, "g", frozenset({3, 1, 2}))
    b = ChannelEvent(1, "group", "g", (2, 3, 1))  # kinds and members convert
    assert a == b and encode(a) == encode(b)
    assert msgpack.unpackb(encode(a))["members"] == [1, 2, 3]


def test_push_targets_write_their_provider_fields_at_the_top_level() -> None:
    request = PushRequest(3, PushTarget.webpush("https://x", "k", "a"))
    assert msgpack.unpackb(encode(request)) == {
        "t": "push",
        "id": 3,
        "kind": "webpush",
        "endpoint": "https://x",
        "auth": "a",
        "p256dh": "k",
    }
    assert msgpack.unpackb(encode(PushRequest(4, None))) == {"t": "push", "id": 4, "endpoint": None}


def test_a_push_asking_for_previews_says_so_and_otherwise_leaves_it_out() -> None:
    asking = msgpack.unpackb(encode(PushRequest(3, PushTarget.apns("t", sandbox=True), preview=True)))
    assert asking == {"t": "push", "id": 3, "kind": "apns", "endpoint": "t", "sandbox": True, "preview": True}
    assert "preview" not in msgpack.unpackb(encode(PushRequest(3, PushTarget.fcm("t"))))


@pytest.mark.parametrize(
    "make",
    [
        lambda: PushTarget("webpush", "https://x", (("auth", "a"),)),  # p256dh missing
        lambda: PushTarget("fcm", "t", (("topic", "x"),)),  # not an fcm field
        lambda: PushTarget("apns", "t", (("sandbox", "yes"),)),  # a bool
        lambda: PushTarget("apns", "t", (("kind", "x"),)),
        lambda: PushTarget("gcm", "t"),
    ],
)
def test_a_target_holds_exactly_its_kinds_fields(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()


# -- pages cut to fit one message ---------------------------------------------------


def big(seq: int, chars: int) -> Message:
    return Message(
        channel=1,
        seq=seq,
        sender=2,
        device=3,
        body="\N{GRINNING FACE}" * chars,
        ts=seq,
        cid=str(seq),
    )


def test_a_page_of_the_largest_messages_is_cut_to_fit_one_message() -> None:
    limits = Limits()
    page = [big(seq, limits.max_body_chars) for seq in range(1, 6)]  # 5 x 400 KB
    sync = PageResult.fit(page, more=False, max_bytes=limits.max_message_bytes, keep_newest=False)
    assert [m.seq for m in sync.messages] == [1, 2] and sync.more
    history = PageResult.fit(page, more=False, max_bytes=limits.max_message_bytes, keep_newest=True)
    assert [m.seq for m in history.messages] == [4, 5] and history.more
    for result in (sync, history):
        assert len(encode(Ok(2**63 - 1, result))) <= limits.max_message_bytes


def test_a_page_always_holds_at_least_one_message() -> None:
    # Limits make this impossible at the node's own size limit; the rule is
    # that paging never stalls, whatever the budget.
    page = [big(1, 5000), big(2, 5000)]
    cut = PageResult.fit(page, more=False, max_bytes=4096, keep_newest=False)
    assert cut == PageResult(page[:1], True)


def test_a_page_that_fits_is_left_whole() -> None:
    page = [big(seq, 10) for seq in range(1, 4)]
    assert PageResult.fit(page, more=False, max_bytes=1 << 20, keep_newest=False) == PageResult(
        page, False
    )
    assert PageResult.fit(page, more=True, max_bytes=1 << 20, keep_newest=True) == PageResult(
        page, True
    )
    assert PageResult.fit([], more=False, max_bytes=1 << 20, keep_newest=False) == PageResult(
        [], False
    )


@given(
    page=st.lists(messages, max_size=30).map(lambda ms: sorted(ms, key=lambda m: m.seq)),
    max_bytes=st.integers(4096, 20_000),
    keep_newest=st.booleans(),
)
def test_a_cut_page_fits_keeps_one_end_and_says_more(
    page: list[Message], max_bytes: int, keep_newest: bool
) -> None:
    result = PageResult.fit(page, more=False, max_bytes=max_bytes, keep_newest=keep_newest)
    kept = list(result.messages)
    assert kept == (page[len(page) - len(kept) :] if keep_newest else page[: len(kept)])
    assert result.more == (len(kept) < len(page))
    if page:
        assert kept  # paging always progresses
    if len(kept) > 1:
        assert len(encode(Ok(2**63 - 1, result))) <= max_bytes


def group_info(channel: int, members: int) -> ChannelInfo:
    first = 2**62
    return ChannelInfo(channel, "group", "\N{GRINNING FACE}" * 128, range(first, first + members), 2**40, 2**40)


def test_the_channels_of_a_user_in_800_full_groups_come_in_pages_that_fit() -> None:
    limits = Limits()
    channels = [group_info(channel, limits.max_group_members) for channel in range(1, 801)]
    assert len(encode(Ok(1, ChannelsResult(channels)))) > limits.max_message_bytes, "one reply would not fit"
    got: list[ChannelInfo] = []
    while True:
        asked = channels[len(got) : len(got) + 500]
        page = ChannelsResult.fit(asked, more=len(got) + 500 < 800, max_bytes=limits.max_message_bytes)
        assert len(encode(Ok(2**63 - 1, page))) <= limits.max_message_bytes
        got += page.channels
        if not page.more:
            break
    assert got == channels


@given(
    count=st.integers(0, 40),
    members=st.integers(1, 100),
    max_bytes=st.integers(4096, 40_000),
    more=st.booleans(),
)
def test_a_cut_channels_page_fits_keeps_the_first_and_says_more(
    count: int, members: int, max_bytes: int, more: bool
) -> None:
    channels = [group_info(channel, members) for channel in range(1, count + 1)]
    page = ChannelsResult.fit(channels, more=more, max_bytes=max_bytes)
    kept = list(page.channels)
    assert kept == channels[: len(kept)]
    assert page.more == (more or len(kept) < count)
    if channels:
        assert kept  # paging always progresses
    if len(kept) > 1:
        assert len(encode(Ok(2**63 - 1, page))) <= max_bytes
