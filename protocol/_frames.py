"""Whole frames: encoding anything we send, decoding what a server sends.

The server side decodes client frames in the session, whose state decides
what a frame means; this module is the part both sides share.
"""

from __future__ import annotations

from collections.abc import Callable

from ._codec import pack_frame, unpack_frame
from ._errors import ErrorCode, FieldError, FrameError
from ._events import EVENT_TYPES, Event
from ._fields import Fields
from ._replies import Err, Ok, Reply, Result
from ._requests import Request


def encode(frame: Request | Reply | Event) -> bytes:
    """The bytes of one binary WebSocket message holding `frame`.

    Frames are values, so the bytes of one event may be shared by every
    connection it goes to.
    """
    return pack_frame(frame._frame())


def decode_server_frame(
    data: bytes, result_of: Callable[[int], type[Result] | None]
) -> Reply | Event:
    """A reply or an event from a server, validated like any peer's input.

    An `ok` carries no name of its result type, so `result_of` maps the id
    of a request in flight to the result type of that request (its class's
    `RESULT`). Raises FrameError for anything that is not a valid frame.
    """
    f = Fields(unpack_frame(data, max_containers=None))
    try:
        t = f.text("t")
        if t == "ok":
            request_id = f.seq("id")
            result = result_of(request_id)
            return Ok(request_id, None if result is None else result._read(f))
        if t == "err":
            retry = f.seq("retry") if f.has("retry") else None
            err_id = f.seq("id") if f.has("id") else None
            return Err(err_id, f.enum("code", ErrorCode), f.text("msg"), retry)
        if t in EVENT_TYPES:
            return EVENT_TYPES[t]._read(f)
    except FieldError as exc:
        raise FrameError(f"invalid server frame: {exc.msg}") from exc
    raise FrameError(f"unknown server frame type {t!r}")
