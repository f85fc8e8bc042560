"""The values the node and the providers share: what a target is, what a push says.

The node's side (the user's actor, the store) builds `Target`s from what a
device registered with `push`, and `Notification`s when it decides a device
should hear about a channel; the `Pusher` turns them into provider requests.
Nothing here knows of actors, CQL or WebSockets.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable

from attrs import field, frozen
from attrs.validators import ge, in_, instance_of, le, optional

# The wire's own: a target's kind is what the device sent in `push`.
from protocol import PushKind


class Urgency(enum.Enum):
    """How soon the device must hear: a new message wakes it, a badge update need not."""

    HIGH = "high"  # Web Push `Urgency: high`, FCM priority HIGH, apns-priority 10
    LOW = "low"  # Web Push `Urgency: low`, FCM priority NORMAL, apns-priority 5


class Failure(enum.StrEnum):
    """Why a push was not delivered (the keys of `PushCounters.failed`)."""

    CREDENTIALS = "credentials"  # the provider refused *our* key or token (401/403)
    REJECTED = "rejected"  # the provider refused the request itself (4xx)
    TOO_LARGE = "too_large"  # the payload exceeds what the provider takes
    EXHAUSTED = "exhausted"  # out of tries, or the deadline passed, while it kept failing
    UNSAFE = "unsafe"  # the endpoint's host resolves to an address we do not call
    STALE = "stale"  # APNs: the token was unregistered before this target was registered
    OVERFLOW = "overflow"  # a retry found the queue full
    GONE_REPORT = "gone_report"  # the node's on_gone callback raised


#: A preview's body is cut to this many characters (a lock-screen line, not the message).
PREVIEW_CHARS = 200


@frozen
class Preview:
    """Who wrote, and the start of what they wrote: sent only encrypted to the device."""

    sender: int = field(validator=[instance_of(int), ge(0)])
    body: str = field(validator=instance_of(str))

    @body.validator
    def _short(self, _attribute: object, body: str) -> None:
        if len(body) > PREVIEW_CHARS:
            raise ValueError(f"a preview body has at most {PREVIEW_CHARS} characters")

    @classmethod
    def of(cls, sender: int, text: str) -> Preview:
        """The preview of a message: its text cut to `PREVIEW_CHARS` (an ellipsis marks the cut)."""
        if len(text) > PREVIEW_CHARS:
            text = text[: PREVIEW_CHARS - 1] + "\u2026"
        return cls(sender, text)


def _sorted_fields(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(items))


@frozen
class Target:
    """Where one device is reached: what the store keeps for it.

    `fields` are the provider's own, as the device sent them (strings, sorted
    by name so equal targets are equal values): `p256dh` and `auth` for Web
    Push and UnifiedPush; `topic` and `sandbox` (`"true"`/`"false"`) for APNs.
    `registered` (ms since the epoch) is when the store took the target: the
    node removes a dead target only if it is still the one registered then,
    and APNs' 410 counts only if the token died after it. `preview_key` is the
    16-byte key previews are sealed with for FCM and APNs (`new_preview_key`);
    Web Push previews ride inside the RFC 8291 encryption instead.
    """

    kind: PushKind = field(converter=PushKind)
    endpoint: str = field(validator=instance_of(str))
    fields: tuple[tuple[str, str], ...] = field(default=(), converter=_sorted_fields)
    registered: int = field(default=0, validator=[instance_of(int), ge(0)])
    preview_key: bytes | None = field(default=None, validator=optional(instance_of(bytes)), repr=False)

    def field(self, name: str) -> str | None:
        """The provider field `name`, or None when the device sent none."""
        for key, value in self.fields:
            if key == name:
                return value
        return None


#: The longest a provider is asked to hold a push for an unreachable device (28 days: FCM's cap).
MAX_TTL = 28 * 24 * 3600


@frozen
class Notification:
    """One push to one device: the latest state of one (device, channel).

    `key` identifies what a newer notification replaces (the node uses
    (user, device, channel)): offering one whose key is pending replaces the
    pending one. `unread` is the user's unread count over all channels (the
    badge). The providers derive the collapse id (Web Push `Topic`, FCM
    `collapse_key`, `apns-collapse-id`) from `channel`, so the device's
    notification for a channel is replaced, not stacked. `preview` travels
    only encrypted to the device, and only when the operator enabled previews.
    `ttl` is how long (seconds) the provider may hold it for a device that is
    offline.
    """

    key: Hashable
    target: Target = field(validator=instance_of(Target))
    channel: int = field(validator=[instance_of(int), ge(0)])
    seq: int = field(validator=[instance_of(int), ge(0)])
    unread: int = field(validator=[instance_of(int), ge(0)])
    preview: Preview | None = field(default=None, validator=optional(instance_of(Preview)))
    urgency: Urgency = field(default=Urgency.HIGH, validator=in_(Urgency))
    ttl: int = field(default=24 * 3600, validator=[instance_of(int), ge(0), le(MAX_TTL)])


@frozen
class PushCounters:
    """What the pusher did since it started (for the node's metrics).

    `sent`: accepted by a provider; `collapsed`: replaced by a newer one for
    the same key before it went; `dropped`: refused by `offer` because the
    queue was full; `removed`: dead targets reported to `on_gone`; `failed`:
    not delivered, by `Failure`.
    """

    sent: int = 0
    collapsed: int = 0
    dropped: int = 0
    removed: int = 0
    failed: dict[Failure, int] = field(factory=dict)
