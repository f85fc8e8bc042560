"""The runtime's errors: every way a send or a supervisor can fail, by name.

Callers catch these and nothing else, so a ref to an actor on another node
(which fails for network reasons) can raise the same ones later.
"""

from __future__ import annotations

from collections.abc import Hashable


class ActorError(Exception):
    """Base of the errors a ref raises."""

    def __init__(self, key: Hashable, text: str) -> None:
        super().__init__(text)
        self.key = key


class MailboxFull(ActorError):
    """`tell_nowait` found the mailbox at capacity (in messages, or in bytes
    when it has a byte budget); the message was not queued."""

    def __init__(self, key: Hashable, capacity: int, budget: int | None = None) -> None:
        limit = f"{capacity} messages" if budget is None else f"{capacity} messages or {budget} bytes"
        super().__init__(key, f"mailbox of actor {key!r} is full ({limit})")
        self.capacity = capacity
        self.budget = budget


class ActorDead(ActorError):
    """The actor is not running (stopped, or its home is not running): nothing was delivered,
    or a queued message was dropped when the actor stopped."""

    def __init__(self, key: Hashable) -> None:
        super().__init__(key, f"actor {key!r} is not running")


class ActivationFailed(ActorDead):
    """The actor could not start for this message: its `started()` raised
    `reason`, one of the errors its class declares transient (a store that is
    down), not a bug.

    Nothing was processed, and it counts as no crash: the next message
    activates a fresh instance. An `ActorDead`, so a caller for whom "not
    running now" already means "try again later" needs nothing more.
    """

    def __init__(self, key: Hashable, reason: BaseException) -> None:
        ActorError.__init__(self, key, f"actor {key!r} could not start: {reason!r}")
        self.reason = reason
        self.__cause__ = reason


class AskTimeout(ActorError, TimeoutError):
    """No reply within the timeout. The request may still be processed; its reply is dropped."""

    def __init__(self, key: Hashable, timeout: float) -> None:
        super().__init__(key, f"actor {key!r} did not reply within {timeout} s")
        self.timeout = timeout


class ActorCrashed(ActorError):
    """The actor instance that held the request crashed; `reason` is what it raised."""

    def __init__(self, key: Hashable, reason: BaseException) -> None:
        super().__init__(key, f"actor {key!r} crashed: {reason!r}")
        self.reason = reason
        self.__cause__ = reason


class SupervisorGaveUp(Exception):
    """Children crashed more than `intensity` times within `period` seconds.

    The supervisor (or registry) stopped everything it owned and raised this to its
    own parent, which treats it as a crash of that child: OTP's escalation.
    """

    def __init__(self, name: str, intensity: int, period: float) -> None:
        super().__init__(
            f"{name!r} gave up: more than {intensity} restarts within {period} s"
        )
        self.name = name


class TooManyChildren(Exception):
    """A dynamic supervisor is at its `max_children`; the child was not started."""

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"{name!r} already runs its maximum of {limit} children")
        self.name = name
