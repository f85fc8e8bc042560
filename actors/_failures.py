"""How a request handler says no: one exception the session turns into `err`."""

from __future__ import annotations

from protocol import ErrorCode


class RequestFailed(Exception):
    """The request is refused with a protocol error code; the connection stays."""

    def __init__(self, code: ErrorCode, message: str, *, retry_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_ms = retry_ms
