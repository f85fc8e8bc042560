"""Creating an account, which needs a connection but no session."""

from __future__ import annotations

from ._connection import Connection


async def register(url: str, username: str, password: str, *, connect_timeout: float = 10.0) -> int:
    """Create an account on the node at `url`; returns its user id. Raises UsernameTaken."""
    async with Connection.open(url, connect_timeout=connect_timeout) as conn:
        return await conn.register(username, password)
