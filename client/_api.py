"""The typed request methods, written once for `Connection` and `ChatClient`.

Each method builds the protocol's request value and hands it to `request()`,
which the two classes implement differently: a `Connection` numbers it and
sends it on its one socket, a `ChatClient` waits for a live connection and
retries what is safe to repeat. The request is built here, before any id is
known, so a mistyped argument fails at the caller; it carries id 0 until
the connection that sends it gives it one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TypeVar

from protocol import (
    AckRequest,
    ChannelInfo,
    ChannelResult,
    ChannelsRequest,
    ChannelsResult,
    DeviceInfo,
    DevicesRequest,
    DevicesResult,
    DirectRequest,
    GroupRequest,
    HistoryRequest,
    InviteRequest,
    LeaveRequest,
    LogoutRequest,
    LookupRequest,
    NotifyLevel,
    NotifyRequest,
    PageResult,
    PingRequest,
    PresenceRequest,
    PresenceResult,
    PushRequest,
    PushResult,
    PushTarget,
    ReadRequest,
    Request,
    Result,
    RevokeRequest,
    SendRequest,
    SendResult,
    SyncRequest,
    TypingRequest,
    UserPresence,
    UserResult,
)

R = TypeVar("R", bound=Result)

#: The id of a request not sent yet; the connection that sends it numbers it.
UNSENT = 0


def new_cid() -> str:
    """A fresh client message id: random, so two devices never pick the same one."""
    return uuid.uuid4().hex


def send_request(channel: int, body: str, cid: str | None, mentions: Iterable[int]) -> SendRequest:
    """A `send`, with a fresh cid unless the caller has one."""
    return SendRequest(UNSENT, channel, body, new_cid() if cid is None else cid, frozenset(mentions))


def result_of(result: Result | None, kind: type[R]) -> R:
    """`result` as the `kind` its request promises.

    Holds by construction: the decoder reads every `ok` with the `RESULT` of
    the request it answers.
    """
    assert isinstance(result, kind), result
    return result


class SessionApi:
    """Requests of an authenticated session."""

    async def request(self, request: Request) -> Result | None:
        """Send `request` (its id is replaced) and return its result, None for a bare `ok`."""
        raise NotImplementedError

    async def lookup(self, username: str) -> int:
        """The user id of `username`; raises NotFound."""
        return result_of(await self.request(LookupRequest(UNSENT, username)), UserResult).user

    async def direct(self, user: int) -> int:
        """The 1:1 channel with `user`, created on first use."""
        return result_of(await self.request(DirectRequest(UNSENT, user)), ChannelResult).channel

    async def group(self, name: str, members: Iterable[int]) -> int:
        """A new group channel with the caller and `members`."""
        reply = await self.request(GroupRequest(UNSENT, name, members))
        return result_of(reply, ChannelResult).channel

    async def invite(self, channel: int, users: Iterable[int]) -> None:
        await self.request(InviteRequest(UNSENT, channel, users))

    async def leave(self, channel: int) -> None:
        await self.request(LeaveRequest(UNSENT, channel))

    async def channels(self) -> tuple[ChannelInfo, ...]:
        """All of the user's channels, fetched page after page while the node says `more` (v1.1)."""
        channels: list[ChannelInfo] = []
        after = 0
        while True:
            page = result_of(await self.request(ChannelsRequest(UNSENT, after)), ChannelsResult)
            channels.extend(page.channels)
            if not page.more:
                return tuple(channels)
            # The decoder made sure such a page is not empty and lies after `after`.
            after = max(info.channel for info in page.channels)

    async def send(
        self, channel: int, body: str, cid: str | None = None, *, mentions: Iterable[int] = ()
    ) -> SendResult:
        """Store a message; `cid` (generated if None) makes a repeated send store it once.

        `mentions` (v1.1): members the message names; they get a push even
        where their `notify` level is `mentions`.
        """
        return result_of(await self.request(send_request(channel, body, cid, mentions)), SendResult)

    async def sync(self, channel: int, after: int, limit: int | None = None) -> PageResult:
        """Messages with seq > `after`, ascending, at most `limit` (node default if None)."""
        return result_of(await self.request(SyncRequest(UNSENT, channel, after, limit)), PageResult)

    async def history(self, channel: int, before: int, limit: int | None = None) -> PageResult:
        """The newest messages with seq < `before`, ascending."""
        reply = await self.request(HistoryRequest(UNSENT, channel, before, limit))
        return result_of(reply, PageResult)

    async def read(self, channel: int, seq: int) -> None:
        """Move this user's read marker (it never moves back)."""
        await self.request(ReadRequest(UNSENT, channel, seq))

    async def ack(self, channel: int, seq: int) -> None:
        """Tell the node this device holds `channel`'s messages up to `seq` (v1.1).

        A device with a push target that is connected but does not ack a
        message within the node's ack time-out (10 s by default) gets a push
        for it, as if it were not connected.
        """
        await self.request(AckRequest(UNSENT, channel, seq))

    async def notify(self, channel: int, level: NotifyLevel | str, until: int | None = None) -> None:
        """Which of `channel`'s messages push to this user's devices (v1.1): `all`,
        `mentions` or `none`, until `until` (ms since the epoch) or for good."""
        await self.request(NotifyRequest(UNSENT, channel, NotifyLevel(level), until))

    async def typing(self, channel: int) -> None:
        await self.request(TypingRequest(UNSENT, channel))

    async def presence(self, users: Iterable[int]) -> tuple[UserPresence, ...]:
        reply = await self.request(PresenceRequest(UNSENT, users))
        return result_of(reply, PresenceResult).presence

    async def push(self, target: PushTarget | None, *, preview: bool = False) -> str | None:
        """Set this device's push target (`PushTarget.webpush(...)`, `.fcm(...)`,
        `.apns(...)`), or remove it with None.

        `preview` asks for message previews (sender and the start of the
        text), which come only where the operator enabled them. For an FCM or
        APNs target the node then returns the key the previews are encrypted
        with, this once: keep it with the device's secrets. None otherwise.
        """
        return result_of(await self.request(PushRequest(UNSENT, target, preview)), PushResult).key

    async def devices(self) -> tuple[DeviceInfo, ...]:
        return result_of(await self.request(DevicesRequest(UNSENT)), DevicesResult).devices

    async def revoke(self, device: int) -> None:
        """Revoke one of the account's devices: its token stops working, its connections end."""
        await self.request(RevokeRequest(UNSENT, device))

    async def logout(self) -> None:
        """Revoke this device's token; the node then closes the connection."""
        await self.request(LogoutRequest(UNSENT))

    async def ping(self) -> None:
        await self.request(PingRequest(UNSENT))

