"""The chat itself: device sessions, users and channels as actors.

`Node` is one process's supervision tree; `actors.protocol` is the sans-IO
wire protocol it speaks. Nothing here knows which database is behind the
Store it is given.
"""

from ._node import Node, NodeConfig, wall_clock_ms

__all__ = ["Node", "NodeConfig", "wall_clock_ms"]
