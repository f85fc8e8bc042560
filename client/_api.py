"""The typed request methods, written once for `Connection` and `ChatClient`.

Each method builds a request value and hands it to `request()`, which the two
classes implement differently: a `Connection` sends it on its one socket, a
`ChatClient` waits for a live connection and retries what is safe to repeat.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TypeVar

from . import _requests as rq
from ._values import ChannelInfo, Device, Page, PresenceInfo, Sent

R = TypeVar("R")


def new_cid() -> str:
    """A fresh client message id: random, so two devices never pick the same one."""
    return uuid.uuid4().hex


class SessionApi:
    """Requests of an authenticated session."""

    async def request(self, request: rq.Request[R]) -> R:
        raise NotImplementedError

    async def lookup(self, username: str) -> int:
        """The user id of `username`; raises NotFound."""
        return await self.request(rq.Lookup(username))

    async def direct(self, user: int) -> int:
        """The 1:1 channel with `user`, created on first use."""
        return await self.request(rq.Direct(user))

    async def group(self, name: str, members: Iterable[int]) -> int:
        """A new group channel with the caller and `members`."""
        return await self.request(rq.Group(name, tuple(members)))

    async def invite(self, channel: int, users: Iterable[int]) -> None:
        await self.request(rq.Invite(channel, tuple(users)))

    async def leave(self, channel: int) -> None:
        await self.request(rq.Leave(channel))

    async def channels(self) -> tuple[ChannelInfo, ...]:
        return await self.request(rq.Channels())

    async def send(self, channel: int, body: str, cid: str | None = None) -> Sent:
        """Store a message; `cid` (generated if None) makes a repeated send store it once."""
        return await self.request(rq.Send(channel, body, new_cid() if cid is None else cid))

    async def sync(self, channel: int, after: int, limit: int | None = None) -> Page:
        """Messages with seq > `after`, ascending, at most `limit` (node default if None)."""
        return await self.request(rq.Sync(channel, after, limit))

    async def history(self, channel: int, before: int, limit: int | None = None) -> Page:
        """The newest messages with seq < `before`, ascending."""
        return await self.request(rq.History(channel, before, limit))

    async def read(self, channel: int, seq: int) -> None:
        """Move this user's read marker (it never moves back)."""
        await self.request(rq.Read(channel, seq))

    async def typing(self, channel: int) -> None:
        await self.request(rq.Typing(channel))

    async def presence(self, users: Iterable[int]) -> tuple[PresenceInfo, ...]:
        return await self.request(rq.Presence(tuple(users)))

    async def push(self, kind: str, endpoint: str | None, provider: Mapping[str, object] | None = None) -> None:
        """Set this device's push target, or remove it with `endpoint=None`."""
        await self.request(rq.Push(kind, endpoint, {} if provider is None else provider))

    async def devices(self) -> tuple[Device, ...]:
        return await self.request(rq.Devices())

    async def revoke(self, device: int) -> None:
        """Revoke one of the account's devices: its token stops working, its connections end."""
        await self.request(rq.Revoke(device))

    async def logout(self) -> None:
        """Revoke this device's token; the node then closes the connection."""
        await self.request(rq.Logout())

    async def ping(self) -> None:
        await self.request(rq.Ping())
