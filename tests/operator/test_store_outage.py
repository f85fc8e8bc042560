"""A `chatnode serve` process whose Cassandra is killed mid-run and started again.

The node runs on a Cassandra of this module's own (not the shared one: it
is SIGKILLed, as a crash would, and started again on the same data and
ports), with a login (PasswordAuthenticator), while two devices send and
ping throughout. While the store is down, sends are answered `unavailable`
(never `ok`), pings and typing go on, the node drops no connection and does
not exit. Once Cassandra is back, sends succeed again with nobody doing
anything about it, and every send ever answered `ok` is read back by `sync`:
nothing acknowledged is lost, and the channel's seqs stay 1..N.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from attrs import define, field, frozen

from client import ByeEvent, Connection, PresenceEvent, ServerEvent, TypingEvent, Unavailable
from tools.localcassandra import SUPERUSER, LocalCassandra

from ..node.people import Person, new_device, sign_up
from .chatnode import assert_one_line_error, run, serving

#: Seconds the store stays down: long enough for many sends and pings to meet it.
DOWN_FOR = 6.0

#: Seconds the node may take to serve again once Cassandra answers (its
#: driver retries every 10 s at most).
RECOVERY = 60.0

#: Sends answered `ok` per device after the return, to call it recovered.
SENDS_AFTER = 3

#: Channels no actor runs, asked for at once while the store is down: each
#: actor fails to start, more than the registry's restart intensity (20 in 5 s).
STORM = 25

#: Seconds between two sends, and between two pings, of one device.
SEND_EVERY = 0.05
PING_EVERY = 0.25


@pytest.fixture(scope="module")
def cassandra() -> Iterator[LocalCassandra]:
    # A write acknowledged before the kill must survive it: one replica
    # must sync its commit log before acknowledging (as a quorum of three
    # replicas makes a real cluster's acknowledged writes survive one crash).
    with LocalCassandra(password_auth=True, sync_commitlog=True) as database:
        yield database


def cql_args(database: LocalCassandra, password_file: Path) -> list[str]:
    host, port = database.contact_point
    keyspace = f"chat_outage_{secrets.token_hex(4)}"
    return [
        "--cql", f"{host}:{port}", "--keyspace", keyspace, "--replication-factor", "1",
        "--cql-username", SUPERUSER[0], "--cql-password-file", str(password_file),
    ]  # fmt: skip


def password_file(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "cql-password"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


@frozen
class Outcome:
    """One send: the store's phase when it was sent and when it was answered, and the answer."""

    sent: str
    answered: str
    seq: int | None  # None: refused with `unavailable`
    body: str


@define
class Run:
    """What both devices saw, phase by phase: `up`, `down`, `restarting`, `back`."""

    phase: str = "up"
    sends: list[Outcome] = field(factory=list)
    pings: list[str] = field(factory=list)  # the phase each answered ping was sent in
    events: dict[str, list[ServerEvent]] = field(factory=dict)

    def acked(self, **phases: str) -> list[Outcome]:
        return [o for o in self.sends if o.seq is not None and all(getattr(o, k) == v for k, v in phases.items())]

    def refused(self, **phases: str) -> list[Outcome]:
        return [o for o in self.sends if o.seq is None and all(getattr(o, k) == v for k, v in phases.items())]


@asynccontextmanager
async def device(url: str, person: Person, name: str, run_: Run) -> AsyncIterator[Connection]:
    """An authenticated connection whose events all land in `run_.events[name]`."""
    events = run_.events[name] = []
    credentials = await new_device(url, person, name)
    async with Connection.open(url, on_event=events.append) as conn:
        await conn.auth(credentials.token)
        yield conn


async def keep_sending(conn: Connection, channel: int, name: str, run_: Run) -> None:
    for number in itertools.count():
        sent, body = run_.phase, f"{name} {number}"
        try:
            answer = await conn.send(channel, body)
        except Unavailable:
            run_.sends.append(Outcome(sent, run_.phase, None, body))
        else:
            run_.sends.append(Outcome(sent, run_.phase, answer.seq, body))
        await trio.sleep(SEND_EVERY)


async def keep_pinging(conn: Connection, run_: Run) -> None:
    while True:
        sent = run_.phase
        with trio.fail_after(5):
            await conn.ping()
        run_.pings.append(sent)
        await trio.sleep(PING_EVERY)


