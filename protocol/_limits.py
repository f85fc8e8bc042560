"""The numbers an operator may tune, checked once where they are made."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen
from attrs.validators import and_, ge, instance_of

# A send frame carries, besides its body, at most: the keys, `t`, an id, a
# channel id and a 64-character cid of 4-byte characters. 1 KiB covers that
# with room to spare, so a body at the character limit always fits a message.
SEND_FRAME_OVERHEAD = 1024

# UTF-8 needs at most four bytes for one code point.
_MAX_UTF8_BYTES_PER_CHAR = 4


def _at_least(minimum: int) -> Any:
    # bool is an int to Python, never a count to an operator.
    return and_(instance_of(int), _not_bool, ge(minimum))


def _not_bool(_instance: object, attribute: Any, value: object) -> None:
    if isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be an int, not a bool")


def _positive_number(_instance: object, attribute: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{attribute.name} must be positive and finite")


@frozen(kw_only=True)
class Limits:
    """Per-node protocol limits; the defaults are the contract's.

    Operators may change them (`attrs.evolve(Limits(), max_group_members=200)`);
    combinations that would make a valid request impossible are refused here,
    at start-up, rather than discovered by a client.
    """

    #: Characters (code points, not bytes) in a message body.
    max_body_chars: int = field(default=100_000, validator=_at_least(1))
    #: Members of a group channel, the creator included.
    max_group_members: int = field(default=100, validator=_at_least(2))
    #: Bytes in one WebSocket message, either direction. The transport closes
    #: with 1009 above it; the server keeps its own frames within it too.
    max_message_bytes: int = field(default=1 << 20, validator=_at_least(4096))
    #: Largest `limit` of a `sync` or `history` page, and the default `limit`.
    max_page: int = field(default=500, validator=_at_least(1))
    default_page: int = field(default=100, validator=_at_least(1))
    #: Users in one `presence` request.
    max_presence_users: int = field(default=1000, validator=_at_least(1))
    #: Sends per device: a token bucket refilled at `send_rate` per second
    #: holding at most `send_burst` tokens.
    send_rate: float = field(default=20.0, validator=_positive_number)
    send_burst: int = field(default=100, validator=_at_least(1))
    #: Seconds between client pings (the `heartbeat` of `auth`), and how many
    #: of them a device may miss before the server closes it as idle.
    heartbeat: int = field(default=5, validator=_at_least(1))
    idle_heartbeats: int = field(default=6, validator=_at_least(2))
    # -- v1.1 ------------------------------------------------------------------
    #: Largest `limit` of a `channels` page, and its default.
    max_channels_page: int = field(default=500, validator=_at_least(1))
    #: Live connections of one device, and of one user over all their devices.
    max_connections_per_device: int = field(default=4, validator=_at_least(1))
    max_connections_per_user: int = field(default=16, validator=_at_least(1))
    #: Bytes in one WebSocket message before `auth` succeeds.
    max_unauthenticated_bytes: int = field(default=8 * 1024, validator=_at_least(1024))
    #: Seconds a connection has from connecting to a successful `auth`.
    auth_timeout: float = field(default=30.0, validator=_positive_number)
    #: Bytes queued for one device before it counts as a slow consumer.
    max_outbound_bytes: int = field(default=8 << 20, validator=_at_least(1 << 20))

    def __attrs_post_init__(self) -> None:
        if self.default_page > self.max_page:
            raise ValueError("default_page must not exceed max_page")
        needed = self.max_body_chars * _MAX_UTF8_BYTES_PER_CHAR + SEND_FRAME_OVERHEAD
        if self.max_message_bytes < needed:
            raise ValueError(
                f"max_message_bytes must be at least {needed} so that a body of "
                f"max_body_chars 4-byte characters fits one message"
            )

    @property
    def idle_timeout(self) -> int:
        """Seconds of silence after which a device counts as gone."""
        return self.heartbeat * self.idle_heartbeats
