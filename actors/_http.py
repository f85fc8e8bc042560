"""The listener's HTTP/1.1 driver: h11 reads each request, `_web` decides, this moves the bytes.

A connection's requests are read one head at a time, each within its
deadline (the gateway's handshake time-out, from the accept for the first
and from the previous answer for the next), with at most
`HttpLimits.max_head_bytes` of head buffered (h11's
`max_incomplete_event_size`: above it, 431). What `route` decides is written
within `HttpLimits.response_timeout`; a file is read in chunks in a worker
thread (at most `FILE_THREADS` at once for the whole node, so a burst of
downloads waits for its own threads and never for the store's or the
KDF's), and never more than its size at the open. A body is never read: a
request that has one is answered and the connection closed after it, as is
the `max_requests`th answer and any answer while the node drains.

The chat's opening handshake is the one request not answered here. h11
has already read its head, and trio-websocket takes a handshake only from
a stream (`wrap_server_stream`), so the head is written back (by h11, as it
parsed it) and replayed to trio-websocket (`Replayed`), and whatever
followed it on the wire (`trailing_data`) after that: wsproto then reads the
handshake as if it had been first to the socket, and answers it, with its
own checks of the handshake's headers.
"""

from __future__ import annotations

import email.utils
import http
import os
import stat
from collections.abc import Callable
from pathlib import Path

import h11
import trio
from attrs import frozen

from ._web import (
    NOT_BUILT,
    NOT_FOUND,
    Answer,
    FileFacts,
    HttpLimits,
    Lookup,
    OpenChat,
    Page,
    error_page,
    file_answer,
    has_body,
    is_within,
    route,
)

#: Bytes of a file read at once.
FILE_CHUNK = 64 * 1024

#: Worker threads the node's file reads use at most, all connections together.
FILE_THREADS = 4

#: Bytes read at once while waiting for a peer to close, dropped as they come.
DISCARD_CHUNK = 16 * 1024


@frozen
class Upgrade:
    """A request that opens the chat: its head as read, what followed it, and the deadline its handshake keeps."""

    head: bytes
    early: bytes
    deadline: float


@frozen
class Opened:
    """A file found under the web root, open for reading."""

    fd: int
    facts: FileFacts


class HttpServer:
    """Plain HTTP on the node's listener: the web client's files from `web_root` (None: none, `--no-web`)."""

    def __init__(
        self,
        web_root: Path | None,
        limits: HttpLimits,
        *,
        head_timeout: float,
        close_grace: float,
        draining: Callable[[], bool],
        vapid_key: bytes | None = None,
    ) -> None:
        self._root = web_root
        self._vapid_key = vapid_key
        self._limits = limits
        self._head_timeout = head_timeout
        self._close_grace = close_grace
        self._draining = draining
        self._threads = trio.CapacityLimiter(FILE_THREADS)

    async def serve(self, transport: trio.abc.Stream, deadline: float) -> Upgrade | None:
        """Answer requests until one opens the chat (its `Upgrade`), or the connection is done (None).

        The first head must be in by `deadline`. The caller closes the
        transport when this returns None.
        """
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.max_head_bytes)
        served = 0
        while True:
            read: h11.Request | Answer | None = None
            with trio.move_on_at(deadline):
                read = await _next_request(transport, connection, self._limits.max_head_bytes)
            if read is None:  # closed, or silent past the deadline: nothing to answer
                return None
            if isinstance(read, Answer):  # a head h11 refused: its error, then the end
                decision: Lookup | Answer = read
                close = True
            else:
                routed = route(read, web=self._root is not None, vapid_key=self._vapid_key)
                if isinstance(routed, OpenChat):
                    written_back = h11.Connection(h11.CLIENT).send(read)
                    assert written_back is not None
                    return Upgrade(written_back, connection.trailing_data[0], deadline)
                decision = routed
                served += 1
                close = served >= self._limits.max_requests or has_body(read) or self._draining()
            with trio.move_on_after(self._limits.response_timeout) as writing:
                whole = await self._answer(transport, connection, decision, close=close)
            if writing.cancelled_caught or not whole:
                return None
            if (connection.our_state, connection.their_state) != (h11.DONE, h11.DONE):
                with trio.move_on_after(self._close_grace):
                    await discard_until_closed(transport)
                return None
            connection.start_next_cycle()
            deadline = trio.current_time() + self._head_timeout

    async def _answer(
        self, transport: trio.abc.Stream, connection: h11.Connection, decision: Lookup | Answer, *, close: bool
    ) -> bool:
        """Write the answer `route` decided, looking up its file first; whether it went out whole."""
        if isinstance(decision, Answer):
            return await self._write(transport, connection, decision, close=close)
        assert self._root is not None  # route looks up files only when there is a root
        found = await trio.to_thread.run_sync(_open_within, self._root, decision.parts, limiter=self._threads)
        if isinstance(found, Page):
            return await self._write(transport, connection, found.answer(head=decision.head), close=close)
        try:
            return await self._write(transport, connection, file_answer(decision, found.facts), close=close, fd=found.fd)
        finally:
            os.close(found.fd)

    async def _write(
        self,
        transport: trio.abc.Stream,
        connection: h11.Connection,
        answer: Answer,
        *,
        close: bool,
        fd: int | None = None,
    ) -> bool:
        """Send `answer`, its content from `fd` if it has a file's; False if the file ended before its size."""
        headers = [*answer.headers, (b"date", email.utils.formatdate(usegmt=True).encode())]
        if close:
            headers.append((b"connection", b"close"))
        reason = http.HTTPStatus(answer.status).phrase.encode()
        await _send(transport, connection, h11.Response(status_code=answer.status, headers=headers, reason=reason))
        if answer.body:
            await _send(transport, connection, h11.Data(data=answer.body))
        left = answer.file_length
        while left:
            assert fd is not None
            chunk = await trio.to_thread.run_sync(os.read, fd, min(FILE_CHUNK, left), limiter=self._threads)
            if not chunk:  # the file shrank since it was opened (a rebuild): its length was a promise
                return False
            left -= len(chunk)
            await _send(transport, connection, h11.Data(data=chunk))
        await _send(transport, connection, h11.EndOfMessage())
        return True


