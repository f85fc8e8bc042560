"""Every request type: what is dispatched, and what is refused with which code."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import (
    AckRequest,
    AuthRequest,
    ChannelsRequest,
    DevicesRequest,
    DirectRequest,
    Dispatch,
    Err,
    ErrorCode,
    GroupRequest,
    HistoryRequest,
    InviteRequest,
    LeaveRequest,
    Limits,
    LoginRequest,
    LogoutRequest,
    LookupRequest,
    NotifyLevel,
    NotifyRequest,
    Ok,
    PresenceRequest,
    ProtocolSession,
    PushRequest,
    PushTarget,
    ReadRequest,
    RegisterRequest,
    Request,
    RevokeRequest,
    SendRequest,
    SyncRequest,
    TypingRequest,
)

from .conftest import authenticate, receive

MAX = 2**63 - 1
BAD = ErrorCode.BAD_REQUEST
SMILE = "\N{GRINNING FACE}"  # four bytes of UTF-8, one character
assert len(SMILE.encode()) == 4


def outcome(session: ProtocolSession, t: str, **fields: Any) -> Request | ErrorCode:
    """What one request comes to: the dispatched request, or the err code."""
    [out] = receive(session, {"t": t, "id": 7, **fields})
    if isinstance(out, Dispatch):
        return out.request
    assert isinstance(out, Err)
    assert out.id == 7
    return out.code


def before_auth(t: str, limits: Limits | None = None, **fields: Any) -> Request | ErrorCode:
    return outcome(ProtocolSession(now=0.0, limits=limits or Limits()), t, **fields)


def after_auth(t: str, limits: Limits | None = None, **fields: Any) -> Request | ErrorCode:
    return outcome(authenticate(ProtocolSession(now=0.0, limits=limits or Limits())), t, **fields)


# -- before authentication ------------------------------------------------------

GOOD_PASSWORD = "correct horse"


@pytest.mark.parametrize("username", ["abc", "a" * 32, "a_b.c-d", "0123", "..."])
def test_register_accepts_usernames_of_3_to_32_allowed_characters(username: str) -> None:
    assert before_auth("register", username=username, password=GOOD_PASSWORD) == RegisterRequest(
        7, username, GOOD_PASSWORD
    )


@pytest.mark.parametrize(
    "username", ["ab", "a" * 33, "Abc", "a b", "abc" + SMILE, "abc\n", "", 123, None]
)
def test_register_refuses_other_usernames_as_bad_request(username: object) -> None:
    assert before_auth("register", username=username, password=GOOD_PASSWORD) is BAD


@pytest.mark.parametrize("password", ["x" * 8, "x" * 1024, SMILE * 8, SMILE * 1024])
def test_register_accepts_passwords_of_8_to_1024_characters(password: str) -> None:
    request = before_auth("register", username="alice", password=password)
    assert request == RegisterRequest(7, "alice", password)


@pytest.mark.parametrize("password", ["x" * 7, "x" * 1025, SMILE * 1025, b"binary password", None])
def test_register_refuses_other_passwords_as_bad_request(password: object) -> None:
    assert before_auth("register", username="alice", password=password) is BAD


def test_login_is_dispatched_with_the_new_device_name() -> None:
    request = before_auth("login", username="alice", password=GOOD_PASSWORD, device="phone")
    assert request == LoginRequest(7, "alice", GOOD_PASSWORD, "phone")


@pytest.mark.parametrize(
    ("username", "password"),
    [("al", GOOD_PASSWORD), ("Alice", GOOD_PASSWORD), ("alice", "short"), ("alice", "x" * 1025)],
)
def test_login_answers_impossible_credentials_like_wrong_ones(username: str, password: str) -> None:
    # No account can have them, so the answer is the one for any unknown
    # account, and a megabyte password is refused without hashing it.
    assert (
        before_auth("login", username=username, password=password, device="phone")
        is ErrorCode.BAD_CREDENTIALS
    )


@pytest.mark.parametrize("device", ["p", "p" * 64, SMILE * 64])
def test_login_accepts_device_names_of_1_to_64_characters(device: str) -> None:
    assert isinstance(
        before_auth("login", username="alice", password=GOOD_PASSWORD, device=device), LoginRequest
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "alice", "password": GOOD_PASSWORD, "device": ""},
        {"username": "alice", "password": GOOD_PASSWORD, "device": "p" * 65},
        {"username": "alice", "password": GOOD_PASSWORD},
        {"username": "alice", "password": 12345678, "device": "phone"},
        {"username": ["alice"], "password": GOOD_PASSWORD, "device": "phone"},
    ],
)
def test_login_refuses_malformed_fields_as_bad_request(fields: dict[str, Any]) -> None:
    assert before_auth("login", **fields) is BAD


def test_auth_is_dispatched_with_its_token() -> None:
    assert before_auth("auth", token="abc") == AuthRequest(7, "abc")


@pytest.mark.parametrize("token", ["", "x" * 513])
def test_auth_answers_impossible_tokens_with_bad_token(token: str) -> None:
    assert before_auth("auth", token=token) is ErrorCode.BAD_TOKEN


@pytest.mark.parametrize("fields", [{}, {"token": None}, {"token": 5}, {"token": b"abc"}])
def test_auth_without_a_string_token_is_a_bad_request(fields: dict[str, Any]) -> None:
    assert before_auth("auth", **fields) is BAD


# -- after authentication: ids and seqs -----------------------------------------


@pytest.mark.parametrize("user", [1, MAX])
def test_ids_are_positive_63_bit_integers(user: int) -> None:
    assert after_auth("direct", user=user) == DirectRequest(7, user)


@pytest.mark.parametrize("user", [0, -1, MAX + 1, 2**64 - 1, -(2**63), True, 1.0, "1", [1], None])
def test_anything_else_is_refused_where_an_id_is_expected(user: object) -> None:
    assert after_auth("direct", user=user) is BAD


@pytest.mark.parametrize("seq", [0, 1, MAX])
def test_seqs_are_non_negative_63_bit_integers(seq: int) -> None:
    assert after_auth("read", channel=3, seq=seq) == ReadRequest(7, 3, seq)


@pytest.mark.parametrize("seq", [-1, MAX + 1, False, 0.5, "0"])
def test_anything_else_is_refused_where_a_seq_is_expected(seq: object) -> None:
    assert after_auth("read", channel=3, seq=seq) is BAD


# -- after authentication: each request -----------------------------------------


def test_lookup_is_dispatched_with_the_username() -> None:
    assert after_auth("lookup", username="bob") == LookupRequest(7, "bob")


@pytest.mark.parametrize("username", ["bo", "Bob", "b" * 33])
def test_lookup_of_a_name_no_account_can_have_is_not_found(username: str) -> None:
    assert after_auth("lookup", username=username) is ErrorCode.NOT_FOUND


def test_lookup_of_a_non_string_is_a_bad_request() -> None:
    assert after_auth("lookup", username=5) is BAD


def test_group_dedupes_its_members() -> None:
    assert after_auth("group", name="team", members=[3, 2, 3]) == GroupRequest(
        7, "team", frozenset({2, 3})
    )


@pytest.mark.parametrize("name", ["t", "t" * 128, SMILE * 128])
def test_group_names_have_1_to_128_characters(name: str) -> None:
    assert after_auth("group", name=name, members=[]) == GroupRequest(7, name, frozenset())


@pytest.mark.parametrize("name", ["", "t" * 129, 5, None])
def test_group_refuses_other_names(name: object) -> None:
    assert after_auth("group", name=name, members=[2]) is BAD


def test_group_member_lists_up_to_the_limit_are_dispatched() -> None:
    members = list(range(1, 101))
    assert after_auth("group", name="big", members=members) == GroupRequest(
        7, "big", frozenset(members)
    )


def test_group_member_lists_that_can_never_fit_are_too_many_members() -> None:
    assert (
        after_auth("group", name="big", members=list(range(1, 102))) is ErrorCode.TOO_MANY_MEMBERS
    )


def test_the_member_limit_is_the_operators() -> None:
    limits = Limits(max_group_members=5)
    assert after_auth("group", limits, name="g", members=[1, 2, 3, 4, 5]) == GroupRequest(
        7, "g", frozenset(range(1, 6))
    )
    assert (
        after_auth("group", limits, name="g", members=[1, 2, 3, 4, 5, 6])
        is ErrorCode.TOO_MANY_MEMBERS
    )


@pytest.mark.parametrize("members", [None, 5, [0], [1, -2], [True], [1.5], ["2"], {"a": 1}])
def test_group_members_must_be_a_list_of_ids(members: object) -> None:
    assert after_auth("group", name="g", members=members) is BAD


def test_invite_is_dispatched_with_deduped_users() -> None:
    assert after_auth("invite", channel=9, users=[5, 5, 6]) == InviteRequest(
        7, 9, frozenset({5, 6})
    )


def test_invite_of_more_users_than_a_group_holds_is_too_many_members() -> None:
    assert after_auth("invite", channel=9, users=list(range(1, 102))) is ErrorCode.TOO_MANY_MEMBERS


def test_leave_typing_and_revoke_carry_one_id() -> None:
    assert after_auth("leave", channel=9) == LeaveRequest(7, 9)
    assert after_auth("typing", channel=9) == TypingRequest(7, 9)
    assert after_auth("revoke", device=9) == RevokeRequest(7, 9)
    assert after_auth("leave") is BAD
    assert after_auth("revoke", device=0) is BAD


def test_requests_without_fields_ignore_unknown_ones() -> None:
    assert after_auth("channels", later_version_field={"x": [1]}) == ChannelsRequest(7)
    assert after_auth("devices") == DevicesRequest(7)
    assert after_auth("logout") == LogoutRequest(7)


def test_send_of_exactly_max_body_chars_is_dispatched() -> None:
    body = "x" * 100_000
    assert after_auth("send", channel=9, body=body, cid="c1") == SendRequest(7, 9, body, "c1")


def test_body_length_counts_characters_not_bytes() -> None:
    body = SMILE * 100_000  # 400,000 bytes of UTF-8
    assert after_auth("send", channel=9, body=body, cid="c1") == SendRequest(7, 9, body, "c1")


@pytest.mark.parametrize("body", ["x" * 100_001, SMILE * 100_001, "x" * 99_999 + SMILE * 2])
def test_one_character_over_the_limit_is_too_long_not_bad_request(body: str) -> None:
    assert after_auth("send", channel=9, body=body, cid="c1") is ErrorCode.TOO_LONG


def test_the_body_limit_is_the_operators() -> None:
    limits = Limits(max_body_chars=10)
    assert isinstance(after_auth("send", limits, channel=9, body="x" * 10, cid="c"), SendRequest)
    assert after_auth("send", limits, channel=9, body="x" * 11, cid="c") is ErrorCode.TOO_LONG


def test_an_empty_body_is_a_message() -> None:
    assert after_auth("send", channel=9, body="", cid="c1") == SendRequest(7, 9, "", "c1")


@pytest.mark.parametrize("cid", ["c", "c" * 64, SMILE * 64])
def test_cids_have_1_to_64_characters(cid: str) -> None:
    assert after_auth("send", channel=9, body="hi", cid=cid) == SendRequest(7, 9, "hi", cid)


@pytest.mark.parametrize(
    "fields",
    [
        {"channel": 9, "body": "hi", "cid": ""},
        {"channel": 9, "body": "hi", "cid": "c" * 65},
        {"channel": 9, "body": "hi"},
        {"channel": 9, "body": b"hi", "cid": "c"},
        {"channel": 9, "body": None, "cid": "c"},
        {"body": "hi", "cid": "c"},
    ],
)
def test_send_refuses_malformed_fields_as_bad_request(fields: dict[str, Any]) -> None:
    assert after_auth("send", **fields) is BAD


def test_sync_limit_defaults_to_the_default_page() -> None:
    assert after_auth("sync", channel=9, after=0) == SyncRequest(7, 9, 0, 100)
    assert after_auth("sync", channel=9, after=0, limit=None) == SyncRequest(7, 9, 0, 100)
    limits = Limits(max_page=50, default_page=20)
    assert after_auth("sync", limits, channel=9, after=0) == SyncRequest(7, 9, 0, 20)


@pytest.mark.parametrize("limit", [1, 500])
def test_page_limits_of_1_to_500_are_dispatched(limit: int) -> None:
    assert after_auth("sync", channel=9, after=4, limit=limit) == SyncRequest(7, 9, 4, limit)
    assert after_auth("history", channel=9, before=4, limit=limit) == HistoryRequest(7, 9, 4, limit)


@pytest.mark.parametrize("limit", [0, 501, -1, 1.5, "10", True])
def test_page_limits_out_of_range_are_bad_requests(limit: object) -> None:
    assert after_auth("sync", channel=9, after=4, limit=limit) is BAD
    assert after_auth("history", channel=9, before=4, limit=limit) is BAD


def test_sync_and_history_need_their_cursor() -> None:
    assert after_auth("sync", channel=9) is BAD
    assert after_auth("history", channel=9) is BAD
    assert after_auth("history", channel=9, before=-1) is BAD


def test_presence_dedupes_users_and_allows_none() -> None:
    assert after_auth("presence", users=[4, 4, 5]) == PresenceRequest(7, frozenset({4, 5}))
    assert after_auth("presence", users=[]) == PresenceRequest(7, frozenset())


def test_presence_lists_are_bounded() -> None:
    assert isinstance(after_auth("presence", users=list(range(1, 1001))), PresenceRequest)
    assert after_auth("presence", users=list(range(1, 1002))) is BAD


def test_push_sets_a_target_with_its_provider_fields() -> None:
    request = after_auth(
        "push", kind="webpush", endpoint="https://push.example/abc", p256dh="key", auth="secret"
    )
    assert request == PushRequest(7, PushTarget.webpush("https://push.example/abc", "key", "secret"))


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({"kind": "unifiedpush", "endpoint": "https://up.example/x", "p256dh": "k", "auth": "a"},
         PushTarget.webpush("https://up.example/x", "k", "a", unified=True)),
        ({"kind": "fcm", "endpoint": "registration-token"}, PushTarget.fcm("registration-token")),
        ({"kind": "apns", "endpoint": "device-token"}, PushTarget.apns("device-token")),
        ({"kind": "apns", "endpoint": "t", "topic": "app.chat", "sandbox": True},
         PushTarget.apns("t", topic="app.chat", sandbox=True)),
    ],
)
def test_push_reads_the_fields_of_each_kind(fields: dict[str, Any], target: PushTarget) -> None:
    assert after_auth("push", **fields) == PushRequest(7, target)


def test_push_keeps_only_the_kinds_own_fields() -> None:
    # Unknown fields are ignored, as everywhere: a later version may add some.
    request = after_auth("push", kind="fcm", endpoint="token", p256dh="k", extra="x")
    assert request == PushRequest(7, PushTarget.fcm("token"))


def test_push_may_ask_for_previews() -> None:
    request = after_auth("push", kind="fcm", endpoint="token", preview=True)
    assert request == PushRequest(7, PushTarget.fcm("token"), preview=True)
    assert after_auth("push", kind="fcm", endpoint="token", preview="yes") is BAD


def test_push_with_a_nil_endpoint_removes_the_target() -> None:
    assert after_auth("push", endpoint=None) == PushRequest(7, None)
    # Kind and provider fields mean nothing without an endpoint.
    assert after_auth("push", endpoint=None, kind=5, extra=[1]) == PushRequest(7, None)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "webpush"},
        {"kind": "webpush", "endpoint": ""},
        {"kind": "webpush", "endpoint": 5},
        {"endpoint": "https://x"},
        {"kind": "Web Push", "endpoint": "https://x"},
        {"kind": "", "endpoint": "https://x"},
        {"kind": "gcm", "endpoint": "https://x"},
        {"kind": "webpush", "endpoint": "https://x", "auth": "a"},  # no p256dh
        {"kind": "webpush", "endpoint": "https://x", "auth": "a", "p256dh": 5},
        {"kind": "webpush", "endpoint": "https://x", "auth": "a", "p256dh": ""},
        {"kind": "webpush", "endpoint": "https://x", "auth": "a", "p256dh": "k" * 4097},
        {"kind": "webpush", "endpoint": "x" * 4097, "auth": "a", "p256dh": "k"},
        {"kind": "apns", "endpoint": "t", "sandbox": "true"},
        {"kind": "apns", "endpoint": "t", "sandbox": 1},
        {"kind": "apns", "endpoint": "t", "topic": 5},
    ],
)
def test_push_refuses_malformed_targets_as_bad_request(fields: dict[str, Any]) -> None:
    assert after_auth("push", **fields) is BAD


def test_push_names_the_known_kinds_for_an_unknown_one() -> None:
    [out] = receive(
        authenticate(ProtocolSession(now=0.0)), {"t": "push", "id": 7, "kind": "gcm", "endpoint": "x"}
    )
    assert isinstance(out, Err) and out.msg == "kind must be one of apns, fcm, unifiedpush, webpush"


# -- v1.1: ack, notify, mentions ------------------------------------------------------


def test_ack_names_a_channel_and_a_seq() -> None:
    assert after_auth("ack", channel=9, seq=4) == AckRequest(7, 9, 4)
    assert after_auth("ack", channel=9) is BAD
    assert after_auth("ack", channel=0, seq=4) is BAD
    assert after_auth("ack", channel=9, seq=-1) is BAD


def test_ack_needs_authentication() -> None:
    assert before_auth("ack", channel=9, seq=4) is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize("level", list(NotifyLevel))
def test_notify_takes_each_level_with_an_optional_until(level: NotifyLevel) -> None:
    assert after_auth("notify", channel=9, level=str(level)) == NotifyRequest(7, 9, level)
    assert after_auth("notify", channel=9, level=str(level), until=5) == NotifyRequest(7, 9, level, 5)


@pytest.mark.parametrize(
    "fields",
    [{}, {"level": "mute"}, {"level": "ALL"}, {"level": 1}, {"level": "none", "until": -1},
     {"level": "none", "until": "soon"}, {"level": "none", "until": MAX + 1}],
)
def test_notify_refuses_other_levels_and_untils(fields: dict[str, Any]) -> None:
    assert after_auth("notify", channel=9, **fields) is BAD


def test_notify_names_the_levels_for_an_unknown_one() -> None:
    [out] = receive(
        authenticate(ProtocolSession(now=0.0)), {"t": "notify", "id": 7, "channel": 9, "level": "mute"}
    )
    assert isinstance(out, Err) and out.msg == "level must be one of all, mentions, none"


def test_send_may_mention_users() -> None:
    request = after_auth("send", channel=9, body="hi @a", cid="c", mentions=[3, 4, 3])
    assert request == SendRequest(7, 9, "hi @a", "c", frozenset({3, 4}))
    assert after_auth("send", channel=9, body="hi", cid="c") == SendRequest(7, 9, "hi", "c")


@pytest.mark.parametrize("mentions", [[0], [-1], ["3"], 3, [MAX + 1]])
def test_send_refuses_mentions_that_are_not_user_ids(mentions: object) -> None:
    assert after_auth("send", channel=9, body="hi", cid="c", mentions=mentions) is BAD


def test_send_mentions_are_bounded_by_the_group_size() -> None:
    limits = Limits(max_group_members=5)
    assert isinstance(after_auth("send", limits, channel=9, body="", cid="c", mentions=[1, 2, 3, 4, 5]), SendRequest)
    assert after_auth("send", limits, channel=9, body="", cid="c", mentions=[1, 2, 3, 4, 5, 6]) is BAD


# -- the envelope: t and id -----------------------------------------------------


@pytest.mark.parametrize("request_id", [0, 1, MAX])
def test_request_ids_are_non_negative_63_bit_integers(request_id: int) -> None:
    [out] = receive(ProtocolSession(now=0.0), {"t": "ping", "id": request_id})
    assert out.id == request_id


@pytest.mark.parametrize("request_id", [-1, MAX + 1, 2**64 - 1, True, 1.0, "1", None, [1]])
def test_a_request_without_a_usable_id_gets_bad_request_with_nil_id(request_id: object) -> None:
    [out] = receive(ProtocolSession(now=0.0), {"t": "ping", "id": request_id})
    assert isinstance(out, Err) and out.code is BAD and out.id is None


def test_a_request_without_an_id_gets_bad_request_with_nil_id() -> None:
    [out] = receive(ProtocolSession(now=0.0), {"t": "ping"})
    assert isinstance(out, Err) and out.code is BAD and out.id is None


@pytest.mark.parametrize("t", ["nope", "ok", "err", "msg", "bye", "", "PING", 5, None, b"ping"])
def test_an_unknown_type_gets_bad_request_with_its_id(t: object) -> None:
    [out] = receive(ProtocolSession(now=0.0), {"t": t, "id": 3})
    assert out == Err(3, BAD, out.msg)


def test_a_bad_request_keeps_the_connection_open() -> None:
    session = ProtocolSession(now=0.0)
    assert receive(session, {"t": "nope", "id": 3}) == [Err(3, BAD, "unknown request type")]
    assert receive(session, {"t": "ping", "id": 4}) == [Ok(4)]
