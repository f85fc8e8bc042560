"""The read model: what a user's channels look like, from their actors or the store.

Queries, not decisions: nothing here changes state. An active channel actor
holds its row, members and `last`, so it answers for its channel and only
the rest are read from the store; `channels` replies and presence
publishing both take their views from here.
"""

from __future__ import annotations

from collections.abc import Iterable

import trio

from protocol import ErrorCode
from runtime import ActorError
from storage import Channel, StoreError

from ._failures import RequestFailed
from ._mail import Access, ChannelView
from ._services import Services

#: Channel rows read at once for one request (`channels`, contacts).
CHANNEL_READ_CONCURRENCY = 16


async def channel_rows(services: Services, channels: Iterable[int]) -> list[Channel]:
    """The stored rows of these channels (missing ones left out), by id.

    A store failure is raised as itself, not in an ExceptionGroup, so
    callers' `except StoreError` sees it.
    """
    rows: list[Channel] = []
    failures: list[StoreError] = []
    limiter = trio.CapacityLimiter(CHANNEL_READ_CONCURRENCY)

    async def read(channel: int) -> None:
        try:
            async with limiter:
                row = await services.store.get_channel(channel)
        except StoreError as exc:
            failures.append(exc)
            return
        if row is not None:
            rows.append(row)

    async with trio.open_nursery() as nursery:
        for channel in channels:
            nursery.start_soon(read, channel)
    if failures:
        raise failures[0]
    return sorted(rows, key=lambda row: row.channel)


async def member_views(services: Services, user: int, channels: Iterable[int]) -> list[ChannelView]:
    """The views of those channels that have `user` as a member, by id."""
    views, from_store = await _active_views(services, user, channels)
    if from_store:
        lasts = await services.store.last_seqs(from_store)
        views += [
            ChannelView(row.channel, row.kind, row.name, row.members, lasts.get(row.channel, 0))
            for row in await _member_rows(services, user, from_store)
        ]
    return sorted(views, key=lambda view: view.channel)


async def contacts_of(services: Services, user: int) -> frozenset[int]:
    """Everyone who shares a channel with `user` (not `user`)."""
    views, from_store = await _active_views(services, user, await services.store.user_channels(user))
    members = [view.members for view in views]
    members += [row.members for row in await _member_rows(services, user, from_store)]
    return frozenset().union(*members) - {user}


async def _member_rows(services: Services, user: int, channels: list[int]) -> list[Channel]:
    return [row for row in await channel_rows(services, channels) if user in row.members]


async def _active_views(
    services: Services, user: int, channels: Iterable[int]
) -> tuple[list[ChannelView], list[int]]:
    """The views of the channels whose actor is active on this node and
    has `user` as a member, and the channels left to read from the store.

    An active channel actor holds its row, members and `last`: a device
    reconnecting to its busy channels costs no store reads for them. An
    actor that cannot answer now leaves its channel to the store.
    """
    views: list[ChannelView] = []
    from_store: list[int] = []

    async def ask(channel: int) -> None:
        if not services.channel_active(channel):  # passivated since: not worth waking
            from_store.append(channel)
            return
        try:
            answer = await services.channel_ref(channel).ask(Access(user), services.ask_timeout)
        except ActorError:
            from_store.append(channel)
            return
        if isinstance(answer, ChannelView):
            views.append(answer)
        elif not (isinstance(answer, RequestFailed) and answer.code == ErrorCode.NOT_MEMBER):
            from_store.append(channel)

    async with trio.open_nursery() as nursery:
        for channel in channels:
            if services.channel_active(channel):
                nursery.start_soon(ask, channel)
            else:
                from_store.append(channel)
    return views, from_store
