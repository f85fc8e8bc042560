"""The CQL schema of ScyllaStore: one table per query it answers.

Sizing rule: no partition grows without bound. Messages are split by
(channel, bucket) with `bucket = seq // BUCKET_SIZE`, and a body longer than
INLINE_BODY_MAX UTF-8 bytes lives in `message_bodies` under its own key, so the
worst messages partition is ~BUCKET_SIZE * (INLINE_BODY_MAX + ~150 B) ~ 2.2 MB
even when every body is 100,000 four-byte characters (~400 KB). The messages
row of such a body carries its `size`, so a read picks the rows that fit its
byte budget before it fetches a single big body.

Columns added to a table after its first release are in ADDED_COLUMNS as
well: `chatnode schema` adds them to a keyspace created before.
"""

from __future__ import annotations

import re

# Fixed forever: rows already written are found by this function of seq.
BUCKET_SIZE = 1000

# Bodies up to this many UTF-8 bytes are stored inline in the messages row.
INLINE_BODY_MAX = 2048

KEYSPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
DATACENTER_NAME = re.compile(r"[A-Za-z0-9_.-]+")

# The consistency levels the fencing argument (see _scylla_messages) allows:
# every write and read must reach a quorum.
QUORUM_LEVELS = ("LOCAL_QUORUM", "QUORUM", "EACH_QUORUM", "ALL")


def bucket(seq: int) -> int:
    """The messages partition (with the channel) that holds `seq`."""
    return seq // BUCKET_SIZE


# Nodes rows live by TTL and are rewritten every few seconds; their tombstones
# only need to outlive a replica's absence (the hint window, 3 h by default).
_TABLES = (
    """users (
        user bigint PRIMARY KEY, username text, password_hash blob, created bigint)""",
    # The username claim (LWT) carries the whole account, so a login reads
    # one partition.
    """users_by_name (
        username text PRIMARY KEY, user bigint, password_hash blob, created bigint)""",
    """user_activity (user bigint PRIMARY KEY, last_active bigint)""",
    # last_active is written USING TIMESTAMP <its value>, so the latest
    # activity wins in any arrival order; a revoke's row deletion (timestamped
    # in microseconds, far above any ms value) shadows late touches for good.
    """devices (
        user bigint, device bigint, name text, created bigint, last_active bigint,
        token_hash blob, PRIMARY KEY (user, device))""",
    """tokens (token_hash blob PRIMARY KEY, user bigint, device bigint)""",
    # Written USING TIMESTAMP registered * 1000 (µs), and removed by a
    # delete timestamped at the end of a registration's ms: the
    # compare-and-delete of a dead target, which shadows that registration
    # and older ones but never a later one, in any arrival order. An empty
    # preview_key is no key (never a null).
    """push_targets (
        user bigint, device bigint, kind text, endpoint text,
        fields frozen<list<frozen<tuple<text, text>>>>, registered bigint,
        preview boolean, preview_key blob, PRIMARY KEY (user, device))""",
    # until: ms, NEVER (the largest bigint) for a level set for good.
    """notify_levels (
        user bigint, channel bigint, level text, until bigint, PRIMARY KEY (user, channel))""",
    """channels (channel bigint PRIMARY KEY, kind text, name text, created bigint)""",
    """channel_members (channel bigint, user bigint, PRIMARY KEY (channel, user))""",
    """user_channels (user bigint, channel bigint, PRIMARY KEY (user, channel))""",
    # Claimed by LWT; `created` rides along so every caller can write the
    # same (deterministic) channel rows.
    """direct_pairs (
        low bigint, high bigint, channel bigint, created bigint,
        PRIMARY KEY ((low, high)))""",
    # epoch: written only by LWT. last: written USING TIMESTAMP
    # (epoch << 40) + seq, see _scylla_messages.
    """channel_heads (channel bigint PRIMARY KEY, epoch int, last bigint)""",
    # body is unset (not null) when big is true; then message_bodies has it
    # and size is its UTF-8 bytes (unset for inline bodies, and in rows
    # written before the column existed).
    """messages (
        channel bigint, bucket bigint, seq bigint, sender bigint, device bigint,
        ts bigint, cid text, big boolean, body text, size int,
        PRIMARY KEY ((channel, bucket), seq))
        WITH CLUSTERING ORDER BY (seq ASC)""",
    """message_bodies (channel bigint, seq bigint, body text, PRIMARY KEY ((channel, seq)))""",
    """dedup (
        sender bigint, cid text, channel bigint, seq bigint, ts bigint,
        PRIMARY KEY ((sender, cid)))""",
    # seq is written USING TIMESTAMP seq: the highest marker wins.
    """read_markers (user bigint, channel bigint, seq bigint, PRIMARY KEY (user, channel))""",
    """nodes (node bigint PRIMARY KEY, address text, started bigint)
        WITH gc_grace_seconds = 10800""",
    # Who blocks whom: read by point (user, blocked) or a user's whole list.
    """blocks (user bigint, blocked bigint, PRIMARY KEY (user, blocked))""",
)

# (table, column, CQL type) of the columns _TABLES has that a keyspace made by
# an earlier release lacks.
ADDED_COLUMNS = (
    ("messages", "size", "int"),
    ("push_targets", "registered", "bigint"),
    ("push_targets", "preview", "boolean"),
    ("push_targets", "preview_key", "blob"),
)


def schema_statements(keyspace: str, local_dc: str, replication_factor: int) -> list[str]:
    """CREATE ... IF NOT EXISTS for the keyspace and every table: safe to rerun."""
    if not KEYSPACE_NAME.fullmatch(keyspace):
        raise ValueError(f"keyspace {keyspace!r} is not a lower-case CQL identifier")
    if not DATACENTER_NAME.fullmatch(local_dc):
        raise ValueError(f"datacenter name {local_dc!r}")
    if replication_factor < 1:
        raise ValueError(f"replication factor {replication_factor} < 1")
    keyspace_cql = (
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{local_dc}': {replication_factor}}}"
    )
    tables = [f"CREATE TABLE IF NOT EXISTS {keyspace}.{table}" for table in _TABLES]
    return [keyspace_cql, *tables]
