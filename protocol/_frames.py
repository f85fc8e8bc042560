"""Whole frames: encoding anything either side sends, decoding what a server sends.

The server decodes client frames in the session, whose state decides what a
frame means; the client's side of the wire is `decode_server_frame`, the one
decoder every client of this package uses.
"""

from __future__ import annotations

from collections.abc import Callable

from ._codec import pack_frame, unpack_frame
from ._errors import ErrorCode, FieldError, FrameError
from ._events import EVENT_TYPES, Event
from ._fields import Fields
from ._replies import Err, Ok, Reply
from ._requests import Request


def encode(frame: Request | Reply | Event) -> bytes:
    """The bytes of one binary WebSocket message holding `frame`.

    Frames are values, so the bytes of one event may be shared by every
    connection it goes to.
    """
    return pack_frame(frame._frame())


def decode_server_frame(
    data: bytes,
    request_of: Callable[[int], Request | None],
    *,
    lenient: bool = False,
) -> Reply | Event | None:
    """A reply or an event from a server, validated as strictly as the server
    validates a client: ids positive 63-bit, seqs and times not negative,
    strings of their lengths, pages in order.

    An `ok` carries no name of its result type, so `request_of` maps the id
    of a request in flight to that request: its `RESULT` says how to read the
    reply, and the request checks the result answers it (a `sync` page holds
    that channel's messages after `after`, ascending). An `ok` for an id with
    no request in flight (its caller gave up) comes back with a `result` of
    None, its fields unread.

    `lenient` is the rule for clients, which must keep working when a newer
    server adds to the contract: an event type this version does not know is
    skipped (None comes back), and an `err` code or a `bye` reason it does not
    know is kept as its string. Otherwise (a conformance test) these raise.
    Raises FrameError for anything that is not a valid frame.
    """
    f = Fields(unpack_frame(data, max_containers=None), lenient=lenient)
    try:
        t = f.text("t")
        if t == "ok":
            request_id = f.seq("id")
            request = request_of(request_id)
            return Ok(request_id, None if request is None else request._read_result(f))
        if t == "err":
            retry = f.seq("retry") if f.has("retry") else None
            err_id = f.seq("id") if f.has("id") else None
            return Err(err_id, f.known("code", ErrorCode), f.text("msg"), retry)
        if "id" in f:
            raise FrameError(f"a {t[:32]!r} frame with an id is neither a reply nor an event")
        event = EVENT_TYPES.get(t)
        if event is not None:
            return event._read(f)
    except FieldError as exc:
        raise FrameError(f"invalid server frame: {exc.msg}") from exc
    if lenient:
        return None
    raise FrameError(f"unknown server frame type {t[:32]!r}")
