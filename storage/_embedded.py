"""EmbeddedStore: the whole Store in one SQLite file, for a single node.

Every call runs on a worker thread, one at a time (a CapacityLimiter of 1
guards the one connection), so each method is a plain SQLite transaction:
claims, direct-pair creation and fencing need no extra protocol. Durability:
WAL with synchronous=FULL, so a call that returned survives a power cut, which
is what "ok means stored" needs (synchronous=NORMAL could lose the last
commits).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeVar

import outcome
import trio
from attrs import define, field

from protocol import ChannelKind, NotifyLevel

from ._api import Store
from ._batcher import Batcher
from ._budget import prefix_within
from ._embedded_schema import ensure_schema
from ._errors import Conflict, Fenced, StoreError, Unavailable, UsernameTaken, own_copy
from ._numbering import SendKey, number_drafts, send_keys
from ._values import (
    Activity,
    Channel,
    Dedup,
    Device,
    Draft,
    Message,
    NodeRecord,
    Notify,
    PushTarget,
    SeqLease,
    Unread,
    User,
)

T = TypeVar("T")

# Primary result codes (the low byte of the extended code) that mean "the
# file cannot be used right now", as opposed to a bug or a damaged file.
_TRANSIENT = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_READONLY,
    }
)

_MESSAGE_COLUMNS = "channel, seq, sender, device, body, ts, cid"
_BODY_BYTES = "length(CAST(body AS BLOB))"  # UTF-8 bytes, as SQLite keeps text

# A hop hands results back once they hold this many bytes of message bodies;
# the calls queued behind go over in the next hop. Without it, every page read
# queued while the thread was busy (each up to a WebSocket message of bodies)
# would come back in one hop and be held at once.
HOP_BYTES = 4 << 20


class EmbeddedStore(Store):
    """The Store on a local SQLite file. Open it with `await EmbeddedStore.open(path)`."""

    def __init__(self, db: sqlite3.Connection, limiter: trio.CapacityLimiter) -> None:
        # Invariant: `_db` is touched only by a function running under
        # `_limiter`, so never by two threads at once; None once closed.
        self._db: sqlite3.Connection | None = db
        self._limiter = limiter
        self._hops = Batcher(self._hop)
        self._commits = Batcher(self._commit)

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, busy_timeout: float = 5.0
    ) -> EmbeddedStore:
        """Open (creating if new) the database file at `path`.

        `busy_timeout` is how long a call waits for another process holding
        the file's write lock (a `chatnode` command, a backup) before it
        fails with Unavailable. Raises Unavailable when the file cannot be
        opened or written, and StoreError when it is not a database of this
        store.
        """
        limiter = trio.CapacityLimiter(1)
        db = await trio.to_thread.run_sync(
            _guarded, _connect, os.fspath(path), busy_timeout, limiter=limiter
        )
        return cls(db, limiter)

    async def aclose(self) -> None:
        def close() -> None:
            db, self._db = self._db, None
            if db is not None:
                db.close()

        await trio.to_thread.run_sync(_guarded, close, limiter=self._limiter)

    # -- plumbing --------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, weigh: Callable[[T], int] | None = None) -> T:
        """Run `fn(connection)` on the worker thread, outside any transaction.

        Calls made while the thread is busy wait and go over in its next hop,
        one after another: a hand-over to the thread and back costs two GIL
        hand-offs on the event loop, so many devices reconnecting at once
        share them instead of paying one each. A hop ends early once the
        results it holds weigh HOP_BYTES (`weigh` says what a result weighs;
        unweighed results count nothing). Not abandoned on cancellation: a
        call already handed over finishes (the connection is never left
        mid-transaction) and the cancel lands after.
        """
        call = _Call(fn, weigh)
        await self._hops.submit(call)
        assert call.result is not None
        return call.result.unwrap()  # type: ignore[no-any-return]

    async def _hop(self, batch: list[_Call]) -> int:
        return await trio.to_thread.run_sync(self._run_calls, batch, limiter=self._limiter)

    def _run_calls(self, batch: list[_Call]) -> int:
        """On the worker thread: the calls of one hop, in order, until their
        results weigh HOP_BYTES; how many ran (at least one)."""
        held = 0
        for ran, call in enumerate(batch):
            if held >= HOP_BYTES:
                return ran
            if self._db is None:
                call.result = outcome.Error(StoreError("the store is closed"))
            else:
                call.result = outcome.capture(_guarded, call.fn, self._db)
            if call.weigh is not None and isinstance(call.result, outcome.Value):
                held += call.weigh(call.result.value)
        return len(batch)

    async def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in one write transaction: all of it or nothing."""

        def in_transaction(db: sqlite3.Connection) -> T:
            # IMMEDIATE takes the write lock up front, so a transaction that
            # reads and then writes cannot deadlock with another process.
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
                db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full, I/O error) may leave it open.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return result

        return await self._run(in_transaction)

    # -- accounts -------------------------------------------------------------

    async def create_user(self, user: User) -> None:
        def create(db: sqlite3.Connection) -> None:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (user.username,)).fetchone():
                raise UsernameTaken(user.username)
            db.execute(
                "INSERT INTO users (user, username, password_hash, created) VALUES (?, ?, ?, ?)",
                (user.user, user.username, user.password_hash, user.created),
            )

        await self._transaction(create)

    async def user_by_name(self, username: str) -> User | None:
        return await self._one_user("username", username)

    async def get_user(self, user: int) -> User | None:
        return await self._one_user("user", user)

    async def set_password_hash(self, user: User, password_hash: bytes) -> None:
        await self._transaction(
            lambda db: db.execute(
                "UPDATE users SET password_hash = ? WHERE user = ?", (password_hash, user.user)
            )
        )

    async def _one_user(self, column: str, key: int | str) -> User | None:
        def query(db: sqlite3.Connection) -> User | None:
            row = db.execute(
                f"SELECT user, username, password_hash, created FROM users WHERE {column} = ?",
                (key,),
            ).fetchone()
            return None if row is None else User(*row)

        return await self._run(query)

    # -- devices and their tokens --------------------------------------------

    async def add_device(self, device: Device, token_hash: bytes) -> None:
        def add(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO devices (user, device, name, created, last_active)"
                " VALUES (?, ?, ?, ?, ?)",
                (device.user, device.device, device.name, device.created, device.last_active),
            )
            db.execute(
                "INSERT INTO tokens (token_hash, user, device) VALUES (?, ?, ?)",
                (token_hash, device.user, device.device),
            )

        await self._transaction(add)

    async def device_by_token(self, token_hash: bytes) -> Device | None:
        def query(db: sqlite3.Connection) -> Device | None:
            row = db.execute(
                "SELECT d.user, d.device, d.name, d.created, d.last_active"
                " FROM tokens t JOIN devices d ON d.user = t.user AND d.device = t.device"
                " WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            return None if row is None else Device(*row)

        return await self._run(query)

    async def devices(self, user: int) -> list[Device]:
        def query(db: sqlite3.Connection) -> list[Device]:
            rows = db.execute(
                "SELECT user, device, name, created, last_active FROM devices"
                " WHERE user = ? ORDER BY device",
                (user,),
            )
            return [Device(*row) for row in rows]

        return await self._run(query)

    async def device_count(self, user: int) -> int:
        def query(db: sqlite3.Connection) -> int:
            (count,) = db.execute("SELECT count(*) FROM devices WHERE user = ?", (user,)).fetchone()
            return int(count)

        return await self._run(query)

    async def revoke_device(self, user: int, device: int) -> bool:
        def revoke(db: sqlite3.Connection) -> bool:
            key = (user, device)
            db.execute("DELETE FROM tokens WHERE user = ? AND device = ?", key)
            db.execute("DELETE FROM push_targets WHERE user = ? AND device = ?", key)
            deleted = db.execute("DELETE FROM devices WHERE user = ? AND device = ?", key)
            return deleted.rowcount > 0

        return await self._transaction(revoke)

    async def touch_devices(self, activity: Sequence[Activity]) -> None:
        # max(): activity reported late (another node, a slow task) never
        # moves the time backwards. A revoked device stays forgotten.
        def touch(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE devices SET last_active = max(last_active, ?)"
                " WHERE user = ? AND device = ?",
                [(a.when, a.user, a.device) for a in activity],
            )
            db.executemany(
                "INSERT INTO user_activity (user, last_active) VALUES (?, ?)"
                " ON CONFLICT (user) DO UPDATE"
                " SET last_active = max(last_active, excluded.last_active)",
                [(a.user, a.when) for a in activity],
            )

        if activity:
            await self._transaction(touch)

    async def last_active(self, users: Iterable[int]) -> dict[int, int]:
        wanted = _json_list(users)

        def query(db: sqlite3.Connection) -> dict[int, int]:
            rows = db.execute(
                "SELECT user, last_active FROM user_activity"
                " WHERE user IN (SELECT value FROM json_each(?))",
                (wanted,),
            )
            return dict(rows.fetchall())

        return await self._run(query)

    # -- push targets ----------------------------------------------------------

    async def set_push_target(self, user: int, device: int, target: PushTarget) -> None:
        await self._transaction(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO push_targets"
                " (user, device, kind, endpoint, fields, registered, preview, preview_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user,
                    device,
                    target.kind,
                    target.endpoint,
                    json.dumps(target.fields),
                    target.registered,
                    target.preview,
                    target.preview_key,
                ),
            )
        )

    async def remove_push_target(self, user: int, device: int, registered: int) -> None:
        await self._transaction(
            lambda db: db.execute(
                "DELETE FROM push_targets WHERE user = ? AND device = ? AND registered <= ?",
                (user, device, registered),
            )
        )

    async def push_targets(self, user: int) -> dict[int, PushTarget]:
        def query(db: sqlite3.Connection) -> dict[int, PushTarget]:
            rows = db.execute(
                "SELECT device, kind, endpoint, fields, registered, preview, preview_key"
                " FROM push_targets WHERE user = ?",
                (user,),
            )
            return {
                device: PushTarget(
                    kind, endpoint, tuple((k, v) for k, v in json.loads(fields)), registered, bool(preview), key
                )
                for device, kind, endpoint, fields, registered, preview, key in rows
            }

        return await self._run(query)

    # -- notify levels -------------------------------------------------------------

    async def set_notify(self, user: int, channel: int, notify: Notify | None) -> None:
        def store(db: sqlite3.Connection) -> None:
            if notify is None:
                db.execute("DELETE FROM notify_levels WHERE user = ? AND channel = ?", (user, channel))
                return
            db.execute(
                "INSERT OR REPLACE INTO notify_levels (user, channel, level, until) VALUES (?, ?, ?, ?)",
                (user, channel, notify.level.value, notify.until),
            )

        await self._transaction(store)

    async def notify_levels(self, user: int) -> dict[int, Notify]:
        def query(db: sqlite3.Connection) -> dict[int, Notify]:
            rows = db.execute("SELECT channel, level, until FROM notify_levels WHERE user = ?", (user,))
            return {channel: Notify(NotifyLevel(level), until) for channel, level, until in rows}

        return await self._run(query)

    # -- channels and membership ---------------------------------------------

    async def open_direct(self, a: int, b: int, channel: int, now: int) -> Channel:
        low, high = min(a, b), max(a, b)

        def open_(db: sqlite3.Connection) -> Channel:
            row = db.execute(
                "SELECT channel FROM direct_pairs WHERE low = ? AND high = ?", (low, high)
            ).fetchone()
            if row is not None:
                found = _read_channel(db, row[0])
                if found is None:
                    raise StoreError(f"direct pair ({low}, {high}) names missing channel {row[0]}")
                return found
            created = Channel(channel, ChannelKind.DIRECT, "", now, {low, high})
            db.execute(
                "INSERT INTO direct_pairs (low, high, channel) VALUES (?, ?, ?)",
                (low, high, channel),
            )
            _insert_channel(db, created)
            return created

        return await self._transaction(open_)

    async def create_group(self, channel: Channel) -> None:
        await self._transaction(lambda db: _insert_channel(db, channel))

    async def get_channel(self, channel: int) -> Channel | None:
        return await self._run(lambda db: _read_channel(db, channel))

    async def add_members(self, channel: int, users: Iterable[int]) -> None:
        rows = [(channel, user) for user in users]
        await self._transaction(lambda db: _insert_members(db, rows))

    async def remove_member(self, channel: int, user: int) -> None:
        await self._transaction(
            lambda db: db.execute(
                "DELETE FROM members WHERE channel = ? AND user = ?", (channel, user)
            )
        )

    async def user_channels(self, user: int, *, after: int = 0, limit: int | None = None) -> list[int]:
        # -1: SQLite's "no limit".
        page = -1 if limit is None else _checked_limit(limit)

        def query(db: sqlite3.Connection) -> list[int]:
            rows = db.execute(
                "SELECT channel FROM members WHERE user = ? AND channel > ?"
                " ORDER BY channel LIMIT ?",
                (user, after, page),
            )
            return [channel for (channel,) in rows]

        return await self._run(query)

    async def find_direct(self, a: int, b: int) -> int | None:
        def query(db: sqlite3.Connection) -> int | None:
            row = db.execute(
                "SELECT channel FROM direct_pairs WHERE low = ? AND high = ?", (min(a, b), max(a, b))
            ).fetchone()
            return None if row is None else row[0]

        return await self._run(query)

    # -- messages ----------------------------------------------------------------

    async def take_lease(self, channel: int) -> SeqLease:
        # Fencing is the transaction: bumping the epoch and every append's
        # epoch check are serialised by SQLite's write lock, and `last` is
        # written in the same transaction as each message, so it is exact.
        def take(db: sqlite3.Connection) -> SeqLease:
            (epoch, last) = db.execute(
                "INSERT INTO channel_heads (channel, epoch, last) VALUES (?, 1, 0)"
                " ON CONFLICT (channel) DO UPDATE SET epoch = epoch + 1"
                " RETURNING epoch, last",
                (channel,),
            ).fetchone()
            return SeqLease(channel, epoch, last)

        return await self._transaction(take)

    async def append(
        self, lease: SeqLease, after: int, drafts: Sequence[Draft]
    ) -> list[Message | Dedup]:
        """Group commit: appends waiting at the same time share one transaction.

        Every append must reach the disk before it returns, and an fsync per
        append would cap the node at about a thousand a second. So appends
        made while a commit is in progress wait, and all go in the next one:
        one transaction, each in a savepoint, so a fenced one fails alone.
        """
        if not drafts:
            return []
        pending = _PendingAppend(lease, after, tuple(drafts))
        await self._commits.submit(pending)
        if pending.error is not None:
            raise pending.error
        return pending.results

    async def _commit(self, batch: list[_PendingAppend]) -> int:
        try:
            await self._transaction(partial(_append_batch, batch))
        except StoreError as exc:
            for pending in batch:
                pending.error = own_copy(exc)
        return len(batch)

    async def last_seqs(self, channels: Sequence[int]) -> dict[int, int]:
        wanted = _json_list(channels)

        def query(db: sqlite3.Connection) -> dict[int, int]:
            stored = dict(
                db.execute(
                    "SELECT channel, last FROM channel_heads"
                    " WHERE channel IN (SELECT value FROM json_each(?))",
                    (wanted,),
                ).fetchall()
            )
            return {channel: stored.get(channel, 0) for channel in channels}

        return await self._run(query)

    async def read_range(
        self, channel: int, after: int, upto: int, limit: int, *, max_bytes: int | None = None
    ) -> list[Message]:
        read = await self._read_messages(
            "seq > ? AND seq <= ? ORDER BY seq", (channel, after, upto, _checked_limit(limit)), max_bytes
        )
        return read.messages

    async def read_before(
        self, channel: int, before: int, limit: int, *, max_bytes: int | None = None
    ) -> list[Message]:
        read = await self._read_messages(
            "seq < ? ORDER BY seq DESC", (channel, before, _checked_limit(limit)), max_bytes
        )
        return read.messages[::-1]

    async def _read_messages(
        self, where: str, params: tuple[int, ...], max_bytes: int | None
    ) -> _Read:
        """The rows `where` selects, in its order; with `max_bytes` only the
        first ones whose bodies fit it. Their sizes are summed first, inside
        SQLite, so no body past the budget becomes a Python object."""
        select = f" FROM messages WHERE channel = ? AND {where} LIMIT ?"

        def query(db: sqlite3.Connection) -> _Read:
            if max_bytes is None:
                return _Read.of(db.execute(f"SELECT {_MESSAGE_COLUMNS}, {_BODY_BYTES}" + select, params))
            db.execute("BEGIN")  # both statements read the same state of the file
            try:
                sizes = db.execute(f"SELECT {_BODY_BYTES}" + select, params)
                count = prefix_within((size for (size,) in sizes), max_bytes)
                sizes.close()
                counted = (*params[:-1], count)
                return _Read.of(db.execute(f"SELECT {_MESSAGE_COLUMNS}, {_BODY_BYTES}" + select, counted))
            finally:
                db.execute("COMMIT")

        return await self._run(query, weigh=lambda read: read.bytes)

    # -- read markers --------------------------------------------------------------

    async def advance_read_marker(self, user: int, channel: int, seq: int) -> None:
        await self._transaction(
            lambda db: db.execute(
                "INSERT INTO read_markers (user, channel, seq) VALUES (?, ?, ?)"
                " ON CONFLICT (user, channel) DO UPDATE SET seq = max(seq, excluded.seq)",
                (user, channel, seq),
            )
        )

    async def read_markers(self, user: int) -> dict[int, int]:
        def query(db: sqlite3.Connection) -> dict[int, int]:
            rows = db.execute("SELECT channel, seq FROM read_markers WHERE user = ?", (user,))
            return dict(rows.fetchall())

        return await self._run(query)

    async def unread(self, user: int) -> dict[int, Unread]:
        # One indexed walk of the user's memberships, a point lookup of each
        # channel's head and marker: the messages table is never touched.
        def query(db: sqlite3.Connection) -> dict[int, Unread]:
            rows = db.execute(
                "SELECT m.channel, coalesce(h.last, 0), coalesce(r.seq, 0) FROM members m"
                " LEFT JOIN channel_heads h ON h.channel = m.channel"
                " LEFT JOIN read_markers r ON r.user = m.user AND r.channel = m.channel"
                " WHERE m.user = ?",
                (user,),
            )
            return {channel: Unread(last, read) for channel, last, read in rows}

        return await self._run(query)

    # -- blocks ------------------------------------------------------------------

    async def block(self, user: int, other: int) -> None:
        await self._transaction(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO blocks (user, blocked) VALUES (?, ?)", (user, other)
            )
        )

    async def unblock(self, user: int, other: int) -> None:
        await self._transaction(
            lambda db: db.execute("DELETE FROM blocks WHERE user = ? AND blocked = ?", (user, other))
        )

    async def blocked(self, user: int) -> list[int]:
        def query(db: sqlite3.Connection) -> list[int]:
            rows = db.execute("SELECT blocked FROM blocks WHERE user = ? ORDER BY blocked", (user,))
            return [blocked for (blocked,) in rows]

        return await self._run(query)

    async def blockers(self, user: int, among: Iterable[int]) -> set[int]:
        wanted = _json_list(among)

        def query(db: sqlite3.Connection) -> set[int]:
            rows = db.execute(
                "SELECT user FROM blocks WHERE blocked = ?"
                " AND user IN (SELECT value FROM json_each(?))",
                (user, wanted),
            )
            return {blocker for (blocker,) in rows}

        return await self._run(query)

    # -- cluster membership ----------------------------------------------------------

    async def register_node(self, node: NodeRecord, ttl: float) -> None:
        def register(db: sqlite3.Connection) -> None:
            now = time.time()
            # Expired rows go here, so the table stays as small as the live set.
            db.execute("DELETE FROM nodes WHERE expires <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO nodes (node, address, started, expires)"
                " VALUES (?, ?, ?, ?)",
                (node.node, node.address, node.started, now + ttl),
            )

        await self._transaction(register)

    async def live_nodes(self) -> list[NodeRecord]:
        def query(db: sqlite3.Connection) -> list[NodeRecord]:
            rows = db.execute(
                "SELECT node, address, started FROM nodes WHERE expires > ? ORDER BY node",
                (time.time(),),
            )
            return [NodeRecord(*row) for row in rows]

        return await self._run(query)

    async def remove_node(self, node: int) -> None:
        await self._transaction(lambda db: db.execute("DELETE FROM nodes WHERE node = ?", (node,)))


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    # A new node's first start: its data directory may not exist yet.
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as exc:
        raise Unavailable(f"{path}: cannot create its directory: {exc.strerror}") from exc
    # Autocommit mode (isolation_level=None): transactions are explicit, see
    # EmbeddedStore._transaction. check_same_thread=False: the limiter, not
    # the thread identity, keeps the connection single-user.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode != "wal":
            raise StoreError(f"{path}: cannot use write-ahead logging (journal mode {mode})")
        db.execute("PRAGMA synchronous = FULL")
        ensure_schema(db)
    except BaseException:
        db.close()
        raise
    return db


