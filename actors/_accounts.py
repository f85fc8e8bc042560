"""Accounts, devices and tokens: the requests that need no actor.

Registration, login and token checks touch only the store, so a session
calls them directly instead of going through a UserActor, and a login storm
never queues behind chat traffic. Scrypt is CPU-bound: it runs on worker
threads, at most `kdf_threads` at a time, so a burst of logins cannot
starve the event loop or spawn a thread (and 16 MiB of scrypt table) each.
"""

from __future__ import annotations

from collections.abc import Callable

import trio
from attrs import frozen

from runtime import IdGenerator
from storage import (
    Device,
    Store,
    User,
    UsernameTaken,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from protocol import ErrorCode

from ._activity import ActivityLog
from ._failures import RequestFailed


@frozen
class Login:
    user: int
    device: int
    token: str


class Accounts:
    def __init__(
        self,
        store: Store,
        activity: ActivityLog,
        ids: IdGenerator,
        clock_ms: Callable[[], int],
        *,
        kdf_threads: int = 2,
    ) -> None:
        self._store = store
        self._activity = activity
        self._ids = ids
        self._clock_ms = clock_ms
        self._kdf = trio.CapacityLimiter(kdf_threads)
        # Checked against when the username is unknown, so that a failed
        # login costs the same whether or not the account exists.
        self._decoy_hash: bytes | None = None

    async def register(self, username: str, password: str) -> int:
        password_hash = await self._run_kdf(hash_password, password)
        user = User(
            user=self._ids.next_id(),
            username=username,
            password_hash=password_hash,
            created=self._clock_ms(),
        )
        try:
            await self._store.create_user(user)
        except UsernameTaken:
            raise RequestFailed(ErrorCode.USERNAME_TAKEN, "that username is taken") from None
        return user.user

    async def login(self, username: str, password: str, device_name: str) -> Login:
        user = await self._store.user_by_name(username)
        if user is None:
            await self._run_kdf(verify_password, password, await self._decoy())
            raise RequestFailed(ErrorCode.BAD_CREDENTIALS, "wrong username or password")
        if not await self._run_kdf(verify_password, password, user.password_hash):
            raise RequestFailed(ErrorCode.BAD_CREDENTIALS, "wrong username or password")
        now = self._clock_ms()
        token = new_token()
        device = Device(
            user=user.user, device=self._ids.next_id(), name=device_name, created=now, last_active=now
        )
        await self._store.add_device(device, token_hash(token))
        return Login(user=user.user, device=device.device, token=token)

    async def authenticate(self, token: str) -> Device:
        device = await self._store.device_by_token(token_hash(token))
        if device is None:
            raise RequestFailed(ErrorCode.BAD_TOKEN, "unknown or revoked token")
        self._activity.record(device.user, device.device, self._clock_ms())
        return device

    async def lookup(self, username: str) -> int:
        user = await self._store.user_by_name(username)
        if user is None:
            raise RequestFailed(ErrorCode.NOT_FOUND, "no such user")
        return user.user

    async def _decoy(self) -> bytes:
        if self._decoy_hash is None:
            self._decoy_hash = await self._run_kdf(hash_password, new_token())
        return self._decoy_hash

    async def _run_kdf(self, fn: Callable[..., object], *args: object):  # type: ignore[no-untyped-def]
        return await trio.to_thread.run_sync(fn, *args, limiter=self._kdf)
