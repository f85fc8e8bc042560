"""The session's states: what each request gets in each, what the device is sent, and when it ends."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from attrs import define, field
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from protocol import (
    AuthRequest,
    AuthResult,
    ByeEvent,
    ByeReason,
    ChannelsRequest,
    Close,
    CloseCode,
    Dispatch,
    Err,
    ErrorCode,
    Limits,
    LocalProtocolError,
    Message,
    MsgEvent,
    Ok,
    PageResult,
    ProtocolSession,
    RegisterRequest,
    State,
    Violation,
    encode,
)
from protocol._session import AUTH_OUTCOMES, TRANSITIONS, Action, Ending, Input

from .conftest import DEVICE, USER, authenticate, pack, receive

EVENT = encode(MsgEvent(Message(channel=1, seq=1, sender=2, device=3, body="hi", ts=4, cid="c")))


def written(session: ProtocolSession) -> list[Any]:
    """Everything the writer would take now: frames decoded, a Close as itself."""
    out = []
    while (item := session.next_output()) is not None:
        out.append(item if isinstance(item, Close) else msgpack.unpackb(item))
    return out


def bye(reason: str, **more: object) -> dict[str, object]:
    return {"t": "bye", "reason": reason, **more}


# -- the table itself -------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
def test_every_state_has_an_answer_for_everything_but_an_auths_outcome(state: State) -> None:
    # Neither a peer, nor the clock, nor an actor telling the session
    # something at any moment can make it raise.
    assert all((state, i) in TRANSITIONS for i in Input if i not in AUTH_OUTCOMES)


def test_an_auths_outcome_is_possible_only_while_one_is_awaited_or_no_longer_matters() -> None:
    states = {state for state, i in TRANSITIONS if i in AUTH_OUTCOMES}
    assert states == {State.AUTHENTICATING, State.CLOSING, State.CLOSED}


def test_the_transport_closing_is_possible_in_every_state() -> None:
    assert all(TRANSITIONS[state, Input.TRANSPORT_CLOSED][1] is State.CLOSED for state in State)


def test_only_the_transport_going_or_the_close_grace_running_out_ends_a_connection() -> None:
    into_closed = {
        (state, i): action
        for (state, i), (action, after) in TRANSITIONS.items()
        if after is State.CLOSED and state is not State.CLOSED
    }
    assert {i for _, i in into_closed} == {Input.TRANSPORT_CLOSED, Input.CLOSE_DEADLINE}
    assert set(into_closed.values()) == {Action.ABORT}, "and whatever was queued is forgotten"
    assert [state for state, i in into_closed if i is Input.CLOSE_DEADLINE] == [State.CLOSING]


def test_closing_reads_and_queues_nothing_more() -> None:
    assert all(
        TRANSITIONS[State.CLOSING, i] == (Action.NONE, State.CLOSING)
        for i in Input
        if i not in (Input.CLOSE_DEADLINE, Input.TRANSPORT_CLOSED)
    )


# -- sessions in each state, driven through the public API -----------------------


def unauthenticated() -> ProtocolSession:
    return ProtocolSession(now=0.0)


def authenticating() -> ProtocolSession:
    session = ProtocolSession(now=0.0)
    receive(session, {"t": "auth", "id": 1, "token": "t0ken"})
    assert session.state is State.AUTHENTICATING
    return session


def authenticated() -> ProtocolSession:
    session = authenticate(ProtocolSession(now=0.0))
    written(session)  # the auth's ok
    return session


def draining() -> ProtocolSession:
    """Draining with a `channels` (id 2) still in flight."""
    session = authenticated()
    receive(session, {"t": "channels", "id": 2})
    session.close(ByeReason.DRAINING, retry=250)
    assert session.state is State.DRAINING
    return session


def closing() -> ProtocolSession:
    session = authenticated()
    session.close(ByeReason.REVOKED)
    written(session)
    return session


def closed() -> ProtocolSession:
    session = authenticated()
    session.closed()
    return session


REGISTER = {"t": "register", "id": 5, "username": "alice", "password": "correct horse"}
AUTH = {"t": "auth", "id": 5, "token": "t0ken"}
PING = {"t": "ping", "id": 5}
CHANNELS = {"t": "channels", "id": 5}

DISPATCH_REGISTER = Dispatch(RegisterRequest(5, "alice", "correct horse"))
DISPATCH_AUTH = Dispatch(AuthRequest(5, "t0ken"))
DISPATCH_CHANNELS = Dispatch(ChannelsRequest(5))
PONG = Ok(5)
UNAUTHENTICATED = Err(5, ErrorCode.UNAUTHENTICATED)
ALREADY = Err(5, ErrorCode.BAD_REQUEST, "already authenticated")
AUTH_PENDING = Err(5, ErrorCode.BAD_REQUEST, "authentication in progress")
DRAINING = Err(5, ErrorCode.UNAVAILABLE, "node is draining, reconnect")

S = State
CASES = [
    (unauthenticated, REGISTER, [DISPATCH_REGISTER], S.UNAUTHENTICATED),
    (unauthenticated, AUTH, [DISPATCH_AUTH], S.AUTHENTICATING),
    (unauthenticated, PING, [PONG], S.UNAUTHENTICATED),
    (unauthenticated, CHANNELS, [UNAUTHENTICATED], S.UNAUTHENTICATED),
    (authenticating, REGISTER, [DISPATCH_REGISTER], S.AUTHENTICATING),
    (authenticating, AUTH, [AUTH_PENDING], S.AUTHENTICATING),
    (authenticating, PING, [PONG], S.AUTHENTICATING),
    (authenticating, CHANNELS, [UNAUTHENTICATED], S.AUTHENTICATING),
    (authenticated, REGISTER, [ALREADY], S.AUTHENTICATED),
    (authenticated, AUTH, [ALREADY], S.AUTHENTICATED),
    (authenticated, PING, [PONG], S.AUTHENTICATED),
    (authenticated, CHANNELS, [DISPATCH_CHANNELS], S.AUTHENTICATED),
    (draining, REGISTER, [DRAINING], S.DRAINING),
    (draining, AUTH, [DRAINING], S.DRAINING),
    (draining, PING, [PONG], S.DRAINING),
    (draining, CHANNELS, [DRAINING], S.DRAINING),
    (closing, REGISTER, [], S.CLOSING),
    (closing, AUTH, [], S.CLOSING),
    (closing, PING, [], S.CLOSING),
    (closing, CHANNELS, [], S.CLOSING),
    (closed, REGISTER, [], S.CLOSED),
    (closed, AUTH, [], S.CLOSED),
    (closed, PING, [], S.CLOSED),
    (closed, CHANNELS, [], S.CLOSED),
]


@pytest.mark.parametrize(("make", "frame", "outputs", "after"), CASES)
def test_each_request_kind_in_each_state(
    make: Callable[[], ProtocolSession],
    frame: dict[str, object],
    outputs: list[object],
    after: State,
) -> None:
    session = make()
    assert receive(session, frame) == outputs
    assert session.state is after
    # What the session answered itself is what the device gets.
    answers = [msgpack.unpackb(encode(out)) for out in outputs if isinstance(out, Ok | Err)]
    assert written(session) == answers


BAD_FRAMES: list[tuple[str, bytes]] = [
    ("no id", pack({"t": "ping"})),
    ("unknown t", pack({"t": "nope", "id": 5})),
]
UNSUPPORTED: list[tuple[str, bytes]] = [
    ("not msgpack", b"\xc1"),
    ("not a map", pack([1, 2])),
    ("truncated", pack({"t": "ping", "id": 5})[:-1]),
]
LIVE = [unauthenticated, authenticating, authenticated, draining]


@pytest.mark.parametrize("make", LIVE)
@pytest.mark.parametrize(("_name", "data"), BAD_FRAMES)
def test_a_bad_frame_gets_bad_request_and_changes_nothing(
    make: Callable[[], ProtocolSession], _name: str, data: bytes
) -> None:
    session = make()
    before = session.state
    [out] = session.receive_bytes(data, 1.0)
    assert isinstance(out, Err) and out.code is ErrorCode.BAD_REQUEST
    assert session.state is before


@pytest.mark.parametrize("make", LIVE)
@pytest.mark.parametrize(("_name", "data"), UNSUPPORTED)
def test_unsupported_data_gets_an_err_then_close_1003_without_bye(
    make: Callable[[], ProtocolSession], _name: str, data: bytes
) -> None:
    session = make()
    written(session)
    err, close = session.receive_bytes(data, 1.0)
    assert isinstance(err, Err) and err.id is None and err.code is ErrorCode.BAD_REQUEST
    assert close == Close(Violation.UNSUPPORTED_DATA)
    assert (close.code, close.reason) == (CloseCode.UNSUPPORTED_DATA, "unsupported data")
    assert session.state is State.CLOSING
    assert written(session) == [msgpack.unpackb(encode(err)), close]


@pytest.mark.parametrize("make", [unauthenticated, authenticated])
def test_a_text_message_gets_an_err_then_close_1003(make: Callable[[], ProtocolSession]) -> None:
    session = make()
    err, close = session.receive_text('{"t": "ping", "id": 1}', 1.0)
    assert isinstance(err, Err) and err.id is None
    assert close.code is CloseCode.UNSUPPORTED_DATA
    assert session.state is State.CLOSING


def test_a_message_over_the_size_limit_closes_with_1009() -> None:
    limits = Limits(max_body_chars=500, max_message_bytes=5000)
    session = authenticate(ProtocolSession(now=0.0, limits=limits))
    at_limit = {"t": "send", "id": 5, "channel": 9, "cid": "c", "body": ""}
    at_limit["body"] = "x" * (5000 - len(pack(at_limit)) - 2)  # str8 header: two more bytes
    assert len(pack(at_limit)) == 5000
    [too_long] = receive(session, at_limit)
    assert too_long == Err(5, ErrorCode.TOO_LONG, too_long.msg)
    assert session.receive_bytes(pack(at_limit) + b"\x00", 1.0) == [Close(Violation.MESSAGE_TOO_BIG)]
    assert session.state is State.CLOSING


@pytest.mark.parametrize("make", [unauthenticated, authenticating])
def test_before_auth_only_small_messages_are_read(make: Callable[[], ProtocolSession]) -> None:
    session = make()
    small = session.limits.max_unauthenticated_bytes
    ping = {"t": "ping", "id": 5, "pad": ""}
    ping["pad"] = "x" * (small - len(pack(ping)) - 2)
    assert len(pack(ping)) == small
    assert receive(session, ping) == [PONG]
    assert session.receive_bytes(pack(ping) + b"\x00", 1.0) == [Close(Violation.MESSAGE_TOO_BIG)]
    assert session.take_ending() is Violation.MESSAGE_TOO_BIG


def test_after_auth_messages_up_to_the_message_limit_are_read() -> None:
    session = authenticated()
    ping = {"t": "ping", "id": 5, "pad": "x" * (64 * 1024)}
    assert receive(session, ping) == [PONG]


def test_nothing_is_answered_once_closing_or_closed() -> None:
    for session in (closing(), closed()):
        assert session.receive_bytes(b"\xc1", 1.0) == []
        assert session.receive_text("hello", 1.0) == []
        assert session.receive_bytes(pack({"t": "ping"}), 1.0) == []
        assert written(session) == []


# -- authentication -------------------------------------------------------------


def auth_ok(request_id: int = 1) -> Ok:
    return Ok(request_id, AuthResult(USER, DEVICE, heartbeat=5))


def test_the_auths_ok_moves_to_the_device() -> None:
    session = authenticating()
    assert session.user is None and session.device is None
    session.answer(AuthRequest(1, "t0ken"), auth_ok())
    assert session.state is State.AUTHENTICATED
    assert (session.user, session.device) == (USER, DEVICE)
    assert written(session) == [{"t": "ok", "id": 1, "user": USER, "device": DEVICE, "heartbeat": 5}]


def test_a_rejected_auth_allows_another() -> None:
    session = authenticating()
    session.answer(AuthRequest(1, "t0ken"), Err(1, ErrorCode.BAD_TOKEN))
    assert session.state is State.UNAUTHENTICATED and session.user is None
    assert written(session)[0]["code"] == "bad_token"
    assert receive(session, AUTH) == [DISPATCH_AUTH]


def test_an_auth_that_fails_validation_does_not_start_authenticating() -> None:
    session = unauthenticated()
    [err] = receive(session, {"t": "auth", "id": 5, "token": 17})
    assert isinstance(err, Err) and err.code is ErrorCode.BAD_REQUEST
    assert session.state is State.UNAUTHENTICATED
    [err] = receive(session, {"t": "auth", "id": 6, "token": ""})
    assert isinstance(err, Err) and err.code is ErrorCode.BAD_TOKEN
    assert session.state is State.UNAUTHENTICATED


def test_answering_what_was_never_dispatched_is_a_driver_bug() -> None:
    with pytest.raises(LocalProtocolError):
        unauthenticated().answer(AuthRequest(1, "t0ken"), auth_ok())
    with pytest.raises(LocalProtocolError):
        authenticated().answer(ChannelsRequest(5), Ok(5))
    session = authenticating()
    with pytest.raises(LocalProtocolError):
        session.answer(AuthRequest(1, "t0ken"), auth_ok(request_id=2))
    with pytest.raises(LocalProtocolError):
        session.answer(AuthRequest(1, "t0ken"), Ok(1))  # an auth's ok says who the device is


def test_an_auth_completing_while_closing_changes_nothing() -> None:
    session = authenticating()
    session.close(ByeReason.REVOKED)
    written(session)
    session.answer(AuthRequest(1, "t0ken"), auth_ok())
    assert session.state is State.CLOSING
    assert session.user is None
    assert written(session) == [], "nothing goes after the close"


def test_auth_outcomes_after_close_change_nothing() -> None:
    session = authenticating()
    session.closed()
    session.answer(AuthRequest(1, "t0ken"), auth_ok())
    assert session.state is State.CLOSED and session.user is None


# -- the one gate for events --------------------------------------------------------


def test_events_go_out_only_to_an_authenticated_device() -> None:
    """`send_event` is what the node uses for every event of every channel and user."""
    for make in (authenticated, draining):
        session = make()
        written(session)
        session.send_event(EVENT)
        assert written(session) == [msgpack.unpackb(EVENT)]
    for make in (unauthenticated, closing, closed):
        session = make()
        session.send_event(EVENT)
        assert written(session) == []


def test_events_for_a_device_still_authenticating_wait_for_its_ok() -> None:
    # The driver attaches the device to its user before the auth's ok, so
    # events can come first; the device hears who it is before anything else.
    session = authenticating()
    session.send_event(EVENT)
    assert written(session) == []
    session.answer(AuthRequest(1, "t0ken"), auth_ok())
    ok, event = written(session)
    assert ok["t"] == "ok" and event == msgpack.unpackb(EVENT)


def test_events_held_for_an_auth_that_fails_are_dropped() -> None:
    session = authenticating()
    session.send_event(EVENT)
    session.answer(AuthRequest(1, "t0ken"), Err(1, ErrorCode.BAD_TOKEN))
    [err] = written(session)
    assert err["code"] == "bad_token"
    assert session.queued_bytes == 0


# -- closing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (ByeReason.DRAINING, CloseCode.GOING_AWAY),
        (ByeReason.REVOKED, CloseCode.NORMAL),
        (ByeReason.SLOW_CONSUMER, CloseCode.POLICY_VIOLATION),
        (ByeReason.IDLE, CloseCode.POLICY_VIOLATION),
    ],
)
def test_closing_says_bye_then_closes(reason: ByeReason, code: CloseCode) -> None:
    session = authenticated()
    session.close(reason, retry=250)
    expected_bye = bye(reason.value, retry=250) if reason is ByeReason.DRAINING else bye(reason.value)
    assert written(session) == [expected_bye, Close(reason)]
    assert Close(reason).code is code
    assert session.state is State.CLOSING
    assert session.take_ending() is reason
    assert session.take_ending() is None, "told once"


@pytest.mark.parametrize("make", [unauthenticated, authenticating])
def test_a_connection_that_never_authenticated_is_told_bye_when_the_node_drains(
    make: Callable[[], ProtocolSession],
) -> None:
    session = make()
    session.close(ByeReason.DRAINING)
    assert written(session) == [bye("draining"), Close(ByeReason.DRAINING)]


@pytest.mark.parametrize("make", [closing, closed])
def test_closing_twice_says_bye_once(make: Callable[[], ProtocolSession]) -> None:
    session = make()
    session.close(ByeReason.IDLE)
    assert written(session) == []


def test_revoked_says_bye_after_what_was_queued_before() -> None:
    # `logout`: its ok reaches the device before the bye.
    session = authenticated()
    [dispatch] = receive(session, {"t": "logout", "id": 3})
    assert isinstance(dispatch, Dispatch)
    session.answer(dispatch.request, Ok(3))
    session.close(ByeReason.REVOKED)
    assert written(session) == [{"t": "ok", "id": 3}, bye("revoked"), Close(ByeReason.REVOKED)]


def test_draining_answers_the_requests_in_flight_then_says_bye() -> None:
    session = draining()  # channels (id 2) in flight
    assert written(session) == []
    assert receive(session, CHANNELS) == [DRAINING]
    session.answer(ChannelsRequest(2), Ok(2))
    assert written(session) == [
        msgpack.unpackb(encode(DRAINING)),
        {"t": "ok", "id": 2},
        bye("draining", retry=250),
        Close(ByeReason.DRAINING),
    ]
    assert session.state is State.CLOSING


def test_draining_with_nothing_in_flight_says_bye_at_once() -> None:
    session = authenticated()
    session.close(ByeReason.DRAINING, retry=1000)
    assert written(session) == [bye("draining", retry=1000), Close(ByeReason.DRAINING)]


def test_replies_to_requests_answered_after_the_close_are_dropped() -> None:
    session = authenticated()
    [dispatch] = receive(session, CHANNELS)
    session.close(ByeReason.REVOKED)
    session.answer(dispatch.request, Ok(5))
    assert written(session) == [bye("revoked"), Close(ByeReason.REVOKED)]


# -- the outbound queue, bounded in bytes -------------------------------------------

SMALL_QUEUE = Limits(max_outbound_bytes=1 << 20)
BIG_EVENT = b"\x80" * (300 * 1024)  # what a channel hands over is never decoded here


def small_queue() -> ProtocolSession:
    session = authenticate(ProtocolSession(now=0.0, limits=SMALL_QUEUE))
    written(session)
    return session


def test_a_device_that_does_not_read_is_a_slow_consumer_past_the_byte_cap() -> None:
    session = small_queue()
    for _ in range(3):
        session.send_event(BIG_EVENT)
    assert session.queued_bytes == 3 * len(BIG_EVENT)
    assert session.state is State.AUTHENTICATED
    session.send_event(BIG_EVENT)  # a fourth would pass 1 MiB
    # What was queued is dropped: the device recovers with `sync`.
    assert written(session) == [bye("slow_consumer"), Close(ByeReason.SLOW_CONSUMER)]
    assert session.take_ending() is ByeReason.SLOW_CONSUMER


def test_replies_count_against_the_cap_as_events_do() -> None:
    # The never-reading client asking for page after page of large messages.
    session = small_queue()
    for _ in range(3):
        session.send_event(BIG_EVENT)
    [dispatch] = receive(session, {"t": "sync", "id": 9, "channel": 1, "after": 0})
    page = PageResult([Message(1, 1, 2, 3, "x" * 200_000, 4, "c")], more=False)
    session.answer(dispatch.request, Ok(9, page))
    assert written(session) == [bye("slow_consumer"), Close(ByeReason.SLOW_CONSUMER)]


def test_the_frame_being_written_counts_until_the_writer_takes_the_next() -> None:
    session = small_queue()
    session.send_event(BIG_EVENT)
    assert session.next_output() == BIG_EVENT
    assert session.queued_bytes == len(BIG_EVENT), "taken, but not yet written"
    session.send_event(BIG_EVENT)
    session.send_event(BIG_EVENT)
    assert session.state is State.AUTHENTICATED
    session.send_event(BIG_EVENT)
    assert session.state is State.CLOSING
    # The frame in flight stays counted after the queue is dropped; then the bye.
    assert session.queued_bytes == len(BIG_EVENT) + len(encode(ByeEvent(ByeReason.SLOW_CONSUMER)))
    assert msgpack.unpackb(session.next_output()) == bye("slow_consumer")
    assert session.next_output() == Close(ByeReason.SLOW_CONSUMER)
    assert session.next_output() is None
    assert session.queued_bytes == 0


def test_one_frame_always_fits_an_empty_queue() -> None:
    session = small_queue()
    huge = b"\x80" * (2 << 20)
    session.send_event(huge)
    assert session.next_output() == huge
    session.send_event(b"\x80")
    assert session.state is State.CLOSING, "the one being written counts"


# -- the clock ----------------------------------------------------------------------

QUICK = Limits(heartbeat=1, idle_heartbeats=2, auth_timeout=5.0)  # idle after 2 s


def test_a_silent_device_is_told_bye_idle_and_its_queue_dropped() -> None:
    session = authenticate(ProtocolSession(now=0.0, limits=QUICK))  # its auth came at 1.0
    session.send_event(EVENT)
    session.tick(2.9)
    assert session.state is State.AUTHENTICATED
    session.tick(3.0)
    assert written(session) == [bye("idle"), Close(ByeReason.IDLE)]


def test_any_frame_restarts_the_idle_clock() -> None:
    session = authenticate(ProtocolSession(now=0.0, limits=QUICK))
    receive(session, PING, now=1.5)
    session.tick(3.0)
    assert session.state is State.AUTHENTICATED
    session.tick(3.5)
    assert session.state is State.CLOSING


def test_a_device_waiting_on_its_own_request_is_not_idle() -> None:
    session = authenticate(ProtocolSession(now=0.0, limits=QUICK))
    [dispatch] = receive(session, CHANNELS, now=0.0)
    for now in (2.0, 4.0, 6.0):
        session.tick(now)
    assert session.state is State.AUTHENTICATED
    session.answer(dispatch.request, Ok(5))
    session.tick(7.9)
    assert session.state is State.AUTHENTICATED, "idle from the last tick that saw it waiting"
    session.tick(8.0)
    assert session.state is State.CLOSING


@pytest.mark.parametrize("make_state", ["unauthenticated", "authenticating"])
def test_a_connection_not_authenticated_by_the_deadline_is_closed_1008_without_bye(make_state: str) -> None:
    session = ProtocolSession(now=10.0, limits=QUICK)
    if make_state == "authenticating":
        receive(session, AUTH, now=10.0)
    for now in (11.0, 12.0, 13.0, 14.0):  # pinging keeps it from idle, not from the deadline
        receive(session, {"t": "ping", "id": int(now)}, now)
        session.tick(now)
    assert session.state is not State.CLOSING
    written(session)
    session.tick(15.0)
    assert written(session) == [Close(Violation.AUTH_TIMEOUT)]
    assert Close(Violation.AUTH_TIMEOUT).code is CloseCode.POLICY_VIOLATION
    assert session.take_ending() is Violation.AUTH_TIMEOUT


def test_an_authenticated_device_has_no_auth_deadline() -> None:
    session = ProtocolSession(now=0.0, limits=QUICK)
    authenticate(session)
    for now in range(1, 30):
        receive(session, {"t": "ping", "id": now}, float(now))
        session.tick(float(now))
    assert session.state is State.AUTHENTICATED


def test_a_close_that_does_not_get_through_in_the_grace_is_aborted() -> None:
    session = authenticate(ProtocolSession(now=0.0, close_grace=2.0))
    session.send_event(EVENT)
    session.next_output()  # the writer is stuck on this one: the peer does not read
    session.close(ByeReason.REVOKED)
    session.tick(10.0)  # the grace starts at the first tick that sees the session closing
    session.tick(11.9)
    assert session.state is State.CLOSING
    session.tick(12.0)
    assert session.state is State.CLOSED
    assert session.next_output() is None, "aborted: nothing more is written"


# -- activity, for the idle timer -------------------------------------------------


def test_last_activity_starts_at_the_connection_and_follows_every_frame() -> None:
    session = ProtocolSession(now=10.0)
    assert session.last_activity == 10.0
    receive(session, PING, now=12.5)
    assert session.last_activity == 12.5
    session.receive_bytes(pack({"t": "nope"}), 13.0)
    assert session.last_activity == 13.0
    session.receive_bytes(b"\xc1", 14.0)
    assert session.last_activity == 14.0


def test_last_activity_never_moves_back() -> None:
    session = ProtocolSession(now=10.0)
    receive(session, PING, now=9.0)
    assert session.last_activity == 10.0


# -- the send rate limit ----------------------------------------------------------


def send(session: ProtocolSession, request_id: int, now: float, body: str = "hi") -> object:
    [out] = receive(
        session,
        {"t": "send", "id": request_id, "channel": 9, "body": body, "cid": f"c{request_id}"},
        now,
    )
    return out


def test_every_valid_send_is_dispatched_the_rate_being_the_devices_not_the_connections() -> None:
    """A bucket per connection is one an attacker multiplies by connecting
    again: the send rate is kept per device, by the grant the node's user
    actor hands every connection of the device (tests/actors/test_grants.py)."""
    session = authenticate(ProtocolSession(now=0.0, limits=Limits(send_burst=1)))
    assert all(isinstance(send(session, i, now=0.0), Dispatch) for i in range(10))


# -- the whole machine against a model, checked after every step ------------------

MODEL_LIMITS = Limits(heartbeat=1, idle_heartbeats=2, auth_timeout=5.0, max_outbound_bytes=1 << 20)
MODEL_GRACE = 2.0
LIVE_STATES = (State.UNAUTHENTICATED, State.AUTHENTICATING, State.AUTHENTICATED, State.DRAINING)
BIG_PAGE = PageResult([Message(1, 1, 2, 3, "x" * 200_000, 4, "c")], more=False)
TEXT_ERR = Err(None, ErrorCode.BAD_REQUEST, "frames must be binary messages")


@define
class Model:
    """What the session should be, and should have queued, in plain rules of its own."""

    state: State = State.UNAUTHENTICATED
    now: float = 0.0
    last: float = 0.0
    user: bool = False
    in_flight: list[AuthRequest | ChannelsRequest] = field(factory=list)
    queue: list[bytes | Close] = field(factory=list)  # what the writer takes next, in order
    held: list[bytes] = field(factory=list)
    writing: int = 0
    ending: Ending | None = None
    told_ending: bool = False
    close_by: float | None = None
    retry: int | None = None

    @property
    def queued(self) -> int:
        frames = sum(len(item) for item in self.queue if isinstance(item, bytes))
        return frames + sum(map(len, self.held)) + self.writing

    def fits(self, data: bytes) -> bool:
        if self.ending is not None or self.state is State.CLOSED:
            return False
        if self.queued and self.queued + len(data) > MODEL_LIMITS.max_outbound_bytes:
            if self.state in LIVE_STATES:
                self.bye(ByeReason.SLOW_CONSUMER, drop=True)
            return False
        return True

    def put(self, data: bytes) -> None:
        if self.fits(data):
            self.queue.append(data)

    def reply(self, reply: Ok | Err) -> None:
        self.put(encode(reply))

    def end(self, why: Ending) -> None:
        self.state = State.CLOSING
        self.held = []
        self.ending = why
        self.queue.append(Close(why))

    def bye(self, reason: ByeReason, *, drop: bool = False) -> None:
        self.state = State.CLOSING
        if drop:
            self.queue, self.held = [], []
        retry = self.retry if reason is ByeReason.DRAINING else None
        self.queue.append(encode(ByeEvent(reason, retry)))
        self.end(reason)

    def abort(self) -> None:
        self.state = State.CLOSED
        self.queue, self.held = [], []

    def receive(self, kind: str, request_id: int) -> None:
        if self.state not in LIVE_STATES:
            return
        self.last = max(self.last, self.now)
        state = self.state
        if kind == "text":
            self.state = State.CLOSING
            self.reply(TEXT_ERR)
            self.end(Violation.UNSUPPORTED_DATA)
        elif kind == "ping":
            self.reply(Ok(request_id))
        elif state is State.DRAINING:
            self.reply(Err(request_id, ErrorCode.UNAVAILABLE, "node is draining, reconnect"))
        elif kind == "auth" and state is State.UNAUTHENTICATED:
            self.in_flight.append(AuthRequest(request_id, "t0ken"))
            self.state = State.AUTHENTICATING
        elif kind == "auth" and state is State.AUTHENTICATING:
            self.reply(Err(request_id, ErrorCode.BAD_REQUEST, "authentication in progress"))
        elif kind == "auth":
            self.reply(Err(request_id, ErrorCode.BAD_REQUEST, "already authenticated"))
        elif state is State.AUTHENTICATED:
            self.in_flight.append(ChannelsRequest(request_id))
        else:
            self.reply(Err(request_id, ErrorCode.UNAUTHENTICATED))

    def answer(self, request: AuthRequest | ChannelsRequest, reply: Ok | Err) -> None:
        self.in_flight.remove(request)
        if not isinstance(request, AuthRequest):
            self.reply(reply)
        elif self.state is State.AUTHENTICATING and isinstance(reply, Ok):
            self.state, self.user = State.AUTHENTICATED, True
            self.reply(reply)
            held, self.held = self.held, []
            for event in held:
                self.put(event)
        elif self.state is State.AUTHENTICATING:
            self.state, self.held = State.UNAUTHENTICATED, []
            self.reply(reply)
        if not self.in_flight and self.state is State.DRAINING:
            self.bye(ByeReason.DRAINING)

    def event(self, data: bytes) -> None:
        if self.state in (State.AUTHENTICATED, State.DRAINING):
            self.put(data)
        elif self.state is State.AUTHENTICATING and self.fits(data):
            self.held.append(data)

    def close(self, reason: ByeReason, retry: int | None) -> None:
        if reason is ByeReason.DRAINING:
            self.retry = retry
        if self.state not in LIVE_STATES:
            return
        if reason is not ByeReason.DRAINING:
            self.bye(reason, drop=reason in (ByeReason.SLOW_CONSUMER, ByeReason.IDLE))
        elif self.state is State.AUTHENTICATED:
            self.state = State.DRAINING
            if not self.in_flight:
                self.bye(ByeReason.DRAINING)
        elif self.state is not State.DRAINING:
            self.bye(ByeReason.DRAINING)

    def tick(self, dt: float) -> None:
        self.now += dt
        if self.state is State.CLOSING and self.close_by is None:
            self.close_by = self.now + MODEL_GRACE
        if self.close_by is not None:
            if self.now >= self.close_by and self.state is State.CLOSING:
                self.abort()
        elif not self.user and self.now >= MODEL_LIMITS.auth_timeout:
            if self.state in (State.UNAUTHENTICATED, State.AUTHENTICATING):
                self.end(Violation.AUTH_TIMEOUT)
        elif self.in_flight:
            self.last = max(self.last, self.now)
        elif self.now >= self.last + MODEL_LIMITS.idle_timeout and self.state in LIVE_STATES:
            self.bye(ByeReason.IDLE, drop=True)

    def take(self) -> bytes | Close | None:
        self.writing = 0
        if not self.queue:
            return None
        item = self.queue.pop(0)
        if isinstance(item, bytes):
            self.writing = len(item)
        return item


class SessionAgainstModel(RuleBasedStateMachine):
    """Frames, answers, events, closes, the clock and the writer in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.session = ProtocolSession(now=0.0, limits=MODEL_LIMITS, close_grace=MODEL_GRACE)
        self.model = Model()
        self.ids = itertools.count(1)

    @rule(kind=st.sampled_from(["ping", "auth", "channels", "text"]))
    def receive(self, kind: str) -> None:
        request_id = next(self.ids)
        if kind == "text":
            self.session.receive_text("hello", self.model.now)
        else:
            extra = {"token": "t0ken"} if kind == "auth" else {}
            self.session.receive_bytes(pack({"t": kind, "id": request_id, **extra}), self.model.now)
        self.model.receive(kind, request_id)

    @precondition(lambda self: self.model.in_flight)
    @rule(pick=st.integers(0, 7), ok=st.booleans(), big=st.booleans())
    def answer(self, pick: int, ok: bool, big: bool) -> None:
        request = self.model.in_flight[pick % len(self.model.in_flight)]
        reply: Ok | Err
        if isinstance(request, AuthRequest):
            reply = Ok(request.id, AuthResult(USER, DEVICE, 5)) if ok else Err(request.id, ErrorCode.BAD_TOKEN)
        else:
            reply = Ok(request.id, BIG_PAGE if big else None) if ok else Err(request.id, ErrorCode.NOT_FOUND)
        self.session.answer(request, reply)
        self.model.answer(request, reply)

    @rule(big=st.booleans())
    def event(self, big: bool) -> None:
        data = BIG_EVENT if big else EVENT
        self.session.send_event(data)
        self.model.event(data)

    @rule(reason=st.sampled_from(list(ByeReason)), retry=st.none() | st.integers(0, 5000))
    def close(self, reason: ByeReason, retry: int | None) -> None:
        self.session.close(reason, retry)
        self.model.close(reason, retry)

    @rule(dt=st.sampled_from([0.5, 1.0, 2.5]))
    def tick(self, dt: float) -> None:
        self.model.tick(dt)
        self.session.tick(self.model.now)

    @rule()
    def write(self) -> None:
        assert self.session.next_output() == self.model.take()

    @rule()
    def transport_closed(self) -> None:
        self.session.closed()
        self.model.abort()

    @rule()
    def take_ending(self) -> None:
        expected = None if self.model.told_ending else self.model.ending
        assert self.session.take_ending() == expected
        self.model.told_ending = self.model.told_ending or expected is not None

    @invariant()
    def agrees_with_the_model(self) -> None:
        session, model = self.session, self.model
        assert session.state is model.state
        assert session.user == (USER if model.user else None)
        assert session.queued_bytes == model.queued
        assert session.has_output == bool(model.queue)

    @invariant()
    def the_queue_stays_within_its_cap(self) -> None:
        model = self.model
        frames = sum(isinstance(item, bytes) for item in model.queue) + len(model.held) + bool(model.writing)
        if frames > 1:  # one frame always fits an empty queue; the bye is added past the cap
            assert self.session.queued_bytes <= MODEL_LIMITS.max_outbound_bytes + len(encode(ByeEvent(ByeReason.DRAINING, 5000)))


SessionAgainstModel.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_the_session_against_its_model = SessionAgainstModel.TestCase


# -- room for the replies a device asks for -----------------------------------------


def test_replies_asked_for_may_fill_half_the_queue_and_events_the_rest() -> None:
    session = small_queue()  # 1 MiB
    assert session.has_room_for_replies(2 << 20), "an empty queue takes any one frame"
    session.send_event(BIG_EVENT)  # 300 KiB
    assert session.has_room_for_replies(200 * 1024)
    assert not session.has_room_for_replies(300 * 1024), "past half of 1 MiB"
    session.send_event(BIG_EVENT)
    session.send_event(BIG_EVENT)
    assert session.state is State.AUTHENTICATED, "events may use the other half"
