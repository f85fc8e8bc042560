"""Limits per device and per user, not per socket: what the user's actor grants at `Attach`.

A limit kept by each connection is a limit an attacker multiplies by opening
connections: 20 connections of one device once got 2,200 sends through where
one got 101, and 500 connections of one device turned 100 messages into
50,000 delivered frames. So the UserActor, which owns the user's live
connections on this node, decides here whether one more may join
(`UserGrants.admit`), and hands every connection of a device the same
`DeviceGrant`, whose token bucket they all spend.

Which connection gives way at a cap: the newest is refused, the ones already
live are left alone. Telling the oldest `bye` instead would need a reason the
protocol does not have (`bye` says draining, revoked, slow consumer or idle,
and each of those tells the client to do something else), would let whoever
holds a token knock the device's real connections off in a loop, and would
set five tabs of one browser evicting each other for ever, each reconnect
closing another. A refused `auth` is answered `rate_limited` with `retry` and
the connection stays, unauthenticated, to try again: a slot held by a
connection that died without a close (a phone that changed networks) frees
itself within the idle timeout, when the gateway's sweep closes it.

Only sans-IO here (`now` is given): the caps and buckets are tested without
an event loop.
"""

from __future__ import annotations

from collections.abc import Collection

from attrs import define, field, frozen

from protocol import Limits, TokenBucket


@define(eq=False)
class DeviceGrant:
    """One device's send bucket, shared by all of its connections on this node.

    The session checks it on each valid `send`, in line and without a hop
    to the user's actor: `take_send` does not await, so under Trio the
    connections of a device spend the one bucket one at a time, and a send
    costs no message more than it did with a bucket per connection.

    Cluster-wide later: the user's actor lives on exactly one node (the
    owner of its slot), and a device may connect to any node. A session on
    the owner keeps using the grant as here; a session on another node
    cannot share this object, so the owner would give that node a *share*
    instead: a lease of some of the device's tokens, which the remote
    session spends locally and renews from the owner when it runs out (one
    hop per lease, not per send), with the owner never leasing more than
    the bucket holds. The device's total stays one bucket's worth however
    many nodes its connections are spread over.
    """

    device: int
    _sends: TokenBucket

    def take_send(self, now: float) -> int | None:
        """Spend a token for one send: None if it may go, else the ms until it may (`retry`)."""
        if self._sends.take(now):
            return None
        return self._sends.retry_after_ms(now)

    def settled(self, now: float) -> bool:
        """Whether the bucket has refilled, so forgetting the grant forgives nothing."""
        return self._sends.full(now)


@frozen
class ConnectionsCapped:
    """`admit`'s refusal: the device or the user has as many connections as allowed."""

    cap: str  # "device" or "user"
    limit: int
    retry_ms: int


@define
class UserGrants:
    """One user's device grants on this node, and the caps on their connections.

    The user's actor keeps which connections are live (it delivers to
    them); it tells `admit` their devices, one entry per connection, so
    there is one record of them, not two to keep in step.

    A grant outlives its device's last connection until its bucket has
    refilled (`admit` forgets the settled ones), so closing and reopening a
    connection buys no tokens. It lives no longer than the user's actor,
    which stays at least the presence grace (the idle timeout, 30 s by
    default) after the last connection goes: longer than a default bucket
    takes to refill (burst / rate, 5 s).
    """

    limits: Limits
    _grants: dict[int, DeviceGrant] = field(init=False, factory=dict)

    def admit(self, device: int, connected: Collection[int], now: float) -> DeviceGrant | ConnectionsCapped:
        """May one more connection of `device` join the live ones (`connected`: the device of each)?

        Yes: the device's grant, the same one its other connections hold.
        No: which cap is reached. The retry is one heartbeat, the beat at
        which live connections speak and the idle sweep runs, and a
        stale connection is cut.
        """
        limits = self.limits
        retry_ms = limits.heartbeat * 1000
        if sum(1 for other in connected if other == device) >= limits.max_connections_per_device:
            return ConnectionsCapped("device", limits.max_connections_per_device, retry_ms)
        if len(connected) >= limits.max_connections_per_user:
            return ConnectionsCapped("user", limits.max_connections_per_user, retry_ms)
        self._forget_settled(set(connected), now)
        grant = self._grants.get(device)
        if grant is None:
            grant = self._grants[device] = DeviceGrant(device, TokenBucket(limits.send_rate, limits.send_burst))
        return grant

    def _forget_settled(self, connected: set[int], now: float) -> None:
        # Bounded by the devices attached since their buckets last refilled:
        # a user with many devices holds grants only for the recent ones.
        for device in [d for d, grant in self._grants.items() if d not in connected and grant.settled(now)]:
            del self._grants[device]