@define(eq=False)
class _Call:
    fn: Callable[[sqlite3.Connection], object]
    weigh: Callable[[object], int] | None = None
    result: outcome.Outcome[object] | None = None


@define(eq=False)
class _Read:
    """Messages read, and the UTF-8 bytes of their bodies."""

    messages: list[Message]
    bytes: int

    @classmethod
    def of(cls, rows: Iterable[tuple[object, ...]]) -> _Read:
        """From rows of the message columns and the body's bytes."""
        read = cls([], 0)
        for *row, size in rows:
            read.messages.append(Message(*row))  # type: ignore[arg-type]
            read.bytes += size  # type: ignore[operator]
        return read


@define(eq=False)
class _PendingAppend:
    lease: SeqLease
    after: int
    drafts: tuple[Draft, ...]
    results: list[Message | Dedup] = field(factory=list)
    error: StoreError | None = None


def _append_batch(batch: list[_PendingAppend], db: sqlite3.Connection) -> None:
    """Write each append of `batch` in its own savepoint of one transaction."""
    for pending in batch:
        db.execute("SAVEPOINT append")
        try:
            pending.results = _guarded(_append_one, db, pending.lease, pending.after, pending.drafts)
        except StoreError as exc:
            db.execute("ROLLBACK TO append")
            pending.error = exc
        db.execute("RELEASE append")


