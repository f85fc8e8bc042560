"""Accounts for the simulated devices, made before any timing starts.

Every device of a scenario is a user of its own with one device: the most
a node can be asked to hold per device (its own user actor each), and no
scenario gets cheaper by sharing users.

Making them through the protocol costs two scrypt runs each (register,
login; ~50 ms each, two at a time on the node), which is minutes for the
10,000 devices of the idle scenario. So when the bench runs the node itself
it writes the very rows `register` and `login` would write, through the
Store API, with one password hash shared by all (`StoreSeeder`); against a
node given by URL it has no store and goes through the protocol
(`WireSignup`). Neither is timed; logging in is not what any scenario
measures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio
from attrs import field, frozen

from client import Connection
from runtime import IdGenerator
from storage import Device, User, hash_password, new_token, token_hash
from storage.config import StoreConfig, open_store

PASSWORD = "chatbench-password"
DEVICE_NAME = "chatbench"

#: The node id in the ids the seeder makes: the bench's own node is 1, and an
#: id space of its own keeps seeded users and devices from ever colliding with ids the node makes.
SEED_NODE_ID = 1023

SEED_CONCURRENCY = 32
SIGNUP_CONCURRENCY = 4  # the node hashes two passwords at a time; more only queues

Progress = Callable[[int, int], None]


@frozen
class Account:
    """A user with one device, and that device's token."""

    user: int
    username: str
    token: str = field(repr=False)


def _usernames(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


class StoreSeeder:
    """Writes accounts straight into the store of a node the bench runs (while it is stopped)."""

    def __init__(self, config: StoreConfig, prefix: str) -> None:
        self._config = config
        self._prefix = prefix
        self._ids = IdGenerator(SEED_NODE_ID)
        self._hash: bytes | None = None

    def accounts(self, count: int, label: str, progress: Progress) -> list[Account]:
        return trio.run(self._seed, _usernames(f"{self._prefix}{label}", count), progress)

    async def _seed(self, names: list[str], progress: Progress) -> list[Account]:
        if self._hash is None:
            self._hash = await trio.to_thread.run_sync(hash_password, PASSWORD)
        password_hash = self._hash
        store = await open_store(self._config)
        accounts: list[Account | None] = [None] * len(names)
        limiter = trio.CapacityLimiter(SEED_CONCURRENCY)
        done = 0

        async def seed(index: int) -> None:
            nonlocal done
            now = time.time_ns() // 1_000_000
            user = User(self._ids.next_id(), names[index], password_hash, now)
            device = Device(user.user, self._ids.next_id(), DEVICE_NAME, now, now)
            token = new_token()
            async with limiter:
                await store.create_user(user)
                await store.add_device(device, token_hash(token))
            accounts[index] = Account(user.user, user.username, token)
            done += 1
            progress(done, len(names))

        try:
            async with trio.open_nursery() as nursery:
                for index in range(len(names)):
                    nursery.start_soon(seed, index)
        finally:
            await store.aclose()
        return [account for account in accounts if account is not None]


class WireSignup:
    """Registers and logs in through the protocol, for a node the bench did not start."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix

    def accounts(self, count: int, label: str, progress: Progress) -> list[Account]:
        return trio.run(self._signup, _usernames(f"{self._prefix}{label}", count), progress)

    async def _signup(self, names: list[str], progress: Progress) -> list[Account]:
        accounts: list[Account | None] = [None] * len(names)
        limiter = trio.CapacityLimiter(SIGNUP_CONCURRENCY)
        done = 0

        async def signup(index: int) -> None:
            nonlocal done
            async with limiter, Connection.open(self._url) as conn:
                await conn.register(names[index], PASSWORD)
                credentials = await conn.login(names[index], PASSWORD, DEVICE_NAME)
            accounts[index] = Account(credentials.user, names[index], credentials.token)
            done += 1
            progress(done, len(names))

        async with trio.open_nursery() as nursery:
            for index in range(len(names)):
                nursery.start_soon(signup, index)
        return [account for account in accounts if account is not None]


AccountSource = StoreSeeder | WireSignup
