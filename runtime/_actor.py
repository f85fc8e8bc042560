"""What callers see of an actor: the `Actor` base class and the abstract `ActorRef`.

A ref is the only way to reach an actor. Callers depend on `ActorRef`, never on
where the actor runs, so a ref to an actor on another node can replace a local
one without changing any caller.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._errors import ActorError


class Actor:
    """One instance processes one message at a time, so its state needs no locks.

    Subclass per actor kind (with `__slots__`, to keep idle actors small). An
    exception escaping `started` or `receive` is a crash: the instance is dropped
    and whoever waits on it hears `ActorCrashed`. Cancellation is never a crash.
    Nor is a `transient_errors` exception from `started` in a registry: see there.
    """

    __slots__ = ()

    #: Exceptions of `started()` that say "not now" rather than "bug": the
    #: store it loads from is down, say. A registry answers the mail waiting
    #: on such an activation with `ActivationFailed` and counts no crash, so
    #: an outage of what the actor depends on never exhausts the registry's
    #: restart intensity; the next message simply tries again. (Nothing to do
    #: with `Restart.TRANSIENT`, a supervisor's restart type.)
    transient_errors: ClassVar[tuple[type[Exception], ...]] = ()

    async def started(self) -> None:
        """Initialise before the first message; a ref's sender never waits on a half-built actor."""

    @abc.abstractmethod
    async def receive(self, message: object) -> object:
        """Handle one message. The return value is the reply to an `ask` (ignored for `tell`)."""

    async def drained(self) -> None:
        """Finish work batched across messages: the mailbox just ran empty, or
        the worker is about to stop working on this actor (before `stopping`).

        Awaited only after at least one message since the last call, and only
        for actors that override it: one store write can then answer every
        request that queued up while the previous write was in flight.
        """

    async def stopping(self) -> None:
        """Clean up on passivation or graceful stop (not after a crash, not on cancellation)."""

    def undelivered(self, message: object, error: ActorError) -> None:
        """A tell queued for this instance will never be received: the
        instance failed to start, crashed or was stopped first (`error`).

        Asks hear `error` themselves, a tell's sender does not: an actor whose
        senders wait for an answer by other means (a reply sent to a ref in
        the message) answers here. Synchronous, and it must not raise: it
        runs while the mailbox is being torn down. Default: nothing.
        """

    def may_passivate(self) -> bool:
        """Whether a registry may passivate this idle instance now (default: yes).

        Say no while holding state that cannot be rebuilt from storage; the
        registry asks again the next time the instance goes idle.
        """
        return True


class ActorRef(abc.ABC):
    """An address: equal refs reach the same actor. Messages must be attrs instances."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def key(self) -> Hashable:
        """The actor's identity, e.g. ``("user", 42)``."""

    @property
    @abc.abstractmethod
    def alive(self) -> bool:
        """Whether a message sent now can be delivered."""

    @abc.abstractmethod
    async def tell(self, message: object) -> None:
        """Queue `message`, waiting while the mailbox is full. Raises `ActorDead`."""

    @abc.abstractmethod
    def tell_nowait(self, message: object) -> None:
        """Queue `message` now or raise `MailboxFull`; never waits. Raises `ActorDead`."""

    @abc.abstractmethod
    async def ask(self, message: object, timeout: float) -> object:
        """Send `message` and return what `receive` returned for it.

        Raises `AskTimeout` after `timeout` seconds (covering any wait for mailbox
        space), `ActorDead`, or `ActorCrashed` if the instance crashed first.
        """


@runtime_checkable
class Stoppable(Protocol):
    """A child that can stop gracefully: hand one to `task_status.started()`.

    A supervisor stopping such a child calls `request_stop()`, waits up to the
    child's shutdown timeout, and only then cancels it. Children that hand over
    anything else are stopped by cancellation straight away.
    """

    def request_stop(self) -> None: ...
