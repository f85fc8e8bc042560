"""Push notifications to devices that are not connected: Web Push, UnifiedPush, FCM and APNs.

Knows nothing of actors, CQL or WebSockets. The node builds a `Pusher` from
a `PushConfig` and an `on_gone` callback, runs it as its `push` child, calls
`Pusher.check` when a device registers a `Target`, and `offer`s a
`Notification` when a device should hear about a channel (`withdraw` when
it caught up first). docs/push.rst is the operator's page.
"""

from ._api import (
    MAX_TTL,
    PREVIEW_CHARS,
    Failure,
    Notification,
    Preview,
    PushCounters,
    Target,
    Urgency,
)
from ._config import ApnsConfig, FcmConfig, PushConfig, VapidConfig
from ._crypto import new_preview_key, open_preview, seal_preview
from ._pusher import Pusher
from ._safety import TargetError, check_target, public_address

__all__ = [
    "MAX_TTL",
    "PREVIEW_CHARS",
    "ApnsConfig",
    "Failure",
    "FcmConfig",
    "Notification",
    "Preview",
    "PushConfig",
    "PushCounters",
    "Pusher",
    "Target",
    "TargetError",
    "Urgency",
    "VapidConfig",
    "check_target",
    "new_preview_key",
    "open_preview",
    "public_address",
    "seal_preview",
]
