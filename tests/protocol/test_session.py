"""The session's states: what each request gets in each, and what the driver may do."""

from __future__ import annotations

from collections.abc import Callable

import msgpack
import pytest

from protocol import (
    AuthRequest,
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
    ProtocolSession,
    RegisterRequest,
    State,
)
from protocol._session import TRANSITIONS, Input

from .conftest import DEVICE, USER, authenticate, pack, receive


def unpack(data: bytes | None) -> object:
    assert data is not None
    return msgpack.unpackb(data)


PEER_INPUTS = [
    Input.OPEN,
    Input.AUTH,
    Input.PING,
    Input.USER,
    Input.BAD_FRAME,
    Input.UNSUPPORTED,
    Input.TOO_BIG,
]

# -- the table itself -------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
def test_every_state_has_an_answer_for_everything_a_peer_can_send(state: State) -> None:
    # A peer must never be able to make the session raise.
    assert all((state, peer_input) in TRANSITIONS for peer_input in PEER_INPUTS)


def test_the_transport_closing_is_possible_in_every_state() -> None:
    assert all(TRANSITIONS[state, Input.TRANSPORT_CLOSED][1] is State.CLOSED for state in State)


# -- sessions in each state, driven through the public API -----------------------


def unauthenticated() -> ProtocolSession:
    return ProtocolSession(now=0.0)


def authenticating() -> ProtocolSession:
    session = ProtocolSession(now=0.0)
    receive(session, {"t": "auth", "id": 1, "token": "t0ken"})
    assert session.state is State.AUTHENTICATING
    return session


def authenticated() -> ProtocolSession:
    return authenticate(ProtocolSession(now=0.0))


def closing() -> ProtocolSession:
    session = authenticated()
    session.closing(ByeReason.DRAINING)
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
REFUSED = Err(5, ErrorCode.UNAVAILABLE, "connection is closing")

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
    (closing, REGISTER, [REFUSED], S.CLOSING),
    (closing, AUTH, [REFUSED], S.CLOSING),
    (closing, PING, [REFUSED], S.CLOSING),
    (closing, CHANNELS, [REFUSED], S.CLOSING),
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


BAD_FRAMES: list[tuple[str, bytes]] = [
    ("no id", pack({"t": "ping"})),
    ("unknown t", pack({"t": "nope", "id": 5})),
]
UNSUPPORTED: list[tuple[str, bytes]] = [
    ("not msgpack", b"\xc1"),
    ("not a map", pack([1, 2])),
    ("truncated", pack({"t": "ping", "id": 5})[:-1]),
]


@pytest.mark.parametrize("make", [unauthenticated, authenticating, authenticated, closing])
@pytest.mark.parametrize(("_name", "data"), BAD_FRAMES)
def test_a_bad_frame_gets_bad_request_and_changes_nothing(
    make: Callable[[], ProtocolSession], _name: str, data: bytes
) -> None:
    session = make()
    before = session.state
    [out] = session.receive_bytes(data, 1.0)
    assert isinstance(out, Err) and out.code is ErrorCode.BAD_REQUEST
    assert session.state is before


@pytest.mark.parametrize("make", [unauthenticated, authenticating, authenticated, closing])
@pytest.mark.parametrize(("_name", "data"), UNSUPPORTED)
def test_unsupported_data_gets_an_err_then_close_1003(
    make: Callable[[], ProtocolSession], _name: str, data: bytes
) -> None:
    session = make()
    err, close = session.receive_bytes(data, 1.0)
    assert isinstance(err, Err) and err.id is None and err.code is ErrorCode.BAD_REQUEST
    assert close == Close(CloseCode.UNSUPPORTED_DATA, "unsupported data")
    assert session.state is State.CLOSING


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
    assert session.receive_bytes(pack(at_limit) + b"\x00", 1.0) == [
        Close(CloseCode.MESSAGE_TOO_BIG, "message too big")
    ]
    assert session.state is State.CLOSING


def test_nothing_is_answered_once_closed() -> None:
    session = closed()
    assert session.receive_bytes(b"\xc1", 1.0) == []
    assert session.receive_text("hello", 1.0) == []
    assert session.receive_bytes(pack({"t": "ping"}), 1.0) == []


# -- authentication -------------------------------------------------------------


def test_authenticated_moves_to_the_device() -> None:
    session = authenticating()
    assert session.user is None and session.device is None
    session.authenticated(USER, DEVICE)
    assert session.state is State.AUTHENTICATED
    assert (session.user, session.device) == (USER, DEVICE)


def test_a_rejected_auth_allows_another() -> None:
    session = authenticating()
    session.auth_rejected()
    assert session.state is State.UNAUTHENTICATED
    assert receive(session, AUTH) == [DISPATCH_AUTH]


