"""Hypothesis strategies for every frame of the protocol, valid by construction."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocol import (
    AuthRequest,
    AuthResult,
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
    Ok,
    PageResult,
    PingRequest,
    PresenceEvent,
    PresenceRequest,
    PresenceResult,
    PushRequest,
    PushTarget,
    ReadRequest,
    ReceiptEvent,
    RegisterRequest,
    RevokeRequest,
    SendRequest,
    SendResult,
    SyncRequest,
    TypingEvent,
    TypingRequest,
    UserPresence,
    UserResult,
)

MAX = 2**63 - 1
ids = st.integers(1, MAX)
seqs = st.integers(0, MAX)
request_ids = st.integers(0, MAX)
id_sets = st.frozensets(ids, max_size=8)
texts = st.text(max_size=40)
usernames = st.from_regex(r"[a-z0-9_.-]{3,32}", fullmatch=True)
passwords = st.text(min_size=8, max_size=40)

messages = st.builds(
    Message,
    channel=ids,
    seq=ids,
    sender=ids,
    device=ids,
    body=st.text(max_size=200),
    ts=seqs,
    cid=st.text(min_size=1, max_size=64),
)
presences = st.builds(UserPresence, user=ids, online=st.booleans(), last=seqs)
channel_infos = st.builds(
    ChannelInfo,
    channel=ids,
    kind=st.sampled_from(ChannelKind),
    name=texts,
    members=id_sets,
    last=seqs,
    read=seqs,
)

_RESERVED = {"t", "id", "kind", "endpoint"}
push_targets = st.builds(
    PushTarget,
    kind=st.from_regex(r"[a-z0-9_-]{1,32}", fullmatch=True),
    endpoint=st.text(min_size=1, max_size=100),
    fields=st.dictionaries(
        st.text(max_size=10).filter(lambda key: key not in _RESERVED), texts, max_size=16
    ).map(lambda fields: tuple(fields.items())),
)

requests = st.one_of(
    st.builds(RegisterRequest, request_ids, usernames, passwords),
    st.builds(LoginRequest, request_ids, usernames, passwords, st.text(min_size=1, max_size=64)),
    st.builds(AuthRequest, request_ids, st.text(min_size=1, max_size=512)),
    st.builds(PingRequest, request_ids),
    st.builds(LookupRequest, request_ids, usernames),
    st.builds(DirectRequest, request_ids, ids),
    st.builds(GroupRequest, request_ids, st.text(min_size=1, max_size=128), id_sets),
    st.builds(InviteRequest, request_ids, ids, id_sets),
    st.builds(LeaveRequest, request_ids, ids),
    st.builds(ChannelsRequest, request_ids),
    st.builds(
        SendRequest, request_ids, ids, st.text(max_size=200), st.text(min_size=1, max_size=64)
    ),
    st.builds(SyncRequest, request_ids, ids, seqs, st.integers(1, 500)),
    st.builds(HistoryRequest, request_ids, ids, seqs, st.integers(1, 500)),
    st.builds(ReadRequest, request_ids, ids, seqs),
    st.builds(TypingRequest, request_ids, ids),
    st.builds(PresenceRequest, request_ids, id_sets),
    st.builds(PushRequest, request_ids, st.none() | push_targets),
    st.builds(DevicesRequest, request_ids),
    st.builds(RevokeRequest, request_ids, ids),
    st.builds(LogoutRequest, request_ids),
)

results = st.one_of(
    st.none(),
    st.builds(UserResult, ids),
    st.builds(LoginResult, ids, ids, st.text(min_size=1, max_size=64)),
    st.builds(AuthResult, ids, ids, st.integers(1, 3600)),
    st.builds(ChannelResult, ids),
    st.builds(ChannelsResult, st.lists(channel_infos, max_size=5)),
    st.builds(SendResult, ids, ids, seqs),
    st.builds(PageResult, st.lists(messages, max_size=5), st.booleans()),
    st.builds(PresenceResult, st.lists(presences, max_size=5)),
    st.builds(DevicesResult, st.lists(st.builds(DeviceInfo, ids, texts, seqs), max_size=5)),
)

oks = st.builds(Ok, request_ids, results)
errs = st.builds(
    Err,
    st.none() | request_ids,
    st.sampled_from(ErrorCode),
    texts,
    st.none() | st.integers(0, 10**6),
)
events = st.one_of(
    st.builds(MsgEvent, messages),
    st.builds(ChannelEvent, ids, st.sampled_from(ChannelKind), texts, id_sets),
    st.builds(ReceiptEvent, ids, ids, seqs),
    st.builds(TypingEvent, ids, ids),
    st.builds(PresenceEvent, presences),
    st.builds(ByeEvent, st.sampled_from(ByeReason), st.none() | st.integers(0, 10**6)),
)

# Any msgpack value, including what the protocol refuses inside a frame:
# binary, floats, ext types, deep nesting, non-string keys.
msgpack_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)
msgpack_values: st.SearchStrategy[Any] = st.recursive(
    msgpack_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**64 - 1), st.binary(max_size=4)),
            children,
            max_size=5,
        ),
    ),
    max_leaves=12,
)
