"""UserActor: where a user's live devices are.

Channels fan out to users, never to devices, so a channel's work per message
is the member count whatever the devices; the user turns it into one frame
per live session. Delivery never waits: a session whose outbound queue is
full is cut off as a slow consumer by its own mailbox policy, and recovers
with `sync` when it reconnects.
"""

from __future__ import annotations

import logging

from runtime import Actor, ActorRef

from ._messages import Attach, Deliver, Detach, DeviceRevoked, Disconnect, Outgoing
from ._services import Services

log = logging.getLogger(__name__)


class UserActor(Actor):
    __slots__ = ("_id", "_services", "_sessions")

    def __init__(self, user_id: int, services: Services) -> None:
        self._id = user_id
        self._services = services
        # session ref -> its device. One device may hold several connections
        # (a reconnect racing the old socket's close); each gets every frame.
        self._sessions: dict[ActorRef, int] = {}

    def idle(self) -> bool:
        """Passivate only when no device is live: they are the state."""
        return not self._sessions

    async def receive(self, message: object) -> object:
        if isinstance(message, Deliver):
            self._deliver(message)
        elif isinstance(message, Attach):
            self._sessions[message.session] = message.device
        elif isinstance(message, Detach):
            self._sessions.pop(message.session, None)
        elif isinstance(message, DeviceRevoked):
            for session, device in list(self._sessions.items()):
                if device == message.device:
                    self._services.tell_session(session, Disconnect("revoked"))
        else:
            raise TypeError(f"user actor got {message!r}")
        return None

    def _deliver(self, deliver: Deliver) -> None:
        outgoing = Outgoing(deliver.frame)
        for session, device in list(self._sessions.items()):
            if device != deliver.except_device:
                if not self._services.tell_session(session, outgoing):
                    del self._sessions[session]