def test_an_auth_that_fails_validation_does_not_start_authenticating() -> None:
    session = unauthenticated()
    [err] = receive(session, {"t": "auth", "id": 5, "token": 17})
    assert isinstance(err, Err) and err.code is ErrorCode.BAD_REQUEST
    assert session.state is State.UNAUTHENTICATED
    [err] = receive(session, {"t": "auth", "id": 6, "token": ""})
    assert isinstance(err, Err) and err.code is ErrorCode.BAD_TOKEN
    assert session.state is State.UNAUTHENTICATED


@pytest.mark.parametrize("make", [unauthenticated, authenticated])
def test_reporting_an_auth_outcome_nobody_asked_for_is_a_driver_bug(
    make: Callable[[], ProtocolSession],
) -> None:
    with pytest.raises(LocalProtocolError):
        make().authenticated(USER, DEVICE)
    with pytest.raises(LocalProtocolError):
        make().auth_rejected()


def test_an_auth_completing_while_closing_changes_nothing() -> None:
    session = authenticating()
    session.closing(ByeReason.DRAINING)
    session.authenticated(USER, DEVICE)
    assert session.state is State.CLOSING
    assert session.user is None
    session.auth_rejected()
    assert session.state is State.CLOSING


def test_auth_outcomes_after_close_change_nothing() -> None:
    session = authenticating()
    session.closed()
    session.authenticated(USER, DEVICE)
    session.auth_rejected()
    assert session.state is State.CLOSED and session.user is None


# -- closing and sending ----------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (ByeReason.DRAINING, CloseCode.GOING_AWAY),
        (ByeReason.REVOKED, CloseCode.NORMAL),
        (ByeReason.SLOW_CONSUMER, CloseCode.POLICY_VIOLATION),
        (ByeReason.IDLE, CloseCode.POLICY_VIOLATION),
    ],
)
def test_closing_sends_bye_then_closes(reason: ByeReason, code: CloseCode) -> None:
    session = authenticated()
    assert session.closing(reason, retry=250) == [ByeEvent(reason, 250), Close(code, reason.value)]
    assert session.state is State.CLOSING


@pytest.mark.parametrize("make", [unauthenticated, authenticating])
def test_a_connection_that_never_authenticated_can_be_told_bye(
    make: Callable[[], ProtocolSession],
) -> None:
    session = make()
    bye, close = session.closing(ByeReason.DRAINING)
    assert isinstance(bye, ByeEvent) and isinstance(close, Close)
    assert unpack(session.send(bye)) == {"t": "bye", "reason": "draining"}


@pytest.mark.parametrize("make", [closing, closed])
def test_closing_twice_says_bye_once(make: Callable[[], ProtocolSession]) -> None:
    assert make().closing(ByeReason.IDLE) == []


def test_replies_to_earlier_requests_still_go_out_while_closing() -> None:
    session = closing()
    assert unpack(session.send(Ok(5))) == {"t": "ok", "id": 5}
    assert session.send(Err(6, ErrorCode.INTERNAL, "boom")) is not None


def test_events_go_out_only_to_an_authenticated_device() -> None:
    event = MsgEvent(Message(channel=1, seq=1, sender=2, device=3, body="hi", ts=4, cid="c"))
    assert authenticated().send(event) is not None
    assert closing().send(event) is not None  # was authenticated, may still drain
    for make in (unauthenticated, authenticating):
        with pytest.raises(LocalProtocolError):
            make().send(event)


def test_a_bye_comes_from_closing_not_from_send() -> None:
    with pytest.raises(LocalProtocolError):
        authenticated().send(ByeEvent(ByeReason.DRAINING))


def test_nothing_can_be_sent_once_closed() -> None:
    session = closed()
    assert session.send(Ok(5)) is None
    assert session.send(MsgEvent(Message(1, 1, 2, 3, "hi", 4, "c"))) is None


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


# -- sends -------------------------------------------------------------------------


def send(session: ProtocolSession, request_id: int, now: float) -> object:
    [out] = receive(
        session,
        {"t": "send", "id": request_id, "channel": 9, "body": "hi", "cid": f"c{request_id}"},
        now,
    )
    return out


def test_every_valid_send_is_dispatched_the_rate_being_the_devices_not_the_connections() -> None:
    """A bucket per connection is one an attacker multiplies by connecting
    again: the send rate is kept per device, by the grant the node's user
    actor hands every connection of the device (tests/actors/test_grants.py)."""
    session = authenticate(ProtocolSession(now=0.0, limits=Limits(send_burst=1)))
    assert all(isinstance(send(session, i, now=0.0), Dispatch) for i in range(10))
