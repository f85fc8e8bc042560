"""What a push says, the same for every provider: `{channel, seq, unread}`, and maybe a preview.

Ids are decimal strings: FCM's data values must be strings, and a
JavaScript service worker would round a 64-bit number.
"""

from __future__ import annotations

from ._api import Notification
from ._crypto import seal_preview


def collapse_id(notification: Notification) -> str:
    """The provider-side collapse id (Web Push `Topic`, FCM `collapse_key`, `apns-collapse-id`).

    One per channel, so a device's notification for a channel is replaced by
    the next, not stacked. Short and of base64url characters, as `Topic`
    requires (at most 32).
    """
    return f"c{notification.channel}"


def data_fields(notification: Notification, previews: bool) -> dict[str, str]:
    """The payload for a provider that can read it (FCM, APNs): a preview only sealed to the device.

    A preview goes only if the operator enabled previews and the target has
    a preview key; without the key it is left out, never sent in the clear.
    """
    fields = {
        "channel": str(notification.channel),
        "seq": str(notification.seq),
        "unread": str(notification.unread),
    }
    key = notification.target.preview_key
    if previews and notification.preview is not None and key is not None:
        fields["preview"] = seal_preview(key, notification.preview, notification.channel, notification.seq)
    return fields
