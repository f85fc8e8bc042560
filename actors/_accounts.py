"""Accounts, devices and tokens: the requests that need no actor.

Registration, login and token checks touch only the store, so a session
calls them directly instead of going through a UserActor, and a login storm
never queues behind chat traffic. Scrypt is CPU-bound: it runs on worker
threads, at most `kdf_threads` at a time, so a burst of logins cannot
starve the event loop or spawn a thread (and 64 MiB of scrypt table) each.

It is also the node's costliest work, so nothing reaches it unasked:
1. the throttles (`_throttle`) answer `rate_limited` with `retry` first;
2. then a bounded queue: at most `login_queue` logins wait for or run the
   KDF, and registrations have a smaller queue of their own; beyond it the
   answer is `unavailable` at once, not a wait no client would sit through.
   Registrations hash on at most one of the KDF threads, so however many
   arrive, logins keep the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import trio
from attrs import frozen

from protocol import ErrorCode
from runtime import IdGenerator
from storage import (
    Device,
    ScryptCost,
    Store,
    User,
    UsernameTaken,
    hash_password,
    new_token,
    password_cost,
    token_hash,
    verify_password,
)

from ._activity import ActivityLog
from ._failures import RequestFailed
from ._security import SecurityEvent, SecurityLog
from ._throttle import AccountThrottles, ThrottleRules

T = TypeVar("T")


@frozen(kw_only=True)
class AccountPolicy:
    """What accounts cost and how many of them anyone may ask for.

    `max_devices`: a login that would give an account more devices than this
    is refused with `bad_request`, saying so. Not `rate_limited` or
    `unavailable`: retrying never helps. Not `bad_credentials`: the password
    was right, and the cap is checked only after it verified, so it tells
    nothing to anyone without it. What the user can do is revoke a device
    they no longer use, from one that is signed in (`devices`, `revoke`),
    and log in again. Logins of one account racing each other may pass the
    count together; the per-username throttle keeps that to a few.
    """

    throttles: ThrottleRules = ThrottleRules()
    #: Hashes are made at this cost; one made at another is replaced at the next login.
    password_cost: ScryptCost = ScryptCost()
    kdf_threads: int = 2
    #: Logins waiting for or running the KDF at once (about 0.7 s of hashing
    #: on two threads at the default cost); more are `unavailable`.
    login_queue: int = 8
    register_queue: int = 4
    max_devices: int = 100


@frozen
class Login:
    user: int
    device: int
    token: str


class _KdfQueue:
    """One kind of request's way to the KDF threads: at most `size` inside at once."""

    def __init__(self, what: str, size: int, threads: trio.CapacityLimiter, lane: int | None = None) -> None:
        self._what = what
        self._size = size
        self._inside = 0
        self._threads = threads
        # Threads of `threads` this kind may hold at once; None: all of them.
        self._lane = None if lane is None else trio.CapacityLimiter(lane)

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Inside the queue for the block, or `unavailable` now when it is full."""
        if self._inside >= self._size:
            raise RequestFailed(ErrorCode.UNAVAILABLE, f"too many {self._what} in progress, retry shortly")
        self._inside += 1
        try:
            yield
        finally:
            self._inside -= 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._lane is None:
            return await trio.to_thread.run_sync(fn, *args, limiter=self._threads)
        async with self._lane:
            return await trio.to_thread.run_sync(fn, *args, limiter=self._threads)


class Accounts:
    def __init__(
        self,
        store: Store,
        activity: ActivityLog,
        ids: IdGenerator,
        clock_ms: Callable[[], int],
        security: SecurityLog,
        policy: AccountPolicy = AccountPolicy(),
    ) -> None:
        self._store = store
        self._activity = activity
        self._ids = ids
        self._clock_ms = clock_ms
        self._security = security
        self._policy = policy
        self._throttles = AccountThrottles(policy.throttles)
        threads = trio.CapacityLimiter(policy.kdf_threads)
        self._logins = _KdfQueue("logins", policy.login_queue, threads)
        self._registrations = _KdfQueue("registrations", policy.register_queue, threads, lane=1)
        # Checked against when the username is unknown, so that a failed
        # login costs the same whether or not the account exists.
        self._decoy_hash: bytes | None = None

    async def register(self, username: str, password: str, peer: str) -> int:
        self._admit(self._throttles.register(peer, trio.current_time()), "register", peer=peer)
        with self._registrations.admitted():
            password_hash = await self._registrations.run(hash_password, password, self._policy.password_cost)
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

    async def login(self, username: str, password: str, device_name: str, peer: str) -> Login:
        self._admit(self._throttles.login(username, peer, trio.current_time()), "login", username=username, peer=peer)
        with self._logins.admitted():
            user = await self._verified(username, password, peer)
        max_devices = self._policy.max_devices
        if await self._store.device_count(user.user) >= max_devices:
            raise RequestFailed(
                ErrorCode.BAD_REQUEST,
                f"this account has {max_devices} devices, the most it may have:"
                " revoke one from a device that is signed in, then log in again",
            )
        now = self._clock_ms()
        token = new_token()
        device = Device(
            user=user.user, device=self._ids.next_id(), name=device_name, created=now, last_active=now
        )
        await self._store.add_device(device, token_hash(token))
        return Login(user=user.user, device=device.device, token=token)

    async def _verified(self, username: str, password: str, peer: str) -> User:
        """The account, once `password` is its own; its hash renewed if made at another cost."""
        user = await self._store.user_by_name(username)
        stored = await self._decoy() if user is None else user.password_hash
        right = await self._logins.run(verify_password, password, stored)
        if user is None or not right:
            self._throttles.login_failed(username, peer, trio.current_time())
            self._security.record(SecurityEvent.FAILED_LOGIN, username=username, peer=peer)
            raise RequestFailed(ErrorCode.BAD_CREDENTIALS, "wrong username or password")
        self._throttles.login_succeeded(username)
        cost = self._policy.password_cost
        if password_cost(user.password_hash) != cost:
            rehashed = await self._logins.run(hash_password, password, cost)
            await self._store.set_password_hash(user, rehashed)
        return user

    def _admit(self, wait_ms: int, request: str, **fields: str) -> None:
        """Refuse the request with `rate_limited` if its throttle says wait."""
        if wait_ms:
            self._security.record(SecurityEvent.THROTTLED, request=request, **fields, retry_ms=wait_ms)
            raise RequestFailed(ErrorCode.RATE_LIMITED, f"too many {request} attempts, retry later", retry_ms=wait_ms)

    async def authenticate(self, token: str) -> Device:
        device = await self._store.device_by_token(token_hash(token))
        if device is None:
            raise RequestFailed(ErrorCode.BAD_TOKEN, "unknown or revoked token")
        self._activity.record(device.user, device.device, self._clock_ms())
        return device

    async def revoked(self, token: str) -> bool:
        """Whether the token no longer names a live device (asked again after an `auth`'s attach)."""
        return await self._store.device_by_token(token_hash(token)) is None

    async def lookup(self, username: str) -> int:
        user = await self._store.user_by_name(username)
        if user is None:
            raise RequestFailed(ErrorCode.NOT_FOUND, "no such user")
        return user.user

    async def _decoy(self) -> bytes:
        if self._decoy_hash is None:
            self._decoy_hash = await self._logins.run(hash_password, new_token(), self._policy.password_cost)
        return self._decoy_hash
