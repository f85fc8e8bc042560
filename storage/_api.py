"""The one Store API that every part of the node stores through.

Two implementations keep the same contract (tests/storage/ runs one suite on
both): `ScyllaStore` for production clusters and `EmbeddedStore`, a single
SQLite file for one node. Every method is awaitable from Trio and raises only
the errors of `storage._errors`.

Time is passed in by the caller (ms since the epoch) wherever it is stored,
so the Store never reads a clock it would have to agree on with its peers;
the one exception is expiry of node rows, which is the database's job.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence

from ._values import (
    Activity,
    Channel,
    Dedup,
    Device,
    Draft,
    Message,
    NodeRecord,
    Notify,
    PushTarget,
    SeqLease,
    Unread,
    User,
)


class Store(abc.ABC):
    """Durable state of the chat service."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""

    # -- accounts -------------------------------------------------------------

    @abc.abstractmethod
    async def create_user(self, user: User) -> None:
        """Claim `user.username` and store the account.

        Raises `UsernameTaken` when the name is held already, also when many
        callers race for it on different nodes: exactly one of them wins.
        """

    @abc.abstractmethod
    async def user_by_name(self, username: str) -> User | None: ...

    @abc.abstractmethod
    async def get_user(self, user: int) -> User | None: ...

    @abc.abstractmethod
    async def set_password_hash(self, user: User, password_hash: bytes) -> None:
        """Replace the stored hash of an existing account (a rehash at a new cost).

        `user` is the account as read; only its password hash changes.
        """

    # -- devices and their tokens --------------------------------------------

    @abc.abstractmethod
    async def add_device(self, device: Device, token_hash: bytes) -> None:
        """Store a new device and the hash of its token (never the token)."""

    @abc.abstractmethod
    async def device_by_token(self, token_hash: bytes) -> Device | None:
        """The live device this token belongs to; None once it is revoked."""

    @abc.abstractmethod
    async def devices(self, user: int) -> list[Device]:
        """The user's devices that are not revoked, ordered by device id."""

    @abc.abstractmethod
    async def device_count(self, user: int) -> int:
        """How many devices `devices(user)` would list, without reading them."""

    @abc.abstractmethod
    async def revoke_device(self, user: int, device: int) -> bool:
        """Forget the device and its token; False when the user has no such device."""

    @abc.abstractmethod
    async def touch_devices(self, activity: Sequence[Activity]) -> None:
        """Record that each device was active at its `when` (and so was its user).

        Times only move forward, whatever order the calls arrive in, and a
        revoked device stays forgotten. Many devices per call: a reconnect
        storm's activity is written in a few calls, not one per device.
        """

    @abc.abstractmethod
    async def last_active(self, users: Iterable[int]) -> dict[int, int]:
        """Each user's last activity time; users never active are left out."""

    # -- push targets ----------------------------------------------------------

    @abc.abstractmethod
    async def set_push_target(self, user: int, device: int, target: PushTarget) -> None:
        """Store the device's push target, replacing the one it had.

        The registration times of one device's targets, and the times its
        removals are made at, must increase call by call: they order the
        writes, whatever order they reach the database in.
        """

    @abc.abstractmethod
    async def remove_push_target(self, user: int, device: int, registered: int) -> None:
        """Remove the device's target if it was registered at or before `registered` (ms).

        The compare-and-delete of a dead target: given the registration time
        of the target a provider called gone, it removes that target, but not
        one the device registered after it. The device's own removal passes
        the time it asks at.
        """

    @abc.abstractmethod
    async def push_targets(self, user: int) -> dict[int, PushTarget]:
        """The user's push targets by device id, each with its registration time."""

    # -- notify levels -------------------------------------------------------------

    @abc.abstractmethod
    async def set_notify(self, user: int, channel: int, notify: Notify | None) -> None:
        """Set the user's level for the channel, or go back to `all` with None."""

    @abc.abstractmethod
    async def notify_levels(self, user: int) -> dict[int, Notify]:
        """The user's levels by channel, as set (an `until` may have passed since)."""

    # -- channels and membership ---------------------------------------------

    @abc.abstractmethod
    async def open_direct(self, a: int, b: int, channel: int, now: int) -> Channel:
        """The one direct channel of the pair {a, b}, created as `channel` if none.

        Many concurrent calls for the same pair (in either order) all return
        the same channel; the losers' proposed ids are never used.
        """

    @abc.abstractmethod
    async def create_group(self, channel: Channel) -> None:
        """Store a new group channel with its members (both directions)."""

    @abc.abstractmethod
    async def get_channel(self, channel: int) -> Channel | None: ...

    @abc.abstractmethod
    async def add_members(self, channel: int, users: Iterable[int]) -> None: ...

    @abc.abstractmethod
    async def remove_member(self, channel: int, user: int) -> None: ...

    @abc.abstractmethod
    async def user_channels(self, user: int, *, after: int = 0, limit: int | None = None) -> list[int]:
        """Ids of the channels the user is a member of, ascending.

        Only ids above `after`, at most `limit` of them (None: all): a user in
        thousands of channels is listed a page at a time.
        """

    @abc.abstractmethod
    async def find_direct(self, a: int, b: int) -> int | None:
        """The direct channel of the pair {a, b}, or None if it was never opened."""

    # -- messages ----------------------------------------------------------------

    @abc.abstractmethod
    async def take_lease(self, channel: int) -> SeqLease:
        """Become the channel's single writer, fencing off every earlier lease.

        `last` is the highest seq stored at that moment; messages that an
        earlier holder stored but never acknowledged count as stored.
        """

    @abc.abstractmethod
    async def append(
        self, lease: SeqLease, after: int, drafts: Sequence[Draft]
    ) -> list[Message | Dedup]:
        """Store the drafts durably, in order, each with its (sender, cid) dedup entry.

        A draft is a repeat when its (sender, cid) was stored before, in any
        channel, or comes earlier in `drafts`: it is not stored again and its
        result is the Dedup of that send, so a retried send always gets the
        same answer. The others are stored as seqs `after + 1`, `after + 2`,
        ... and their result is the Message stored. Results are in the
        drafts' order.

        `after` is the channel's last seq: `lease.last` for the first append
        under a lease, then the last seq this holder stored. Once this
        returns the caller may acknowledge the results. Raises `Fenced` when a
        newer lease exists: then nothing of the batch is acknowledged and it
        may be overwritten by the new holder.
        """

    @abc.abstractmethod
    async def last_seqs(self, channels: Sequence[int]) -> dict[int, int]:
        """Each channel's highest acknowledged seq (0 for an empty channel)."""

    @abc.abstractmethod
    async def read_range(
        self, channel: int, after: int, upto: int, limit: int, *, max_bytes: int | None = None
    ) -> list[Message]:
        """Messages with `after < seq <= upto`, ascending, at most `limit`.

        With `max_bytes`, only as many as fit their bodies' UTF-8 bytes into
        `max_bytes` together (but at least one, if there is one): the store
        learns the sizes before it reads the bodies, so a read never holds
        more than that, however large the bodies and `limit` are.
        """

    @abc.abstractmethod
    async def read_before(
        self, channel: int, before: int, limit: int, *, max_bytes: int | None = None
    ) -> list[Message]:
        """The newest `limit` messages with `seq < before`, ascending.

        `max_bytes` as for read_range, counted from the newest message down.
        """

    # -- read markers --------------------------------------------------------------

    @abc.abstractmethod
    async def advance_read_marker(self, user: int, channel: int, seq: int) -> None:
        """Move the user's marker in the channel to `seq` if that is forward.

        Concurrent calls settle on the highest seq whatever their order.
        """

    @abc.abstractmethod
    async def read_markers(self, user: int) -> dict[int, int]:
        """The user's read marker per channel; channels never read are left out."""

    @abc.abstractmethod
    async def unread(self, user: int) -> dict[int, Unread]:
        """Each channel of the user: its newest acknowledged seq and the user's marker.

        What a badge is made of (the sum of `count`), read from the channels'
        heads and the user's markers, never from their messages.
        """

    # -- blocks ------------------------------------------------------------------

    @abc.abstractmethod
    async def block(self, user: int, other: int) -> None:
        """Record that `user` blocks `other`; blocking again changes nothing."""

    @abc.abstractmethod
    async def unblock(self, user: int, other: int) -> None:
        """Forget that `user` blocks `other`, if it does."""

    @abc.abstractmethod
    async def blocked(self, user: int) -> list[int]:
        """The users `user` blocks, ascending."""

    @abc.abstractmethod
    async def blockers(self, user: int, among: Iterable[int]) -> set[int]:
        """Those of `among` who block `user`: one point read each, never a
        whole list (the blocked user may be blocked by millions)."""

    # -- cluster membership ----------------------------------------------------------

    @abc.abstractmethod
    async def register_node(self, node: NodeRecord, ttl: float) -> None:
        """Write or refresh the node's row; it disappears `ttl` seconds later."""

    @abc.abstractmethod
    async def live_nodes(self) -> list[NodeRecord]:
        """Nodes whose rows have not expired, by node id."""

    @abc.abstractmethod
    async def remove_node(self, node: int) -> None: ...
