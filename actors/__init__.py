"""The chat itself: device sessions, users and channels as actors.

`Node` is one process's supervision tree; it speaks the top-level
`protocol` package's wire contract. Nothing here knows which database is behind the
Store it is given.
"""

from ._accounts import AccountPolicy
from ._gateway import server_tls_context
from ._node import Node, NodeConfig, wall_clock_ms
from ._throttle import Rule, ThrottleRules
from ._web import HttpLimits

__all__ = [
    "AccountPolicy",
    "HttpLimits",
    "Node",
    "NodeConfig",
    "Rule",
    "ThrottleRules",
    "server_tls_context",
    "wall_clock_ms",
]
