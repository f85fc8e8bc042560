"""Attacks on accounts and tokens, against a real node on real sockets, with
an innocent client beside the attacker where one can be hurt.

The node runs the default account policy here (throttles, KDF queues, the
scrypt cost, the device cap), not the node suite's relaxed one. Attackers
connect from addresses of their own: every 127.0.0.0/8 address is this
host, so a test can be twenty peers at once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from actors import AccountPolicy, Node
from actors._mail import PresenceQuery
from runtime import ActorRef, MailboxFull
from storage import (
    Device,
    EmbeddedStore,
    ScryptCost,
    Store,
    User,
    hash_password,
    new_token,
    password_cost,
    token_hash,
    verify_password,
)

from ..conftest import OpenStore
from ..storage.fresh import new_id
from .conftest import node_config
from .people import username as name
from .raw import call, next_frame, reply_to, send_frame, sign_up

PASSWORD = "correct horse battery"
POLICY = AccountPolicy()


@asynccontextmanager
async def running(open_store: OpenStore, nursery: trio.Nursery, **config: Any) -> AsyncIterator[Node]:
    async with open_store() as store:
        node = await nursery.start(Node(node_config(accounts=POLICY, **config), store).run)
        yield node
        await node.drain()


@pytest.fixture
async def node(open_store: OpenStore, nursery: trio.Nursery) -> AsyncIterator[Node]:
    async with running(open_store, nursery) as started:
        yield started


@asynccontextmanager
async def connect_from(node: Node, address: str) -> AsyncIterator[WebSocketConnection]:
    """A WebSocket to the node whose peer address is `address`."""
    stream = await trio.open_tcp_stream(node.config.host, node.gateway.port, local_address=address)
    async with trio.open_nursery() as nursery:
        ws = await wrap_client_stream(nursery, stream, node.config.host, "/v1")
        try:
            yield ws
        finally:
            await ws.aclose()


async def register(node: Node, username: str, address: str = "127.0.0.1") -> None:
    async with connect_from(node, address) as ws:
        reply = await call(ws, t="register", username=username, password=PASSWORD)
        assert reply["t"] == "ok", reply


def code(reply: dict[str, Any]) -> str:
    return "ok" if reply["t"] == "ok" else reply["code"]


def assert_throttled(reply: dict[str, Any]) -> None:
    assert reply["t"] == "err" and reply["code"] == "rate_limited", reply
    assert isinstance(reply["retry"], int) and reply["retry"] > 0, reply


# -- login and register throttles -----------------------------------------------------


async def test_twenty_guessers_at_one_account_are_throttled_and_a_real_login_still_succeeds(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chat.security")
    victim, innocent = name("victim"), name("innocent")
    await register(node, victim)
    await register(node, innocent)
    replies: list[dict[str, Any]] = []
    throttling = trio.Event()

    async def guess(i: int) -> None:
        async with connect_from(node, f"127.0.0.{10 + i}") as ws:
            for attempt in range(3):
                reply = await call(ws, t="login", username=victim, password=f"guess {i}-{attempt}", device="x")
                replies.append(reply)
                if code(reply) == "rate_limited":
                    throttling.set()

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(guess, i)
        with trio.fail_after(120):
            await throttling.wait()
        # Beside them, while their admitted guesses are being hashed.
        async with connect_from(node, "127.0.0.2") as ws:
            login = await call(ws, t="login", username=innocent, password=PASSWORD, device="phone")
            assert login["t"] == "ok", login
            assert (await call(ws, t="auth", token=login["token"]))["t"] == "ok"
    elapsed = trio.current_time() - started

    codes = Counter(code(reply) for reply in replies)
    assert set(codes) == {"bad_credentials", "rate_limited"}, codes
    for reply in replies:
        if code(reply) == "rate_limited":
            assert_throttled(reply)
    # Only what the account's own budget allowed reached the KDF.
    rule = POLICY.throttles.login_per_username
    assert codes["bad_credentials"] <= rule.burst + rule.rate * elapsed

    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith(f"failed_login username={victim} peer=127.0.0.") for line in lines), lines
    assert any(line.startswith(f"throttled request=login username={victim} peer=127.0.0.") for line in lines)
    assert "guess" not in caplog.text and PASSWORD not in caplog.text
    assert login["token"] not in caplog.text


async def test_one_address_trying_many_accounts_is_throttled(node: Node) -> None:
    replies = []
    async with connect_from(node, "127.0.0.3") as ws:
        for _ in range(40):
            replies.append(await call(ws, t="login", username=name("nobody"), password="not it at all", device="x"))
            if code(replies[-1]) == "rate_limited":
                break
    assert_throttled(replies[-1])
    assert [code(reply) for reply in replies[:-1]] == ["bad_credentials"] * (len(replies) - 1)
    assert len(replies) - 1 >= POLICY.throttles.login_per_peer.burst
    # Another address is not held back by it.
    innocent = name("innocent")
    await register(node, innocent, "127.0.0.4")
    async with connect_from(node, "127.0.0.4") as ws:
        assert code(await call(ws, t="login", username=innocent, password=PASSWORD, device="x")) == "ok"


async def test_a_connection_that_ignores_retry_has_its_next_frames_read_only_when_told(node: Node) -> None:
    """Past its throttle, a guesser pipelining logins gets one refusal per wait, not one per frame."""
    async with connect_from(node, "127.0.0.8") as ws:
        replies = []
        while not replies or code(replies[-1]) != "rate_limited":
            replies.append(await call(ws, t="login", username=name("nobody"), password="not it at all", device="x"))
        assert_throttled(replies[-1])
        hold = min(replies[-1]["retry"] / 1000, node.config.limits.idle_timeout / 2)
        ids = [await send_frame(ws, t="login", username=name("nobody"), password="again", device="x") for _ in range(10)]
        answered = []
        with trio.move_on_after(hold / 2):
            answered.append(await next_frame(ws))
        assert answered == [], answered
        # Then they are read: the connection was held, not dropped.
        assert code(await reply_to(ws, ids[0])) in {"bad_credentials", "rate_limited"}


async def test_one_connection_registering_many_accounts_is_throttled(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chat.security")
    rule = POLICY.throttles.register_per_peer
    started = trio.current_time()
    async with connect_from(node, "127.0.0.5") as ws:
        # Two past the burst: each refusal holds the connection's reads for
        # its wait (up to half the idle time-out), and all of it must fit
        # the auth deadline of a connection that never authenticates.
        replies = [
            await call(ws, t="register", username=name("bulk"), password=PASSWORD) for _ in range(rule.burst + 2)
        ]
    elapsed = trio.current_time() - started
    codes = [code(reply) for reply in replies]
    assert codes[: rule.burst] == ["ok"] * rule.burst
    assert set(codes[rule.burst :]) <= {"ok", "rate_limited"}
    assert codes.count("ok") <= rule.burst + rule.rate * elapsed
    assert_throttled(replies[-1])
    assert any(r.getMessage().startswith("throttled request=register peer=127.0.0.5") for r in caplog.records)
    await register(node, name("innocent"), "127.0.0.6")


async def test_a_full_login_queue_answers_unavailable(node: Node) -> None:
    # Each attempt from an address and at an account of its own: no
    # throttle applies, only the queue in front of the KDF.
    attempts = POLICY.login_queue * 4
    async with trio.open_nursery() as nursery:
        sockets = []
        for i in range(attempts):
            sockets.append(await nursery.start(_open_from, node, f"127.0.1.{i + 1}"))
        ids = [
            await send_frame(ws, t="login", username=name("nobody"), password="not it at all", device="x")
            for ws in sockets
        ]
        replies = [await reply_to(ws, request_id) for ws, request_id in zip(sockets, ids, strict=True)]
        nursery.cancel_scope.cancel()
    codes = Counter(code(reply) for reply in replies)
    assert set(codes) == {"bad_credentials", "unavailable"}, codes
    assert codes["bad_credentials"] >= POLICY.login_queue


async def test_a_flood_of_registrations_leaves_logins_their_own_queue(node: Node) -> None:
    innocent = name("innocent")
    await register(node, innocent, "127.0.0.7")
    flood = POLICY.register_queue * 4
    async with trio.open_nursery() as nursery:
        sockets = []
        for i in range(flood):
            sockets.append(await nursery.start(_open_from, node, f"127.0.2.{i + 1}"))
        ids = [await send_frame(ws, t="register", username=name("flood"), password=PASSWORD) for ws in sockets]
        async with connect_from(node, "127.0.0.7") as ws:
            login = await call(ws, t="login", username=innocent, password=PASSWORD, device="x")
        replies = [await reply_to(ws, request_id) for ws, request_id in zip(sockets, ids, strict=True)]
        nursery.cancel_scope.cancel()
    assert code(login) == "ok", login
    codes = Counter(code(reply) for reply in replies)
    assert set(codes) == {"ok", "unavailable"}, codes


async def _open_from(node: Node, address: str, *, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
    async with connect_from(node, address) as ws:
        task_status.started(ws)
        await trio.sleep_forever()


# -- devices and password hashes ------------------------------------------------------


async def test_an_account_at_its_device_cap_is_told_to_revoke_one(node: Node) -> None:
    store = node.services.store
    person = name("many")
    await register(node, person)
    async with connect_from(node, "127.0.0.8") as ws:
        first = await call(ws, t="login", username=person, password=PASSWORD, device="first")
        assert first["t"] == "ok"
        user = first["user"]
        # The rest of the cap, as logins would have stored them.
        seeded = [Device(user, 10_000 + i, f"seeded {i}", 1, 1) for i in range(POLICY.max_devices - 1)]
        for device in seeded:
            await store.add_device(device, token_hash(new_token()))

        refused = await call(ws, t="login", username=person, password=PASSWORD, device="one too many")
        assert refused["t"] == "err" and refused["code"] == "bad_request", refused
        assert str(POLICY.max_devices) in refused["msg"] and "revoke" in refused["msg"]
        assert await store.device_count(user) == POLICY.max_devices
        # The cap tells nothing to someone without the password.
        wrong = await call(ws, t="login", username=person, password="not the password", device="x")
        assert wrong["code"] == "bad_credentials"

        assert (await call(ws, t="auth", token=first["token"]))["t"] == "ok"
        assert (await call(ws, t="revoke", device=seeded[0].device))["t"] == "ok"
    async with connect_from(node, "127.0.0.8") as ws:
        again = await call(ws, t="login", username=person, password=PASSWORD, device="now there is room")
        assert again["t"] == "ok", again


async def test_a_login_replaces_an_old_cost_hash_with_one_at_the_current_cost(node: Node) -> None:
    store = node.services.store
    old = ScryptCost(log2_n=14)
    assert POLICY.password_cost != old
    person = User(
        user=new_id(),
        username=name("old"),
        password_hash=await trio.to_thread.run_sync(hash_password, PASSWORD, old),
        created=1,
    )
    await store.create_user(person)
    async with connect_from(node, "127.0.0.9") as ws:
        assert code(await call(ws, t="login", username=person.username, password=PASSWORD, device="x")) == "ok"
        for stored in (await store.user_by_name(person.username), await store.get_user(person.user)):
            assert stored is not None
            assert password_cost(stored.password_hash) == POLICY.password_cost
            assert await trio.to_thread.run_sync(verify_password, PASSWORD, stored.password_hash)
        # The new hash is the one logins check from now on.
        assert code(await call(ws, t="login", username=person.username, password=PASSWORD, device="y")) == "ok"
        assert code(await call(ws, t="login", username=person.username, password="wrong password", device="z")) == (
            "bad_credentials"
        )


# -- revocation ------------------------------------------------------------------------


async def expect_bye(ws: WebSocketConnection, reason: str, timeout: float = 20.0) -> None:
    """Read until `bye`; it must have `reason`, and the connection then closes."""
    with trio.fail_after(timeout):
        while True:
            frame = await next_frame(ws)
            if frame["t"] == "bye":
                assert frame["reason"] == reason, frame
                break
        with pytest.raises(ConnectionClosed):
            while True:
                await next_frame(ws)


class FloodAfterRevoke:
    """The real store, holding `revoke_device` back, once the token is gone,
    until `flood()` has filled the user's mailbox: the notice that follows
    meets a full one. (A flood running for the whole request would starve
    the embedded store's worker thread of the GIL instead: the event loop
    releases and retakes it so often that the thread's wait for it never
    times out into a hand-over; measured, 2-16 s for one DELETE.)"""

    def __init__(self, store: Store, flood: Callable[[], Awaitable[None]]) -> None:
        self._store = store
        self._flood = flood

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def revoke_device(self, user: int, device: int) -> bool:
        revoked = await self._store.revoke_device(user, device)
        await self._flood()
        return revoked


async def test_a_revoke_ends_the_session_while_the_users_mailbox_is_flooded(
    open_store: OpenStore, nursery: trio.Nursery
) -> None:
    async with trio.open_nursery() as flood, open_store() as store:
        user: ActorRef | None = None

        async def fill_the_mailbox() -> None:
            assert user is not None

            # More senders than the actor takes in one go (64): one is
            # always parked, so the mailbox is never not full.
            async def flood_mail() -> None:
                while True:
                    await user.tell(PresenceQuery())

            for _ in range(300):
                flood.start_soon(flood_mail)
            while True:
                try:
                    user.tell_nowait(PresenceQuery())
                except MailboxFull:
                    return
                await trio.sleep(0)

        # The store's look would end it too, in an hour: this is the notice alone.
        config = node_config(accounts=POLICY, revocation_check=3600.0)
        node = await nursery.start(Node(config, FloodAfterRevoke(store, fill_the_mailbox)).run)  # type: ignore[arg-type]
        async with connect_from(node, "127.0.0.1") as laptop, connect_from(node, "127.0.0.1") as phone:
            username = name("owner")
            owner = await sign_up(phone, username, PASSWORD)
            login = await call(laptop, t="login", username=username, password=PASSWORD, device="laptop")
            assert (await call(laptop, t="auth", token=login["token"]))["t"] == "ok"
            user = node.services.user_ref(owner["user"])
            with trio.fail_after(20):
                revoked = await call(phone, t="revoke", device=login["device"])
            assert revoked["t"] == "ok", revoked
            await expect_bye(laptop, "revoked")
            flood.cancel_scope.cancel()
            assert (await call(phone, t="ping"))["t"] == "ok"
        await node.drain()


async def test_the_store_check_ends_a_session_whose_device_was_revoked_elsewhere(
    open_store: OpenStore, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chat.security")
    async with running(open_store, nursery, revocation_check=0.5) as node:
        async with connect_from(node, "127.0.0.1") as laptop, connect_from(node, "127.0.0.1") as phone:
            username = name("owner")
            owner = await sign_up(phone, username, PASSWORD)
            login = await call(laptop, t="login", username=username, password=PASSWORD, device="laptop")
            assert (await call(laptop, t="auth", token=login["token"]))["t"] == "ok"
            # As another node would: in the store, with no notice to this one.
            assert await node.services.store.revoke_device(owner["user"], login["device"])
            await expect_bye(laptop, "revoked")
            assert (await call(phone, t="ping"))["t"] == "ok"
    line = f"revoked_session user={owner['user']} device={login['device']}"
    assert line in [record.getMessage() for record in caplog.records]


async def test_a_revoke_between_auths_token_check_and_its_answer_is_never_let_in(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    # Driven through the embedded store's one worker: while it is stuck on
    # a write (another process holds the file's lock), auth's token read
    # and then the revoke's delete queue up, and run in that order in one
    # go. The token is valid when read, and revoked before auth answers.
    # What the tasks do next is up to Trio's scheduler (it reverses a batch
    # half the time), so the race is run several times.
    path = tmp_path / "race.db"
    store = await EmbeddedStore.open(path, busy_timeout=60.0)
    try:
        # Not about throttles: one account logs in a device per round.
        node = await nursery.start(Node(node_config(revocation_check=3600.0), store).run)
        async with connect_from(node, "127.0.0.1") as phone:
            username = name("owner")
            await sign_up(phone, username, PASSWORD)
            for _ in range(RACES):
                async with connect_from(node, "127.0.0.1") as laptop:
                    await _revoke_during_auth(path, store, phone, laptop, username)
        await node.drain()
    finally:
        await store.aclose()


RACES = 8


async def _revoke_during_auth(
    path: Path, store: EmbeddedStore, phone: WebSocketConnection, laptop: WebSocketConnection, username: str
) -> None:
    login = await call(laptop, t="login", username=username, password=PASSWORD, device="laptop")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        async with trio.open_nursery() as stuck:
            stuck.start_soon(store.advance_read_marker, 1, 1, 1)
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            auth = await send_frame(laptop, t="auth", token=login["token"])
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            revoke = await send_frame(phone, t="revoke", device=login["device"])
            await trio.testing.wait_all_tasks_blocked(cushion=0.05)
            other.execute("ROLLBACK")
    finally:
        other.close()
    assert (await reply_to(phone, revoke))["t"] == "ok"
    # Refused (`bad_token`), or ended (`bye` revoked: the revoke's notice
    # found the session attached) before any answer: never `ok`.
    with trio.fail_after(20):
        frame = await next_frame(laptop)
        while frame.get("id") != auth and frame["t"] != "bye":
            frame = await next_frame(laptop)
    if frame["t"] == "bye":
        assert frame["reason"] == "revoked", frame
    else:
        assert frame["t"] == "err" and frame["code"] == "bad_token", frame
        assert (await call(laptop, t="channels"))["code"] == "unauthenticated"
