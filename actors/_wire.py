"""The one conversion from a stored message to the message clients see."""

from __future__ import annotations

from storage import Message as StoredMessage

from protocol import Message


def wire_message(stored: StoredMessage) -> Message:
    return Message(
        channel=stored.channel,
        seq=stored.seq,
        sender=stored.sender,
        device=stored.device,
        body=stored.body,
        ts=stored.ts,
        cid=stored.cid,
    )
