"""What every chat actor of a node shares: the store, the registries, the limits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from attrs import frozen

from runtime import ActorDead, ActorRef, MailboxFull, Registry
from storage import Store

from ._failures import RequestFailed
from .protocol import ErrorCode, Limits

log = logging.getLogger(__name__)


@frozen
class Services:
    store: Store
    limits: Limits
    clock_ms: Callable[[], int]
    users: Registry
    channels: Registry

    def tell_session(self, session: ActorRef, message: object) -> bool:
        """Hand a frame to a session without waiting; False if it is gone.

        A full session mailbox is that session's problem, not the sender's:
        its overflow policy closes it as a slow consumer, and the device
        catches up with `sync` after it reconnects.
        """
        try:
            session.tell_nowait(message)
        except MailboxFull:
            return True
        except ActorDead:
            return False
        return True

    def deliver(self, users: Iterable[int], message: object) -> None:
        """Fan a message out to users' actors without ever waiting on one."""
        for user in users:
            try:
                self.users.ref(("user", user)).tell_nowait(message)
            except MailboxFull:
                # Its devices see a seq gap and fill it with `sync`.
                log.warning("user %d: mailbox full, dropped a delivery", user)

    async def require_users(self, users: Iterable[int]) -> None:
        for user in users:
            if await self.store.get_user(user) is None:
                raise RequestFailed(ErrorCode.NOT_FOUND, f"no user {user}")
