"""Fresh ids and values for store tests.

Every test makes its own ids at random, so tests never meet in the one
keyspace a Scylla run shares (and can run in any order).
"""

from __future__ import annotations

import secrets

from storage import Draft, Message, SeqLease, Store, User

NOW = 1_700_000_000_000  # ms since the epoch; the store never reads a clock for these


def new_id() -> int:
    """A positive 62-bit id: fits CQL bigint and SQLite INTEGER."""
    return secrets.randbits(62) + 1


def new_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def message(channel: int, seq: int, *, sender: int = 1, body: str | None = None) -> Message:
    """Message `seq` of `channel`, with a fresh cid so dedup entries never collide."""
    return Message(
        channel=channel,
        seq=seq,
        sender=sender,
        device=2,
        body=f"message {seq}" if body is None else body,
        ts=NOW + seq,
        cid=new_name("cid"),
    )


def new_user(username: str | None = None) -> User:
    return User(new_id(), username or new_name("user"), b"not a real hash", NOW)


def draft(m: Message) -> Draft:
    """The draft that `m` is stored as when appended after seq `m.seq - 1`."""
    return Draft(m.sender, m.device, m.body, m.ts, m.cid)


async def append(store: Store, lease: SeqLease, *messages: Message) -> None:
    """Append new sends with consecutive seqs; check each is stored as given."""
    results = await store.append(lease, messages[0].seq - 1, [draft(m) for m in messages])
    assert results == list(messages)
