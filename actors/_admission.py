"""Who the gateway lets in: caps per peer address, and the descriptors connections may use.

Before `auth` a connection is anyone's: it costs the node a socket, a task
and, while the handshake runs, parsing (and with TLS, the key exchange), and
nothing says who pays. So each peer address may have at most so many
connections in their handshake and so many not yet authenticated
(`PeerCounts`); past either, the gateway refuses the connection before its
handshake, which is the cheapest moment. An authenticated connection counts
against its device and user instead (`_grants.py`), so a NAT holding a
thousand users is not capped as one attacker.

The node-wide cap (`max_connections`) must fit the file descriptors the
process may open, or `accept` fails first with EMFILE, and so does every
store query and file the node opens meanwhile: `connection_budget`.

Only sans-IO here, but for `raise_descriptor_limit`, so the counting is
tested without an event loop or sockets.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import resource

from attrs import define, field, frozen

log = logging.getLogger(__name__)

#: The IPv6 prefix one subscriber gets (RFC 6177): counting single IPv6
#: addresses would let one host walk through 2**64 of them.
IPV6_PREFIX = 64

#: Descriptors kept for anything but established connections (the store's
#: sockets, the embedded store's files, the listener, connections still in
#: their handshake): this fraction of the limit, and at least DESCRIPTOR_FLOOR.
DESCRIPTOR_RESERVE = 0.1
DESCRIPTOR_FLOOR = 64


@frozen
class Remote:
    """A connection's peer as the socket gave it at the accept (its address and port).

    Taken once there: what a session later reports and throttles by must not
    depend on a socket that may be closed by then, nor on the layers stacked
    on it (TLS, the replayed handshake).
    """

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def peer_key(host: str) -> str:
    """The address a peer's connections count under: its IPv4 address, or its IPv6 /64."""
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # a dual-stack listener's view of an IPv4 peer
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


class _Stage(enum.Enum):
    HANDSHAKE = "handshake"  # accepted; the TLS and WebSocket handshakes run
    UNAUTHENTICATED = "unauthenticated"  # a WebSocket, no successful auth yet
    AUTHENTICATED = "authenticated"  # counted by its device and user now, not here
    CLOSED = "closed"


@frozen
class PeerRefused:
    """`PeerCounts.open`'s refusal: the address is at one of its caps."""

    cap: str  # "handshakes" or "unauthenticated"
    limit: int


@define
class PeerCounts:
    """Connections per peer address still in their handshake, and not yet authenticated.

    Invariant: for each address, `_handshakes` counts its tickets in
    HANDSHAKE, `_unauthenticated` those in HANDSHAKE or UNAUTHENTICATED (a
    connection in its handshake is not authenticated either), and an
    address with neither has no entry, so memory follows the addresses
    connecting now.
    """

    max_handshakes: int
    max_unauthenticated: int
    _handshakes: dict[str, int] = field(init=False, factory=dict)
    _unauthenticated: dict[str, int] = field(init=False, factory=dict)

    def open(self, key: str) -> PeerTicket | PeerRefused:
        """A connection from `key` (see `peer_key`) was accepted: its ticket, or why it is refused."""
        if self._handshakes.get(key, 0) >= self.max_handshakes:
            return PeerRefused("handshakes", self.max_handshakes)
        if self._unauthenticated.get(key, 0) >= self.max_unauthenticated:
            return PeerRefused("unauthenticated", self.max_unauthenticated)
        _increment(self._handshakes, key)
        _increment(self._unauthenticated, key)
        return PeerTicket(self, key)

    def handshakes(self, key: str) -> int:
        return self._handshakes.get(key, 0)

    def unauthenticated(self, key: str) -> int:
        return self._unauthenticated.get(key, 0)

    def _advance(self, ticket: PeerTicket, stage: _Stage) -> None:
        # Stages only move forward; each is left once, so each count drops once.
        before = ticket.stage
        if _ORDER[stage] <= _ORDER[before]:
            return
        if before is _Stage.HANDSHAKE:
            _decrement(self._handshakes, ticket.key)
        if before in (_Stage.HANDSHAKE, _Stage.UNAUTHENTICATED) and stage in (_Stage.AUTHENTICATED, _Stage.CLOSED):
            _decrement(self._unauthenticated, ticket.key)
        ticket.stage = stage


_ORDER = {stage: index for index, stage in enumerate(_Stage)}


@define(eq=False)
class PeerTicket:
    """One accepted connection's place in its address's counts; every step is idempotent."""

    _counts: PeerCounts
    key: str
    stage: _Stage = _Stage.HANDSHAKE

    def handshaken(self) -> None:
        """The WebSocket is open: no longer in its handshake, still unauthenticated."""
        self._counts._advance(self, _Stage.UNAUTHENTICATED)

    def authenticated(self) -> None:
        """An `auth` succeeded: the connection counts against its device and user from now on."""
        self._counts._advance(self, _Stage.AUTHENTICATED)

    def close(self) -> None:
        self._counts._advance(self, _Stage.CLOSED)


def _increment(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def connection_budget(configured: int, descriptors: int | None) -> int:
    """Connections the node may hold when the process may open `descriptors` files (None: no limit).

    What the reserve does not need (DESCRIPTOR_RESERVE of them, at least
    DESCRIPTOR_FLOOR), and never more than `configured`; at least one.
    """
    if descriptors is None:
        return configured
    reserve = max(DESCRIPTOR_FLOOR, int(descriptors * DESCRIPTOR_RESERVE))
    return max(1, min(configured, descriptors - reserve))


def raise_descriptor_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit in force afterwards (None: none).

    The soft limit is often far below what the system allows (1,024 is a
    common default, the hard limit tens of thousands or more), and every
    connection is a descriptor. An unlimited hard limit is not a value the
    kernel takes for the soft one, so the soft limit stays as it is then.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, hard, exc)
            return soft
        return hard
    return soft
