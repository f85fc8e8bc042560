"""A node's channel mailboxes are bounded by the post bodies they hold, not only by their count.

A body may be 100,000 characters of up to four bytes: 1,024 queued posts of
those would hold 400 MB. The node's channels registry counts each post's
body against `channel_mailbox_bytes`.
"""

from __future__ import annotations

import pytest
import trio

from actors import Node, NodeConfig
from actors._mail import Post, Typing
from protocol import SendRequest
from runtime import LocalRef, MailboxFull
from storage import Store

#: A body as large as the protocol allows, in characters of four UTF-8 bytes.
LARGEST_BODY = "\U0001f600" * 100_000


async def test_posts_fill_a_channel_mailbox_by_their_bodies(store: Store) -> None:
    node = Node(NodeConfig(port=0, channel_mailbox_bytes=1024 * 1024), store)
    channels = node.services.channels
    async with trio.open_nursery() as nursery:
        await nursery.start(channels.run)
        channel = node.services.channel_ref(1)
        nobody = LocalRef("nobody", None)

        def post(body: str) -> Post:
            return Post(sender=1, device=1, request=SendRequest(1, channel=1, body=body, cid="c"), reply_to=nobody)

        # No checkpoint in between: the channel is still starting, all of it queued.
        channel.tell_nowait(post(LARGEST_BODY))  # ~400 KB
        channel.tell_nowait(post(LARGEST_BODY))  # ~800 KB
        with pytest.raises(MailboxFull, match="bytes"):
            channel.tell_nowait(post(LARGEST_BODY))
        channel.tell_nowait(Typing(user=1))  # small mail still fits the count
        nursery.cancel_scope.cancel()
