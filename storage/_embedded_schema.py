"""The embedded store's SQLite schema.

It mirrors the Scylla tables where that keeps the two stores easy to compare
(channel_heads, direct_pairs, dedup, read_markers); where Scylla needs a second
table to read by another key, SQLite has an index instead.
"""

from __future__ import annotations

import sqlite3

from ._errors import StoreError

# Bumped with every upgrade below; a file written by newer code is refused
# rather than misread.
SCHEMA_VERSION = 3

_TABLES = """
CREATE TABLE users (
    user          INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash BLOB    NOT NULL,
    created       INTEGER NOT NULL
);
CREATE TABLE user_activity (
    user        INTEGER PRIMARY KEY,
    last_active INTEGER NOT NULL
);
CREATE TABLE devices (
    user        INTEGER NOT NULL,
    device      INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    last_active INTEGER NOT NULL,
    PRIMARY KEY (user, device)
) WITHOUT ROWID;
CREATE TABLE tokens (
    token_hash BLOB    PRIMARY KEY,
    user       INTEGER NOT NULL,
    device     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_by_device ON tokens (user, device);
CREATE TABLE push_targets (
    user     INTEGER NOT NULL,
    device   INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    endpoint TEXT    NOT NULL,
    fields   TEXT    NOT NULL,  -- JSON list of [key, value] pairs, sorted by key
    PRIMARY KEY (user, device)
) WITHOUT ROWID;
CREATE TABLE channels (
    channel INTEGER PRIMARY KEY,
    kind    TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE members (
    channel INTEGER NOT NULL,
    user    INTEGER NOT NULL,
    PRIMARY KEY (channel, user)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (user, channel);
CREATE TABLE direct_pairs (
    low     INTEGER NOT NULL,
    high    INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    PRIMARY KEY (low, high)
) WITHOUT ROWID;
CREATE TABLE channel_heads (
    channel INTEGER PRIMARY KEY,
    epoch   INTEGER NOT NULL,
    last    INTEGER NOT NULL
);
-- A rowid table, not WITHOUT ROWID: bodies run to ~400 KB, and SQLite keeps
-- such rows well only in rowid tables.
CREATE TABLE messages (
    channel INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    sender  INTEGER NOT NULL,
    device  INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    cid     TEXT    NOT NULL,
    PRIMARY KEY (channel, seq)
);
CREATE TABLE dedup (
    sender  INTEGER NOT NULL,
    cid     TEXT    NOT NULL,
    channel INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (sender, cid)
) WITHOUT ROWID;
CREATE TABLE read_markers (
    user    INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (user, channel)
) WITHOUT ROWID;
CREATE TABLE nodes (
    node    INTEGER PRIMARY KEY,
    address TEXT    NOT NULL,
    started INTEGER NOT NULL,
    expires REAL    NOT NULL  -- time.time() seconds
);
"""

# What takes a file of version N - 1 to version N: a new file gets _TABLES
# (version 1) and then every upgrade, so an old file and a new one end alike.
_UPGRADES: dict[int, str] = {
    2: """
CREATE TABLE blocks (
    user    INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    PRIMARY KEY (user, blocked)
) WITHOUT ROWID;
""",
    3: """
ALTER TABLE push_targets ADD COLUMN registered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE push_targets ADD COLUMN preview INTEGER NOT NULL DEFAULT 0;
ALTER TABLE push_targets ADD COLUMN preview_key BLOB;
CREATE TABLE notify_levels (
    user    INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    level   TEXT    NOT NULL,
    until   INTEGER,  -- ms, NULL for good
    PRIMARY KEY (user, channel)
) WITHOUT ROWID;
""",
}


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the tables in a new file, upgrade an older file, accept a file
    of this version as is.

    Runs in one transaction, so two processes opening a file at once cannot
    both create or upgrade it.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {version}, this code reads version {SCHEMA_VERSION}"
            )
        if version == 0:
            _execute_all(db, _TABLES)
            version = 1
        for upgrade in range(version + 1, SCHEMA_VERSION + 1):
            _execute_all(db, _UPGRADES[upgrade])
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it would commit the transaction first.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
