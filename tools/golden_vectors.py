"""Golden vectors of the wire: frames as msgpack bytes, for every implementation to check itself against.

Run from the repository's root to write them::

    python -m tools.golden_vectors

Each vector is a typed value of the `protocol` package and the exact bytes
`protocol.encode` makes of it; tests/vectors/README.rst says what the files
hold. The tests (tests/protocol/test_vectors.py) check both directions
against the package, and that the files are what this script writes now, so
a change of the wire shows up as a diff of these files, to be made on
purpose.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
from attrs import frozen

from protocol import (
    AckRequest,
    AuthRequest,
    AuthResult,
    BlockedRequest,
    BlockRequest,
    ByeEvent,
    ByeReason,
    ChannelEvent,
    ChannelInfo,
    ChannelKind,
    ChannelResult,
    ChannelsRequest,
    ChannelsResult,
    DeviceInfo,
    DevicesRequest,
    DevicesResult,
    DirectRequest,
    Err,
    ErrorCode,
    Event,
    GroupRequest,
    HistoryRequest,
    InviteRequest,
    LeaveRequest,
    LoginRequest,
    LoginResult,
    LogoutRequest,
    LookupRequest,
    Message,
    MsgEvent,
    NotifyLevel,
    NotifyRequest,
    Ok,
    PageResult,
    PingRequest,
    PresenceEvent,
    PresenceRequest,
    PresenceResult,
    PushRequest,
    PushResult,
    PushTarget,
    ReadRequest,
    ReceiptEvent,
    RegisterRequest,
    Reply,
    Request,
    RevokeRequest,
    SendRequest,
    SendResult,
    SyncRequest,
    TypingEvent,
    TypingRequest,
    UnblockRequest,
    UserPresence,
    UserResult,
    UsersResult,
    encode,
)

VECTORS_DIR = Path(__file__).resolve().parents[1] / "tests" / "vectors"

#: The integers every implementation must carry exactly: the smallest id, the
#: first that a double (a JavaScript number) cannot hold, the largest id.
ID_1 = 1
ID_2_53_PLUS_1 = 2**53 + 1
ID_MAX = 2**63 - 1

SMILE = "\N{GRINNING FACE}"  # one character, four bytes of UTF-8, two UTF-16 units
ROCKET = "\N{ROCKET}"
#: A body at the default limit, 100,000 characters, each of four bytes: the
#: limit counts characters (code points), not bytes nor UTF-16 units.
LONGEST_BODY = SMILE * 100_000

CLIENT = "client_to_server"
SERVER = "server_to_client"


@frozen
class Vector:
    """One frame: its name, what it shows, its typed value.

    `reply_to` is on `ok` replies: the name of the request they answer.
    """

    name: str
    description: str
    value: Request | Reply | Event
    reply_to: str | None = None

    @property
    def direction(self) -> str:
        return SERVER if isinstance(self.value, Ok | Err | Event) else CLIENT


def _message(seq: int, body: str, channel: int = 7) -> Message:
    return Message(
        channel=channel,
        seq=seq,
        sender=ID_2_53_PLUS_1,
        device=ID_MAX,
        body=body,
        ts=TS,
        cid=f"c{seq}",
    )


TS = 1_767_225_600_000  # 2026-01-01 00:00 UTC in ms
PASSWORD = "correct horse battery"
TOKEN = "dGhlIHRva2Vu"
GROUP_NAME = f"launch {ROCKET}"


def _requests() -> Iterator[Vector]:
    v = Vector
    yield v("register", "create an account", RegisterRequest(1, "alice", PASSWORD))
    yield v(
        "login",
        "log in, naming the new device with a four-byte character",
        LoginRequest(2, "alice", PASSWORD, f"phone {SMILE}"),
    )
    yield v("auth", "authenticate with a device's token", AuthRequest(3, TOKEN))
    yield v("ping", "ping with request id 1", PingRequest(ID_1))
    yield v(
        "ping_id_2_53_plus_1",
        "ping with request id 2^53+1, which a double cannot hold",
        PingRequest(ID_2_53_PLUS_1),
    )
    yield v("ping_id_max", "ping with request id 2^63-1, the largest", PingRequest(ID_MAX))
    yield v("lookup", "a user id by username", LookupRequest(4, "bob"))
    yield v("direct", "the 1:1 channel with user 2^53+1", DirectRequest(5, ID_2_53_PLUS_1))
    yield v(
        "group",
        "create a group; members are a set, sent sorted",
        GroupRequest(6, GROUP_NAME, frozenset({ID_MAX, 3, ID_2_53_PLUS_1})),
    )
    yield v("invite", "add users to a group", InviteRequest(7, 9, frozenset({4, 5})))
    yield v("leave", "leave a group", LeaveRequest(8, 9))
    yield v("channels", "the channel list as v1 asks for it: no paging fields", ChannelsRequest(9))
    yield v(
        "channels_page",
        "the next page of channels (v1.1): after a channel id, at most limit",
        ChannelsRequest(10, after=ID_2_53_PLUS_1, limit=100),
    )
    yield v("send", "send a message with a four-byte character", SendRequest(11, 7, f"hi {SMILE}", "c11"))
    yield v(
        "send_longest_body",
        "send 100,000 four-byte characters (400,000 bytes): exactly the default limit",
        SendRequest(12, ID_MAX, LONGEST_BODY, "c12"),
    )
    yield v("sync", "messages after seq 0; no limit, so the server's default", SyncRequest(13, 7, 0))
    yield v("sync_limit", "messages after seq 41, at most 500", SyncRequest(14, 7, 41, 500))
    yield v("history", "the newest messages before seq 42, at most 50", HistoryRequest(15, 7, 42, 50))
    yield v("read", "move the read marker", ReadRequest(16, 7, 42))
    yield v(
        "send_mentions",
        "send a message mentioning two members (v1.1); a set, sent sorted",
        SendRequest(27, 7, "hi @bob @carol", "c27", frozenset({ID_MAX, 3})),
    )
    yield v("ack", "this device holds the channel's messages up to seq 42 (v1.1)", AckRequest(28, 7, 42))
    yield v("notify", "push only mentions from this channel, for good (v1.1)", NotifyRequest(29, 7, NotifyLevel.MENTIONS))
    yield v(
        "notify_until",
        "no push from this channel until a time in ms (v1.1)",
        NotifyRequest(33, ID_MAX, NotifyLevel.NONE, TS),
    )
    yield v("typing", "tell the channel this user is typing", TypingRequest(17, 7))
    yield v(
        "presence",
        "presence of users; a set, sent sorted",
        PresenceRequest(18, frozenset({ID_1, ID_MAX, ID_2_53_PLUS_1})),
    )
    target = PushTarget.webpush("https://push.example/send/abc", "BPub", "c2Vj")
    yield v(
        "push",
        "set a Web Push target; provider fields beside kind and endpoint, sorted by name",
        PushRequest(19, target),
    )
    yield v(
        "push_unifiedpush",
        "set a UnifiedPush target (v1.1): Web Push's fields, the distributor's endpoint",
        PushRequest(30, PushTarget.webpush("https://up.example/UP?token=abc", "BPub", "c2Vj", unified=True)),
    )
    yield v(
        "push_fcm_preview",
        "set an FCM target (v1.1): the endpoint is the registration token; asks for previews",
        PushRequest(31, PushTarget.fcm("fcm-registration-token"), preview=True),
    )
    yield v(
        "push_apns",
        "set an APNs target (v1.1): the device token, a topic, the sandbox flag (a boolean)",
        PushRequest(32, PushTarget.apns("a1b2c3", topic="chat.example.app", sandbox=True)),
    )
    yield v("push_remove", "remove the device's push target: a nil endpoint", PushRequest(20, None))
    yield v("devices", "the account's devices", DevicesRequest(21))
    yield v("revoke", "revoke a device", RevokeRequest(22, ID_MAX))
    yield v("logout", "revoke this device's token", LogoutRequest(23))
    yield v("block", "block a user (v1.1)", BlockRequest(24, ID_2_53_PLUS_1))
    yield v("unblock", "unblock a user (v1.1)", UnblockRequest(25, ID_2_53_PLUS_1))
    yield v("blocked", "the users this user blocks (v1.1)", BlockedRequest(26))


def _replies() -> Iterator[Vector]:
    v = Vector
    direct = ChannelInfo(7, ChannelKind.DIRECT, "", frozenset({ID_2_53_PLUS_1, ID_MAX}), 42, 40)
    group = ChannelInfo(ID_MAX, ChannelKind.GROUP, GROUP_NAME, frozenset({1, 2, 3}), 0, 0)
    muted = ChannelInfo(9, ChannelKind.GROUP, "muted", frozenset({1, 2}), 3, 3, NotifyLevel.NONE)
    yield v("ok_register", "the new user's id", Ok(1, UserResult(ID_2_53_PLUS_1)), "register")
    yield v(
        "ok_login",
        "the new device and its token",
        Ok(2, LoginResult(ID_2_53_PLUS_1, ID_MAX, TOKEN)),
        "login",
    )
    yield v(
        "ok_auth",
        "who the connection acts as, and the heartbeat in seconds",
        Ok(3, AuthResult(ID_2_53_PLUS_1, ID_MAX, 5)),
        "auth",
    )
    yield v("ok_ping", "a bare ok", Ok(ID_1), "ping")
    yield v(
        "ok_ping_id_2_53_plus_1", "a bare ok to request id 2^53+1", Ok(ID_2_53_PLUS_1), "ping_id_2_53_plus_1"
    )
    yield v("ok_ping_id_max", "a bare ok to request id 2^63-1", Ok(ID_MAX), "ping_id_max")
    yield v("ok_lookup", "the user's id", Ok(4, UserResult(ID_MAX)), "lookup")
    yield v("ok_direct", "the direct channel", Ok(5, ChannelResult(7)), "direct")
    yield v("ok_group", "the new group", Ok(6, ChannelResult(ID_MAX)), "group")
    yield v(
        "ok_channels",
        "the whole list, as a v1.1 server says it: more is false",
        Ok(9, ChannelsResult((direct, group))),
        "channels",
    )
    yield v(
        "ok_channels_page",
        "a page of channels after `after`, with more to come (v1.1)",
        Ok(10, ChannelsResult((group,), more=True)),
        "channels_page",
    )
    yield v(
        "ok_channels_notify",
        "a channel whose notify level is set says it (v1.1); the others leave it out",
        Ok(9, ChannelsResult((direct, muted))),
        "channels",
    )
    yield v("ok_send", "where the message was stored", Ok(11, SendResult(7, 42, TS)), "send")
    yield v(
        "ok_sync",
        "a page of messages after the cursor, ascending; a four-byte character, an empty body",
        Ok(13, PageResult((_message(1, f"hi {SMILE}"), _message(2, "")), more=True)),
        "sync",
    )
    yield v(
        "ok_history",
        "a page of the newest messages before seq 42",
        Ok(15, PageResult((_message(41, "older"),), more=False)),
        "history",
    )
    yield v("ok_read", "a bare ok", Ok(16), "read")
    yield v("ok_push", "a target stored; no preview key: a bare ok", Ok(19, PushResult()), "push")
    yield v(
        "ok_push_key",
        "an FCM target that asked for previews: its key, given this once (v1.1)",
        Ok(31, PushResult("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA")),
        "push_fcm_preview",
    )
    yield v(
        "ok_presence",
        "one entry per asked user; offline and last 0 for a stranger",
        Ok(18, PresenceResult((UserPresence(ID_1, True, TS), UserPresence(ID_MAX, False, 0)))),
        "presence",
    )
    yield v(
        "ok_devices",
        "the account's devices",
        Ok(21, DevicesResult((DeviceInfo(ID_MAX, f"phone {SMILE}", TS),))),
        "devices",
    )
    yield v(
        "ok_blocked",
        "the ids this user blocks (v1.1)",
        Ok(26, UsersResult(frozenset({ID_2_53_PLUS_1, 3}))),
        "blocked",
    )
    for code in ErrorCode:
        retry = 250 if code is ErrorCode.RATE_LIMITED else None
        err = Err(11, code, retry=retry)
        yield v(f"err_{code.value}", f"the {code.value} error, with its default text", err)
    yield v(
        "err_nil_id",
        "an err to a frame whose id could not be read: a nil id",
        Err(None, ErrorCode.BAD_REQUEST, "missing or invalid request id"),
    )
    yield v("err_id_max", "an err to request id 2^63-1", Err(ID_MAX, ErrorCode.NOT_FOUND))


def _events() -> Iterator[Vector]:
    v = Vector
    yield v(
        "event_msg",
        "a new message, its fields at the top level, with a four-byte character",
        MsgEvent(_message(42, f"hi {SMILE}", channel=ID_MAX)),
    )
    yield v(
        "event_msg_longest_body",
        "a message with a body of 100,000 characters",
        MsgEvent(_message(43, "x" * 100_000)),
    )
    yield v(
        "event_channel",
        "added to a channel, or its members changed",
        ChannelEvent(ID_MAX, ChannelKind.GROUP, GROUP_NAME, frozenset({1, ID_2_53_PLUS_1})),
    )
    yield v("event_receipt", "a member's read marker moved", ReceiptEvent(7, ID_2_53_PLUS_1, 42))
    yield v("event_typing", "a member is typing", TypingEvent(7, ID_2_53_PLUS_1))
    yield v(
        "event_presence",
        "a contact went offline",
        PresenceEvent(UserPresence(ID_2_53_PLUS_1, False, TS)),
    )
    for reason in ByeReason:
        retry = 5000 if reason is ByeReason.DRAINING else None
        bye = ByeEvent(reason, retry)
        yield v(f"event_bye_{reason.value}", f"the server is about to close: {reason.value}", bye)


def vectors() -> list[Vector]:
    return [*_requests(), *_replies(), *_events()]


#: Which file each vector goes in: the two of 100,000 characters have one of
#: their own, so that the main file stays readable.
LARGE = "large.json"
MAIN = "frames.json"


def _file_of(vector: Vector) -> str:
    return LARGE if "longest_body" in vector.name else MAIN


def _entry(vector: Vector) -> dict[str, Any]:
    data = encode(vector.value)
    entry: dict[str, Any] = {
        "name": vector.name,
        "direction": vector.direction,
        "description": vector.description,
    }
    if vector.reply_to is not None:
        entry["reply_to"] = vector.reply_to
    entry["hex"] = data.hex()
    entry["frame"] = msgpack.unpackb(data, raw=False)
    return entry


def render() -> dict[str, str]:
    """The text of each vectors file, by file name."""
    files: dict[str, list[dict[str, Any]]] = {MAIN: [], LARGE: []}
    for vector in vectors():
        files[_file_of(vector)].append(_entry(vector))
    # One vector per line: a change to the wire is a readable diff.
    return {
        name: "[\n" + ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in entries) + "\n]\n"
        for name, entries in files.items()
    }


def main() -> int:
    VECTORS_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        (VECTORS_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {VECTORS_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
