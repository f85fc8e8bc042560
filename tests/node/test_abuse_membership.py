"""No forced membership: attacks that put a victim in channels, run against a real node.

Each test has an innocent party beside the attacker and checks that the
attack is refused with its specified code while the innocent keeps working.
The node runs with a small WebSocket message limit (8 KiB), so that a
channel list the caps allow already needs several pages.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import pytest
from attrs import frozen
from trio_websocket import WebSocketConnection, open_websocket_url

from actors import Node
from protocol import Limits
from storage import User

from .raw import call, next_frame, send_frame, sign_up

#: 8 KiB messages (the smallest the 1,000-character bodies allow is 5 KiB).
SMALL_MESSAGES = Limits(max_body_chars=1000, max_message_bytes=8192)


@pytest.fixture
def limits() -> Limits:
    return SMALL_MESSAGES


def name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@frozen
class Party:
    ws: WebSocketConnection
    user: int


@asynccontextmanager
async def party(node: Node, prefix: str, *, strict: bool = False) -> AsyncIterator[Party]:
    """A user signed up on a connection of their own; `strict`: a client that
    refuses any message over the node's limit (1009), as the attacked one did."""
    size = node.config.limits.max_message_bytes if strict else 1 << 20
    async with open_websocket_url(node.url, max_message_size=size) as ws:
        yield Party(ws, (await sign_up(ws, name(prefix)))["user"])


@pytest.fixture
async def victim(node: Node) -> AsyncIterator[Party]:
    async with party(node, "victim", strict=True) as innocent:
        yield innocent


async def fillers(node: Node, count: int) -> list[int]:
    """Users who exist but never connect: stored directly, no password to hash."""
    users = [User(secrets.randbits(62) + 1, name("filler"), b"no password", 0) for _ in range(count)]
    for user in users:
        await node.services.store.create_user(user)
    return [user.user for user in users]


async def groups_until_refused(ws: WebSocketConnection, members: list[int], attempts: int) -> tuple[list[int], list[dict[str, Any]]]:
    """Ask for `attempts` groups of `members`: the channels made, and the refusals."""
    made: list[int] = []
    refused: list[dict[str, Any]] = []
    for attempt in range(attempts):
        reply = await call(ws, t="group", name=f"spam {attempt}", members=members)
        if reply["t"] == "ok":
            made.append(reply["channel"])
        else:
            refused.append(reply)
    return made, refused


async def all_channels(ws: WebSocketConnection, limit_bytes: int) -> list[dict[str, Any]]:
    """Every channel of the user on `ws`, page by page; each reply checked against the limit."""
    channels: list[dict[str, Any]] = []
    after = 0
    while True:
        request = await send_frame(ws, t="channels", after=after)
        while True:
            data = await ws.get_message()
            assert isinstance(data, bytes) and len(data) <= limit_bytes, "every page fits one message"
            reply = msgpack.unpackb(data, raw=False)
            if reply.get("id") == request:
                break
        assert reply["t"] == "ok", reply
        page = reply["channels"]
        assert [entry["channel"] for entry in page] == sorted(entry["channel"] for entry in page)
        assert all(entry["channel"] > after for entry in page)
        channels += page
        if not reply["more"]:
            return channels
        assert page, "a page that says more has something in it"
        after = page[-1]["channel"]