def _append_one(
    db: sqlite3.Connection, lease: SeqLease, after: int, drafts: tuple[Draft, ...]
) -> list[Message | Dedup]:
    head = db.execute("SELECT epoch FROM channel_heads WHERE channel = ?", (lease.channel,)).fetchone()
    if head is None or head[0] != lease.epoch:
        raise Fenced(f"channel {lease.channel}: lease epoch {lease.epoch}, head {head}")
    # A dedup entry is written in its message's transaction, and a fenced
    # append writes neither, so every entry names a message that stands (the
    # Scylla store has to check that; here it holds by construction).
    earlier: dict[SendKey, Dedup] = {}
    for sender, cid in send_keys(drafts):
        row = db.execute(
            "SELECT channel, seq, ts FROM dedup WHERE sender = ? AND cid = ?", (sender, cid)
        ).fetchone()
        if row is not None:
            earlier[sender, cid] = Dedup(*row)
    results = number_drafts(lease.channel, after, drafts, earlier)
    stored = [result for result in results if isinstance(result, Message)]
    if not stored:
        return results
    # Upserts, like the Scylla store's writes: a seq left by a holder that was
    # fenced (never acknowledged) is overwritten.
    db.executemany(
        f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, seq) DO UPDATE SET sender = excluded.sender,"
        " device = excluded.device, body = excluded.body, ts = excluded.ts,"
        " cid = excluded.cid",
        [(m.channel, m.seq, m.sender, m.device, m.body, m.ts, m.cid) for m in stored],
    )
    db.executemany(
        "INSERT INTO dedup (sender, cid, channel, seq, ts) VALUES (?, ?, ?, ?, ?)",
        [(m.sender, m.cid, m.channel, m.seq, m.ts) for m in stored],
    )
    db.execute(
        "UPDATE channel_heads SET last = max(last, ?) WHERE channel = ?",
        (stored[-1].seq, lease.channel),
    )
    return results


