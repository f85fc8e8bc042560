"""Hypothesis strategies for every frame of the protocol, valid by construction."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

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
    PushKind,
    PushRequest,
    PushResult,
    PushTarget,
    ReadRequest,
    Request,
    ReceiptEvent,
    RegisterRequest,
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
)

MAX = 2**63 - 1
ids = st.integers(1, MAX)
seqs = st.integers(0, MAX)
request_ids = st.integers(0, MAX)
id_sets = st.frozensets(ids, max_size=8)
texts = st.text(max_size=40)
usernames = st.from_regex(r"[a-z0-9_.-]{3,32}", fullmatch=True)
passwords = st.text(min_size=8, max_size=40)
cids = st.text(min_size=1, max_size=64)

messages = st.builds(
    Message,
    channel=ids,
    seq=ids,
    sender=ids,
    device=ids,
    body=st.text(max_size=200),
    ts=seqs,
    cid=cids,
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
    notify=st.none() | st.sampled_from(NotifyLevel),
)

provider_texts = st.text(min_size=1, max_size=40)
endpoints = st.text(min_size=1, max_size=100)
push_targets = st.one_of(
    st.builds(PushTarget.webpush, endpoints, provider_texts, provider_texts, unified=st.booleans()),
    st.builds(PushTarget.fcm, endpoints),
    st.builds(
        PushTarget.apns, endpoints, topic=st.none() | provider_texts, sandbox=st.booleans()
    ),
    # sandbox said explicitly false is kept as said
    st.builds(PushTarget, st.just(PushKind.APNS), endpoints, st.just((("sandbox", False),))),
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
    st.builds(ChannelsRequest, request_ids, seqs, st.integers(1, 500)),
    st.builds(
        SendRequest, request_ids, ids, st.text(max_size=200), st.text(min_size=1, max_size=64), id_sets
    ),
    # A limit of None is the server's default: what a client sends without one.
    st.builds(SyncRequest, request_ids, ids, seqs, st.none() | st.integers(1, 500)),
    st.builds(HistoryRequest, request_ids, ids, seqs, st.none() | st.integers(1, 500)),
    st.builds(ReadRequest, request_ids, ids, seqs),
    st.builds(AckRequest, request_ids, ids, seqs),
    st.builds(NotifyRequest, request_ids, ids, st.sampled_from(NotifyLevel), st.none() | seqs),
    st.builds(TypingRequest, request_ids, ids),
    st.builds(PresenceRequest, request_ids, id_sets),
    st.builds(PushRequest, request_ids, st.none()),
    st.builds(PushRequest, request_ids, push_targets, st.booleans()),
    st.builds(DevicesRequest, request_ids),
    st.builds(RevokeRequest, request_ids, ids),
    st.builds(LogoutRequest, request_ids),
    st.builds(BlockRequest, request_ids, ids),
    st.builds(UnblockRequest, request_ids, ids),
    st.builds(BlockedRequest, request_ids),
)

#: A strategy for each result type: any values of the right types.
result_values: dict[type[Any], st.SearchStrategy[Any]] = {
    UserResult: st.builds(UserResult, ids),
    LoginResult: st.builds(LoginResult, ids, ids, st.text(min_size=1, max_size=64)),
    AuthResult: st.builds(AuthResult, ids, ids, st.integers(1, 3600)),
    ChannelResult: st.builds(ChannelResult, ids),
    ChannelsResult: st.builds(ChannelsResult, st.lists(channel_infos, max_size=5), st.booleans()),
    SendResult: st.builds(SendResult, ids, ids, seqs),
    PageResult: st.builds(PageResult, st.lists(messages, max_size=5), st.booleans()),
    PresenceResult: st.builds(PresenceResult, st.lists(presences, max_size=5)),
    DevicesResult: st.builds(
        DevicesResult, st.lists(st.builds(DeviceInfo, ids, texts, seqs), max_size=5)
    ),
    UsersResult: st.builds(UsersResult, id_sets),
    PushResult: st.builds(PushResult, st.none() | st.text(min_size=1, max_size=64)),
}
results = st.one_of(st.none(), *result_values.values())
oks = st.builds(Ok, request_ids, results)


def _message_at(channel: int, seq: int) -> st.SearchStrategy[Message]:
    return st.builds(
        Message, st.just(channel), st.just(seq), ids, ids, st.text(max_size=200), seqs, cids
    )


def _page(channel: int, lo: int, hi: int, limit: int | None) -> st.SearchStrategy[PageResult]:
    """A page as the contract has it: messages of `channel`, seqs lo..hi ascending, at most `limit`."""
    ordered = (
        st.lists(st.integers(lo, hi), unique=True, max_size=min(limit or 5, 5)).map(sorted)
        if lo <= hi
        else st.just([])  # sync after the last seq, history before the first
    )
    page = ordered.flatmap(lambda picked: st.tuples(*(_message_at(channel, s) for s in picked)))
    return st.builds(PageResult, page, st.booleans())


def _channels_page(after: int) -> st.SearchStrategy[ChannelsResult]:
    """Channels after `after`; a page saying `more` holds one, so paging goes on."""
    page = st.lists(channel_infos.filter(lambda info: info.channel > after), max_size=5)
    return page.flatmap(
        lambda infos: st.builds(
            ChannelsResult, st.just(infos), st.booleans() if infos else st.just(False)
        )
    )


def result_for(request: Request) -> st.SearchStrategy[Any]:
    """Any result a server may answer `request` with (None for a bare `ok`)."""
    match request:
        case SyncRequest():
            return _page(request.channel, request.after + 1, MAX, request.limit)
        case HistoryRequest():
            return _page(request.channel, 1, request.before - 1, request.limit)
        case ChannelsRequest():
            return _channels_page(request.after)
    return st.none() if request.RESULT is None else result_values[request.RESULT]


#: (request, its ok): every reply a server may send to a request in flight.
exchanges = requests.flatmap(
    lambda request: result_for(request).map(lambda result: (request, Ok(request.id, result)))
)
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