async def _next_request(
    transport: trio.abc.Stream, connection: h11.Connection, read_size: int
) -> h11.Request | Answer | None:
    """The next request's head (its end of message taken too if it has no body); None if the peer closed.

    A head h11 refuses is answered with the error page h11 suggests (too
    large: 431, else 400).
    """
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await transport.receive_some(read_size))
            elif isinstance(event, h11.Request):
                if not has_body(event):
                    ended = connection.next_event()  # no body: h11 ends the message at once
                    assert isinstance(ended, h11.EndOfMessage), ended
                return event
            else:  # h11.ConnectionClosed
                return None
    except h11.RemoteProtocolError as error:
        return error_page(error.error_status_hint).answer(head=False)


async def _send(transport: trio.abc.Stream, connection: h11.Connection, event: h11.Event) -> None:
    data = connection.send(event)
    if data:
        await transport.send_all(data)


def _open_within(root: Path, parts: tuple[str, ...]) -> Opened | Page:
    """In a worker thread: open the regular file `parts` names under `root`, or say why not.

    Its real path (every symlink followed) must be under the root's, so a
    link in the root cannot lead a client out of it. O_NONBLOCK so a FIFO
    planted in the root is opened without waiting for a writer, then refused
    with everything else that is not a regular file.
    """
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        return NOT_BUILT
    path = os.path.realpath(os.path.join(real_root, *parts))
    if not is_within(real_root, path):
        return NOT_FOUND
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return NOT_FOUND
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        return NOT_FOUND
    return Opened(fd, FileFacts(status.st_size, status.st_mtime_ns))


async def discard_until_closed(stream: trio.abc.Stream) -> None:
    """End our side and read, dropping it, what the peer still sends until it closes; the caller bounds the wait.

    Closing with the peer's data unread would reset the connection, and a
    reset may discard an answer before the peer has read it. A TLS stream
    cannot half-close: its peer closes on `Connection: close`.
    """
    try:
        if isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
        while await stream.receive_some(DISCARD_CHUNK):
            pass
    except trio.BrokenResourceError:
        pass  # reset by the peer: nothing left to wait for


class Replayed(trio.abc.Stream):
    """The chat's opening handshake given back to trio-websocket, then the connection's own bytes.

    `head` is received first. `early` (what the client sent behind its head
    without waiting for the answer: RFC 6455 4.1 says it must wait, and
    some clients do not) only once the handshake's answer has been sent:
    wsproto's server starts the WebSocket without the bytes its h11 read past
    the head, so given with the head they would be lost.
    """

    __slots__ = ("_transport", "_head", "_early", "_answered")

    def __init__(self, transport: trio.abc.Stream, head: bytes, early: bytes) -> None:
        self._transport = transport
        self._head = head
        self._early = early
        self._answered = trio.Event() if early else None

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._head:
            chunk, self._head = _split(self._head, max_bytes)
            await trio.lowlevel.checkpoint()
            return chunk
        if self._early:
            assert self._answered is not None
            await self._answered.wait()
            chunk, self._early = _split(self._early, max_bytes)
            return chunk
        return await self._transport.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._transport.send_all(data)
        if self._answered is not None:
            self._answered.set()

    async def wait_send_all_might_not_block(self) -> None:
        await self._transport.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._transport.aclose()


def _split(data: bytes, size: int | None) -> tuple[bytes, bytes]:
    if size is None:
        return data, b""
    return data[:size], data[size:]