def _guarded(fn: Callable[..., T], *args: object) -> T:
    """Call `fn` and translate sqlite's exceptions into the Store's own."""
    try:
        return fn(*args)
    except sqlite3.IntegrityError as exc:
        raise Conflict(str(exc)) from exc
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _TRANSIENT:
            raise Unavailable(f"sqlite: {exc}") from exc
        raise StoreError(f"sqlite: {exc}") from exc


def _read_channel(db: sqlite3.Connection, channel: int) -> Channel | None:
    row = db.execute(
        "SELECT kind, name, created FROM channels WHERE channel = ?", (channel,)
    ).fetchone()
    if row is None:
        return None
    kind, name, created = row
    members = db.execute("SELECT user FROM members WHERE channel = ?", (channel,))
    return Channel(channel, ChannelKind(kind), name, created, {user for (user,) in members})


def _insert_channel(db: sqlite3.Connection, channel: Channel) -> None:
    db.execute(
        "INSERT INTO channels (channel, kind, name, created) VALUES (?, ?, ?, ?)",
        (channel.channel, channel.kind.value, channel.name, channel.created),
    )
    _insert_members(db, [(channel.channel, user) for user in channel.members])


def _insert_members(db: sqlite3.Connection, rows: list[tuple[int, int]]) -> None:
    db.executemany("INSERT OR IGNORE INTO members (channel, user) VALUES (?, ?)", rows)


def _json_list(ids: Iterable[int]) -> str:
    """Ids as one JSON parameter, read back with json_each: an IN list of any length."""
    return json.dumps([int(i) for i in ids])


def _checked_limit(limit: int) -> int:
    # SQLite reads a negative LIMIT as "no limit"; the Store's is a cap.
    if limit < 0:
        raise ValueError(f"negative limit {limit}")
    return limit
