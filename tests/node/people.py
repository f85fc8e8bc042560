"""Accounts and devices on a running node, through the client library."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from attrs import frozen

from client import Connection, LoginResult, ServerEvent
from client import Message as ClientMessage

PASSWORD = "correct horse battery"


def username(prefix: str = "user") -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@frozen
class Person:
    user: int
    username: str


async def sign_up(url: str, prefix: str = "user") -> Person:
    name = username(prefix)
    async with Connection.open(url) as conn:
        return Person(await conn.register(name, PASSWORD), name)


async def new_device(url: str, person: Person, name: str = "phone") -> LoginResult:
    async with Connection.open(url) as conn:
        return await conn.login(person.username, PASSWORD, name)


@asynccontextmanager
async def online(url: str, credentials: LoginResult, *, heartbeat: bool = False) -> AsyncIterator[Connection]:
    """An authenticated connection of this device, pinging on schedule if `heartbeat`."""
    async with Connection.open(url) as conn:
        session = await conn.auth(credentials.token)
        if not heartbeat:
            yield conn
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_ping_every, conn, session.heartbeat)
            yield conn
            nursery.cancel_scope.cancel()


async def _ping_every(conn: Connection, seconds: float) -> None:
    while not conn.closed:
        await trio.sleep(seconds)
        await conn.ping()


async def next_event(conn: Connection, kind: type, timeout: float = 10.0) -> ServerEvent:
    """The next event of `kind`, skipping others."""
    with trio.fail_after(timeout):
        async for event in conn.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"connection ended before a {kind.__name__}")


async def messages(conn: Connection, count: int, timeout: float = 10.0) -> list[ClientMessage]:
    """The next `count` msg events."""
    return [await next_event(conn, ClientMessage, timeout) for _ in range(count)]  # type: ignore[misc]


def queued_events(conn: Connection) -> list[ServerEvent]:
    """Take every event that has arrived by now, without waiting."""
    queued = []
    while True:
        try:
            queued.append(conn.events().receive_nowait())
        except trio.WouldBlock:
            return queued
