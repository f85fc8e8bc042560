"""The actor runtime: bounded mailboxes, OTP supervision, virtual actors, ids.

It knows nothing about chat. Everything public is re-exported here; the
private modules are implementation.
"""

from ._actor import Actor, ActorRef, Stoppable
from ._child import Restart
from ._dynamic import DynamicSupervisor
from ._errors import (
    ActivationFailed,
    ActorCrashed,
    ActorDead,
    ActorError,
    AskTimeout,
    MailboxFull,
    SupervisorGaveUp,
    TooManyChildren,
)
from ._host import serve_actor, spawn_actor
from ._ids import IdGenerator, IdParts
from ._ref import LocalRef
from ._registry import Registry
from ._supervisor import ChildInfo, ChildSpec, Strategy, Supervisor
from ._timers import Timer, Timers
from ._view import EMPTY_VIEW, Member, MemberStatus, View

__all__ = [
    "ActivationFailed",
    "Actor",
    "ActorCrashed",
    "ActorDead",
    "ActorError",
    "ActorRef",
    "AskTimeout",
    "ChildInfo",
    "ChildSpec",
    "EMPTY_VIEW",
    "DynamicSupervisor",
    "IdGenerator",
    "IdParts",
    "LocalRef",
    "MailboxFull",
    "Member",
    "MemberStatus",
    "Registry",
    "Restart",
    "Stoppable",
    "Strategy",
    "Supervisor",
    "SupervisorGaveUp",
    "Timer",
    "Timers",
    "TooManyChildren",
    "View",
    "serve_actor",
    "spawn_actor",
]
