"""The security log: what an operator needs to see an attack, never a secret.

Attacks come in floods: a password guesser makes thousands of failed
logins, a hostile client thousands of oversized frames. One line per event
would bury the log and slow the node for everyone, which is the attacker's
aim; no line at all leaves the operator blind. So each kind of event is
logged at most once per `interval` seconds, and that line says how many of
its kind were left out since the last one.

Fields are the caller's to choose but never a password, token or push key:
user ids, usernames, peer addresses, sizes and codes only.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable

from attrs import define, field

log = logging.getLogger("chat.security")


class SecurityEvent(enum.Enum):
    FAILED_LOGIN = "failed_login"
    THROTTLED = "throttled"  # a login, register, group or send refused by its throttle
    OVERSIZED_FRAME = "oversized_frame"
    MALFORMED_FRAME = "malformed_frame"
    SLOW_CONSUMER = "slow_consumer"
    BLOCKED_REQUEST = "blocked_request"
    CONNECTION_REFUSED = "connection_refused"  # a per-IP, per-device or per-node cap
    AUTH_TIMEOUT = "auth_timeout"
    REVOKED_SESSION = "revoked_session"


@define
class _Kind:
    logged_at: float = -math.inf
    suppressed: int = 0


@define
class SecurityLog:
    """Rate-limited security lines, one budget per event kind."""

    interval: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _kinds: dict[SecurityEvent, _Kind] = field(init=False, factory=dict)

    def record(self, event: SecurityEvent, **fields: object) -> None:
        """Log `event` with `fields` unless its kind was logged less than `interval` ago."""
        kind = self._kinds.setdefault(event, _Kind())
        now = self.clock()
        if now - kind.logged_at < self.interval:
            kind.suppressed += 1
            return
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        more = f" (+{kind.suppressed} more since the last line)" if kind.suppressed else ""
        log.warning("%s %s%s", event.value, details, more)
        kind.logged_at, kind.suppressed = now, 0