async def read_all(conn: Connection, channel: int) -> list[tuple[int, str]]:
    """Every stored message of the channel, as (seq, body), through `sync` pages."""
    stored: list[tuple[int, str]] = []
    while True:
        page = await conn.sync(channel, stored[-1][0] if stored else 0)
        stored += [(m.seq, m.body) for m in page.messages]
        if not page.more:
            return stored


async def test_a_wrong_cql_password_is_a_one_line_start_up_error(cassandra: LocalCassandra, tmp_path: Path) -> None:
    args = cql_args(cassandra, password_file(tmp_path, "not the password"))
    done = await run("status", *args, cwd=tmp_path)
    assert done.status == 2
    assert_one_line_error(done.stderr)
    assert "AuthenticationFailed" in done.stderr, done.stderr
    assert "not the password" not in done.stderr + done.stdout, "the password is never shown"


async def test_cassandra_killed_and_restarted_under_a_serving_node(
    cassandra: LocalCassandra, tmp_path: Path
) -> None:
    args = ["--port", "0", *cql_args(cassandra, password_file(tmp_path, SUPERUSER[1]))]
    run_ = Run()
    async with serving(args, cwd=tmp_path) as node:
        alice, bob = await sign_up(node.url, "alice"), await sign_up(node.url, "bob")
        async with device(node.url, alice, "alice", run_) as a, device(node.url, bob, "bob", run_) as b:
            channel = await a.direct(bob.user)
            async with trio.open_nursery() as traffic:
                for conn, name in ((a, "alice"), (b, "bob")):
                    traffic.start_soon(keep_sending, conn, channel, name, run_)
                    traffic.start_soon(keep_pinging, conn, run_)
                await outage(cassandra, node.process, a, channel, run_)
                traffic.cancel_scope.cancel()

            assert len(run_.refused(sent="down", answered="down")) >= 10, "sends met the outage"
            assert run_.acked(sent="down", answered="down") == [], "nothing is `ok` while the store is down"
            assert run_.pings.count("down") >= DOWN_FOR / PING_EVERY, "pings went on, on both devices"
            assert not a.closed and not b.closed, "no connection was dropped"
            for name in ("alice", "bob"):
                assert not [e for e in run_.events[name] if isinstance(e, ByeEvent)], "nobody was told bye"
                offline = [e for e in run_.events[name] if isinstance(e, PresenceEvent) and not e.online]
                assert offline == [], "nobody online went offline for it"
            ((seen_by_alice,), (seen_by_bob,)) = await a.presence([bob.user]), await b.presence([alice.user])
            assert seen_by_alice.online and seen_by_bob.online
            stored = await read_all(b, channel)

        assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1)), "seqs 1..N, no gap"
        stored_at = dict(stored)
        lost = [o for o in run_.acked() if stored_at.get(o.seq) != o.body]
        assert lost == [], "every `ok` is in the store, at its seq"
        assert node.process.returncode is None, "the node did not exit"
        assert await node.stop() == 0


async def storm(conn: Connection) -> None:
    """`sync` on channels whose actors must start, and cannot: each is `unavailable`."""
    refused = []

    async def sync(channel: int) -> None:
        with pytest.raises(Unavailable):
            await conn.sync(channel, 0)
        refused.append(channel)

    async with trio.open_nursery() as nursery:
        for channel in range(STORM):
            nursery.start_soon(sync, 10**15 + channel)
    assert len(refused) == STORM


async def outage(cassandra: LocalCassandra, node: trio.Process, a: Connection, channel: int, run_: Run) -> None:
    """Sends acknowledged, then the store killed for DOWN_FOR seconds, then back until both devices send again."""
    with trio.fail_after(30):
        while len(run_.acked(sent="up")) < 10:
            await trio.sleep(0.1)
    await trio.to_thread.run_sync(cassandra.kill)
    run_.phase = "down"
    down_since = trio.current_time()
    await storm(a)
    await trio.sleep_until(down_since + DOWN_FOR)
    await a.typing(channel)  # live events need no store
    with trio.fail_after(5):
        while not [e for e in run_.events["bob"] if isinstance(e, TypingEvent)]:
            await trio.sleep(0.05)
    assert node.returncode is None, "the node did not exit"
    run_.phase = "restarting"
    await trio.to_thread.run_sync(cassandra.start)
    run_.phase = "back"

    def sent_after(name: str) -> int:
        return len([o for o in run_.acked(sent="back") if o.body.startswith(name)])

    with trio.fail_after(RECOVERY):
        while min(sent_after("alice"), sent_after("bob")) < SENDS_AFTER:
            await trio.sleep(0.1)