async def test_group_spam_around_a_victim_is_capped_and_the_victim_keeps_working(
    node: Node, victim: Party, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chat.security")
    caps = node.services.caps
    crowd = await fillers(node, node.config.limits.max_group_members - 2)
    async with party(node, "spammer") as one, party(node, "spammer") as two, party(node, "spammer") as three:
        first, second, third = one.ws, two.ws, three.ws
        # One account, groups of 100 with the victim: its own cap stops it.
        made, refused = await groups_until_refused(first, [victim.user, *crowd], caps.groups_per_hour + 5)
        assert len(made) == caps.groups_per_hour
        assert len(refused) == 5
        assert {reply["code"] for reply in refused} == {"rate_limited"}
        assert all(0 < reply["retry"] <= 3_600_000 for reply in refused)

        # More accounts: the victim's own cap stops them all together.
        more, _ = await groups_until_refused(second, [victim.user], caps.groups_per_hour)
        rest, refused = await groups_until_refused(third, [victim.user], caps.groups_per_hour)
        assert len(made) + len(more) + len(rest) == caps.added_per_hour
        assert refused and {reply["code"] for reply in refused} == {"rate_limited"}
        alone = await call(third, t="group", name="no victim", members=[])
        assert alone["t"] == "ok", "the third account had groups left: the victim's cap refused it"

    assert any(
        record.getMessage().startswith(f"throttled user={one.user} request=group retry_ms=")
        for record in caplog.records
    ), "the operator sees the throttle"

    channels = await all_channels(victim.ws, node.config.limits.max_message_bytes)
    assert [entry["channel"] for entry in channels] == sorted([*made, *more, *rest])
    sent = await call(victim.ws, t="send", channel=made[0], body="leaving", cid=name("cid"))
    assert sent["t"] == "ok"
    assert (await call(victim.ws, t="leave", channel=made[0]))["t"] == "ok"


async def test_the_channels_of_a_user_come_in_pages_of_at_most_limit(victim: Party) -> None:
    made = []
    for attempt in range(7):
        reply = await call(victim.ws, t="group", name=f"mine {attempt}", members=[])
        made.append(reply["channel"])
    first = await call(victim.ws, t="channels", limit=3)
    assert [entry["channel"] for entry in first["channels"]] == made[:3] and first["more"]
    last = await call(victim.ws, t="channels", after=made[5], limit=3)
    assert [entry["channel"] for entry in last["channels"]] == made[6:] and not last["more"]
    assert (await call(victim.ws, t="channels", limit=0))["code"] == "bad_request"
    assert (await call(victim.ws, t="channels", limit=501))["code"] == "bad_request"


async def refused_with(ws: WebSocketConnection, code: str, **request: Any) -> None:
    reply = await call(ws, **request)
    assert (reply["t"], reply.get("code")) == ("err", code), reply
    assert set(reply) == {"t", "id", "code", "msg"}, "nothing but the code (and its text)"


async def test_a_blocked_user_cannot_put_the_blocker_in_a_channel_or_send_to_them(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chat.security")
    async with party(node, "alice") as alice, party(node, "mallory") as mallory, party(node, "bob") as bob:
        direct = (await call(mallory.ws, t="direct", user=alice.user))["channel"]
        # Sent before the block: the channel's actor is active and caches who may send.
        assert (await call(mallory.ws, t="send", channel=direct, body="hi", cid=name("cid")))["t"] == "ok"
        mine = (await call(mallory.ws, t="group", name="mallory's", members=[bob.user]))["channel"]

        assert (await call(alice.ws, t="block", user=mallory.user))["t"] == "ok"
        assert (await call(alice.ws, t="blocked"))["users"] == [mallory.user]
        await refused_with(mallory.ws, "blocked", t="direct", user=alice.user)
        security = [record.getMessage() for record in caplog.records if record.name == "chat.security"]
        assert security == [f"blocked_request user={mallory.user} request=direct"], "the operator sees it"
        await refused_with(mallory.ws, "blocked", t="group", name="again", members=[bob.user, alice.user])
        await refused_with(mallory.ws, "blocked", t="invite", channel=mine, users=[alice.user])
        await refused_with(mallory.ws, "blocked", t="send", channel=direct, body="hi?", cid=name("cid"))
        # A fresh actor for the channel reads the block from the store.
        node.services.passivate_channel(direct)
        await refused_with(mallory.ws, "blocked", t="send", channel=direct, body="hi??", cid=name("cid"))
        assert (await call(mallory.ws, t="blocked"))["users"] == [], "blocking is one way"

        # The one who blocks, and everyone else, go on as before.
        assert (await call(alice.ws, t="send", channel=direct, body="go away", cid=name("cid")))["t"] == "ok"
        both = await call(bob.ws, t="group", name="bob's", members=[alice.user, mallory.user])
        assert both["t"] == "ok", "only the blocked user's own requests are refused"
        (stranger,) = await fillers(node, 1)
        assert (await call(mallory.ws, t="invite", channel=mine, users=[stranger]))["t"] == "ok"
        page = await call(alice.ws, t="sync", channel=direct, after=0)
        assert [m["body"] for m in page["messages"]] == ["hi", "go away"], "nothing of the refused sends stored"

        assert (await call(alice.ws, t="unblock", user=mallory.user))["t"] == "ok"
        assert (await call(alice.ws, t="blocked"))["users"] == []
        sent = await call(mallory.ws, t="send", channel=direct, body="sorry", cid=name("cid"))
        assert sent["t"] == "ok" and sent["seq"] == 3
        assert (await call(mallory.ws, t="direct", user=alice.user))["channel"] == direct
        assert (await call(mallory.ws, t="invite", channel=mine, users=[alice.user]))["t"] == "ok"
        assert (await call(mallory.ws, t="group", name="again", members=[alice.user]))["t"] == "ok"


async def test_a_block_before_any_direct_channel_holds_from_the_first_request(node: Node) -> None:
    async with party(node, "alice") as alice, party(node, "mallory") as mallory:
        assert (await call(alice.ws, t="block", user=mallory.user))["t"] == "ok"
        assert (await call(alice.ws, t="block", user=mallory.user))["t"] == "ok", "again: no change"
        await refused_with(mallory.ws, "blocked", t="direct", user=alice.user)
        # Alice may still open it; Mallory still may not write in it.
        direct = (await call(alice.ws, t="direct", user=mallory.user))["channel"]
        await refused_with(mallory.ws, "blocked", t="send", channel=direct, body="hi", cid=name("cid"))


async def test_block_and_unblock_name_a_user_who_exists_and_is_not_oneself(node: Node, victim: Party) -> None:
    nobody = secrets.randbits(62) + 1
    await refused_with(victim.ws, "not_found", t="block", user=nobody)
    await refused_with(victim.ws, "not_found", t="unblock", user=nobody)
    await refused_with(victim.ws, "bad_request", t="block", user=victim.user)
    assert (await call(victim.ws, t="blocked"))["users"] == []
