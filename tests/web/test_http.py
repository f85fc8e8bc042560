"""The node's one port speaks HTTP too: the web client's files, the headers, the refusals, the bounds.

Real nodes on real sockets; requests are written and answers read with h11
as a client, or as raw bytes where a client would refuse to send them.
Plain HTTP does not touch the store, so those tests run on the embedded
store only; the WebSocket beside the files runs on both.
"""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import h11
import msgpack
import pytest
import trio
from attrs import frozen
from trio_websocket import open_websocket_url, wrap_client_stream
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage
from wsproto.events import Request as WsRequest

from actors import HttpLimits, Node, NodeConfig, server_tls_context
from actors._web import CONTENT_SECURITY_POLICY, RESOURCE
from storage import EmbeddedStore, Store

from ..conftest import OpenStore
from ..node.conftest import running_node
from ..node.raw import call, sign_up
from ..operator.chatnode import REPO, serving
from ..tls import self_signed

#: What a web root holds in these tests: each kind of file the web client has.
#: The bundle is several read chunks long, so it is served in pieces.
FILES = {
    "index.html": b'<!doctype html><title>chat</title><script type="module" src="/assets/app-1a2b3c.js"></script>',
    "sw.js": b"self.addEventListener('push', (event) => {});\n",
    "manifest.webmanifest": b'{"name": "chat", "start_url": "/"}',
    "favicon.ico": bytes(range(256)),
    "vectors.json": b'{"ids": ["1", "9007199254740993"]}',
    "icons/icon.svg": b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>',
    "icons/icon-192.png": b"\x89PNG\r\n\x1a\n" + bytes(200),
    "assets/app-1a2b3c.js": b"".join(b"console.log(%d);\n" % n for n in range(20_000)),
    "assets/app-1a2b3c.css": b"body { margin: 0 }\n",
    "assets/inter-4d5e6f.woff2": b"wOF2" + bytes(100),
}

CONTENT_TYPES = {
    "index.html": b"text/html; charset=utf-8",
    "sw.js": b"text/javascript; charset=utf-8",
    "manifest.webmanifest": b"application/manifest+json",
    "favicon.ico": b"image/x-icon",
    "vectors.json": b"application/json",
    "icons/icon.svg": b"image/svg+xml",
    "icons/icon-192.png": b"image/png",
    "assets/app-1a2b3c.js": b"text/javascript; charset=utf-8",
    "assets/app-1a2b3c.css": b"text/css; charset=utf-8",
    "assets/inter-4d5e6f.woff2": b"font/woff2",
}

#: In a file beside the web root: no answer may ever contain it.
SECRET = b"secret-outside-the-web-root"


def build_web_root(directory: Path) -> Path:
    """A web root in `directory/dist`, with a secret beside it and links and a FIFO in it."""
    root = directory / "dist"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (directory / "setup.cfg").write_bytes(SECRET)
    (directory / "private").mkdir()
    (directory / "private" / "key.pem").write_bytes(SECRET)
    (root / "escape.txt").symlink_to(directory / "setup.cfg")
    (root / "outside").symlink_to(directory / "private")
    (root / "start.html").symlink_to(root / "index.html")  # a link that stays inside is served
    os.mkfifo(root / "pipe.js")
    return root


# -- a client ---------------------------------------------------------------------------


@frozen
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class Client:
    """One HTTP/1.1 connection to a node, spoken with h11 as a client."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.http = h11.Connection(h11.CLIENT)

    @classmethod
    async def to(cls, node: Node, tls: ssl.SSLContext | None = None) -> Client:
        assert node.gateway.port is not None
        stream: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", node.gateway.port)
        if tls is not None:
            stream = trio.SSLStream(stream, tls, server_hostname="127.0.0.1", https_compatible=True)
        return cls(stream)

    async def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes | None = None
    ) -> Reply:
        """Send a request (its whole body, or with `body` None none at all) and read the answer."""
        framing = [] if body is None else [("Content-Length", str(len(body)))]
        await self.send(h11.Request(method=method, target=target, headers=[("Host", "127.0.0.1"), *framing, *headers]))
        if body is not None:
            await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())
        return await self.answer()

    async def get(self, target: str, *headers: tuple[str, str]) -> Reply:
        return await self.request("GET", target, headers)

    async def send(self, event: h11.Event) -> None:
        data = self.http.send(event)
        if data:
            await self.stream.send_all(data)

    async def answer(self) -> Reply:
        """The next answer, whole; the connection ready for the next request if both sides keep it."""
        response, body = None, b""
        with trio.fail_after(10):
            while True:
                event = self.http.next_event()
                if event is h11.NEED_DATA:
                    self.http.receive_data(await self.stream.receive_some())
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    raise AssertionError(f"unexpected {event!r}")
        assert response is not None
        if (self.http.our_state, self.http.their_state) == (h11.DONE, h11.DONE):
            self.http.start_next_cycle()
        headers: dict[bytes, bytes] = {}
        for name, value in response.headers:
            assert name not in headers, f"{name!r} twice"
            headers[name] = value
        return Reply(response.status_code, headers, body)

    async def closed_by_the_node(self) -> bool:
        """Whether the node ends the connection (reading, and dropping, anything before the end)."""
        with trio.fail_after(10):
            try:
                while await self.stream.receive_some():
                    pass
            except trio.BrokenResourceError:
                pass  # a reset is an end too
        return True

    async def aclose(self) -> None:
        await self.stream.aclose()


async def raw_exchange(node: Node, request: bytes) -> bytes:
    """Send bytes no client library would, half-close, and read everything until the node closes."""
    assert node.gateway.port is not None
    async with await trio.open_tcp_stream("127.0.0.1", node.gateway.port) as stream:
        await stream.send_all(request)
        await stream.send_eof()
        received = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some():
                received += chunk
    return received


def embedded(directory: Path) -> OpenStore:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[Store]:
        store = await EmbeddedStore.open(directory / f"chat-{secrets.token_hex(4)}.db")
        try:
            yield store
        finally:
            await store.aclose()

    return open_store


@asynccontextmanager
async def web_node(tmp_path: Path, **config: object) -> AsyncIterator[Node]:
    """A node on the embedded store serving `build_web_root(tmp_path)` unless `config` says otherwise."""
    config.setdefault("web_root", build_web_root(tmp_path))
    async with running_node(embedded(tmp_path), **config) as node:
        yield node


# -- the files ---------------------------------------------------------------------------


async def test_each_file_is_served_whole_with_its_content_type(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        for name, content in FILES.items():
            reply = await client.get(f"/{name}")  # one kept-alive connection for them all
            assert reply.status == 200, (name, reply)
            assert reply.body == content, name
            assert reply.headers[b"content-type"] == CONTENT_TYPES[name], name
            assert reply.headers[b"content-length"] == b"%d" % len(content)
        index = await client.get("/")
        assert index.body == FILES["index.html"] and index.headers[b"content-type"] == b"text/html; charset=utf-8"
        assert (await client.get("/start.html")).body == FILES["index.html"]
        assert (await client.get("/index.html?utm=x")).body == FILES["index.html"]
        await client.aclose()


async def test_every_answer_carries_the_csp_and_the_security_headers(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        replies = [
            await client.get("/"),
            await client.get("/assets/app-1a2b3c.js"),
            await client.get("/icons/icon.svg"),
            await client.get("/missing.html"),
            await client.get(RESOURCE),
            await client.request("DELETE", "/"),
        ]
        assert [reply.status for reply in replies] == [200, 200, 200, 404, 426, 405]
        for reply in replies:
            assert reply.headers[b"content-security-policy"] == CONTENT_SECURITY_POLICY
            assert reply.headers[b"x-content-type-options"] == b"nosniff"
            assert reply.headers[b"referrer-policy"] == b"no-referrer"
            assert reply.headers[b"cross-origin-opener-policy"] == b"same-origin"
            assert b"date" in reply.headers
        assert CONTENT_SECURITY_POLICY == (
            b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            b"font-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; "
            b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
            b"require-trusted-types-for 'script'; trusted-types chat-worker"
        )
        await client.aclose()


async def test_hashed_assets_are_cached_for_a_year_and_the_rest_revalidated(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        for name in FILES:
            expected = b"public, max-age=31536000, immutable" if name.startswith("assets/") else b"no-cache"
            assert (await client.get(f"/{name}")).headers[b"cache-control"] == expected, name
        assert (await client.get("/")).headers[b"cache-control"] == b"no-cache"
        assert (await client.get("/assets/missing.js")).headers[b"cache-control"] == b"no-store"
        await client.aclose()


async def test_an_etag_revalidates_to_304_until_the_file_changes(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        first = await client.get("/sw.js")
        tag = first.headers[b"etag"].decode()
        assert tag.startswith('"') and tag.endswith('"')
        for if_none_match in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            unchanged = await client.get("/sw.js", ("If-None-Match", if_none_match))
            assert unchanged.status == 304 and unchanged.body == b"", if_none_match
            assert unchanged.headers[b"etag"] == first.headers[b"etag"]
            assert unchanged.headers[b"cache-control"] == b"no-cache"
            assert unchanged.headers[b"content-security-policy"] == CONTENT_SECURITY_POLICY
        assert (await client.get("/sw.js", ("If-None-Match", '"other"'))).status == 200
        assert node.config.web_root is not None
        (node.config.web_root / "sw.js").write_bytes(b"// a new build\n")
        rebuilt = await client.get("/sw.js", ("If-None-Match", tag))
        assert rebuilt.status == 200 and rebuilt.body == b"// a new build\n"
        assert rebuilt.headers[b"etag"] != first.headers[b"etag"]
        await client.aclose()


async def test_head_answers_the_same_headers_without_a_body(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        for target in ("/", "/assets/app-1a2b3c.js", "/missing", RESOURCE):
            get = await client.get(target)
            head = await client.request("HEAD", target)
            assert head.status == get.status and head.body == b"", target
            assert {**head.headers, b"date": b""} == {**get.headers, b"date": b""}, target
        # Had a HEAD answer held a body, h11 would have read it as the next answer's start.
        assert (await client.get("/vectors.json")).body == FILES["vectors.json"]
        await client.aclose()


async def test_unknown_paths_and_directories_are_404(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        for target in ("/missing.html", "/assets", "/assets/", "/icons", "/index.html/x", "/pipe.js"):
            reply = await client.get(target)
            assert reply.status == 404, target
            assert reply.body == b"not found\n" and reply.headers[b"content-type"] == b"text/plain; charset=utf-8"
        await client.aclose()


#: Each way out of the web root; the FIFO in it and hidden files too.
TRAVERSALS = [
    "/../setup.cfg",
    "/assets/../../setup.cfg",
    "/%2e%2e/setup.cfg",
    "/%2E%2E/%2e%2E/setup.cfg",
    "/.%2e/setup.cfg",
    "/..%2fsetup.cfg",
    "/assets%2f..%2f..%2fsetup.cfg",
    "/%252e%252e/setup.cfg",
    "/..\\setup.cfg",
    "/..%5csetup.cfg",
    "/assets\\..\\..\\setup.cfg",
    "/index.html%00.png",
    "/%00",
    "//setup.cfg",
    "/escape.txt",
    "/outside/key.pem",
    "/outside/../setup.cfg",
    "/.hidden",
    "http://127.0.0.1/../setup.cfg",
    "http://127.0.0.1/%2e%2e/setup.cfg",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_a_path_leading_out_of_the_web_root_is_refused(target: str, tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        (node.config.web_root / ".hidden").write_bytes(SECRET)  # type: ignore[operator]
        client = await Client.to(node)
        reply = await client.get(target)
        assert reply.status == 404, reply
        assert SECRET not in reply.body
        assert (await client.get("/")).status == 200  # refused, and the connection goes on
        await client.aclose()


async def test_a_nul_in_the_target_is_a_bad_request_and_the_end_of_the_connection(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        answer = await raw_exchange(node, b"GET /../setup.cfg\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert SECRET not in answer and b"connection: close" in answer.lower()


# -- methods, the chat's endpoint -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_methods_other_than_get_and_head_are_405_with_allow(method: str, tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        reply = await client.request(method, "/index.html")
        assert reply.status == 405 and reply.headers[b"allow"] == b"GET, HEAD"
        assert (await client.get("/")).status == 200  # a bodiless refusal keeps the connection
        await client.aclose()


async def test_a_request_body_is_never_read_the_answer_comes_and_the_connection_ends(tmp_path: Path) -> None:
    """A POST announcing a gigabyte gets its 405 at once, with `Connection: close`,
    though only ten bytes of the body were sent; so does a GET with a body."""
    async with web_node(tmp_path) as node:
        for method, target, status in (("POST", "/", 405), ("GET", "/vectors.json", 200)):
            client = await Client.to(node)
            headers = [("Host", "127.0.0.1"), ("Content-Length", str(10**9))]
            await client.send(h11.Request(method=method, target=target, headers=headers))
            await client.send(h11.Data(data=b"0123456789"))
            reply = await client.answer()
            assert reply.status == status and reply.headers[b"connection"] == b"close"
            assert await client.closed_by_the_node()
            await client.aclose()


async def test_a_plain_request_to_v1_is_426_and_the_upgrade_there_opens_the_chat(
    open_store: OpenStore, tmp_path: Path
) -> None:
    async with running_node(open_store, web_root=build_web_root(tmp_path)) as node:
        client = await Client.to(node)
        refused = await client.get(RESOURCE)
        assert refused.status == 426
        assert refused.headers[b"upgrade"] == b"websocket"
        assert b"upgrade" in refused.headers[b"connection"].split(b", ")
        assert (await client.get("/")).body == FILES["index.html"]
        await client.aclose()
        async with open_websocket_url(node.url) as ws:
            await sign_up(ws, f"web_{secrets.token_hex(4)}")
            assert (await call(ws, t="ping"))["t"] == "ok"


async def test_a_connection_that_fetched_files_can_then_open_the_chat(tmp_path: Path) -> None:
    """Keep-alive, then the WebSocket's handshake on the same connection: the
    head h11 read is handed to trio-websocket and the chat works on it."""
    async with web_node(tmp_path) as node, trio.open_nursery() as nursery:
        client = await Client.to(node)
        assert (await client.get("/")).status == 200
        assert (await client.get("/sw.js")).status == 200
        ws = await wrap_client_stream(nursery, client.stream, "127.0.0.1", RESOURCE)
        await sign_up(ws, f"kept_{secrets.token_hex(4)}")
        assert (await call(ws, t="ping"))["t"] == "ok"
        await ws.aclose()


def masked_frame(payload: bytes) -> bytes:
    """One binary WebSocket frame as a client sends it (payloads under 126 bytes)."""
    mask = secrets.token_bytes(4)
    return bytes([0x82, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_frame_sent_with_the_handshake_reaches_the_chat(tmp_path: Path) -> None:
    """A client that sends its first message right behind the handshake, in
    one packet, without waiting for the 101: the bytes h11 read past the head
    reach the WebSocket."""
    async with web_node(tmp_path) as node:
        assert node.gateway.port is not None
        ws = WSConnection(ConnectionType.CLIENT)
        handshake = ws.send(WsRequest(host="127.0.0.1", target=RESOURCE))
        events: list[object] = []
        async with await trio.open_tcp_stream("127.0.0.1", node.gateway.port) as stream:
            await stream.send_all(handshake + masked_frame(msgpack.packb({"t": "ping", "id": 7})))
            with trio.fail_after(10):
                while not any(isinstance(event, BytesMessage) for event in events):
                    ws.receive_data(await stream.receive_some())
                    events.extend(ws.events())
        assert isinstance(events[0], AcceptConnection)
        [reply] = [msgpack.unpackb(event.data) for event in events if isinstance(event, BytesMessage)]
        assert reply == {"t": "ok", "id": 7}


async def test_a_websocket_handshake_to_another_path_is_404_naming_v1(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        key = [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
        reply = await client.request("GET", "/", [*upgrade, *key])
        assert reply.status == 404 and reply.body == b"the chat protocol is served at /v1\n"
        await client.aclose()


async def test_tls_serves_the_files_and_the_chat_on_one_port(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    tls = server_tls_context(str(certificate.cert), str(certificate.key))
    async with web_node(tmp_path, tls=tls) as node:
        assert node.url.startswith("wss://")
        client = await Client.to(node, certificate.client_context())
        index = await client.get("/")
        assert index.status == 200 and index.body == FILES["index.html"]
        assert index.headers[b"content-security-policy"] == CONTENT_SECURITY_POLICY
        bundle = await client.get("/assets/app-1a2b3c.js")
        assert bundle.body == FILES["assets/app-1a2b3c.js"]
        assert (await client.get(RESOURCE)).status == 426
        await client.aclose()
        async with open_websocket_url(node.url, ssl_context=certificate.client_context()) as ws:
            await sign_up(ws, f"tls_{secrets.token_hex(4)}")
            assert (await call(ws, t="ping"))["t"] == "ok"


# -- with no web client ------------------------------------------------------------------------


async def test_without_web_every_file_is_404_and_the_chat_is_served(tmp_path: Path) -> None:
    async with web_node(tmp_path, web_root=None) as node:
        client = await Client.to(node)
        for target in ("/", "/index.html", "/assets/app-1a2b3c.js"):
            reply = await client.get(target)
            assert reply.status == 404
            assert reply.body == b"this node serves no web client; the chat protocol is a WebSocket at /v1\n"
        assert (await client.get(RESOURCE)).status == 426
        await client.aclose()
        async with open_websocket_url(node.url) as ws:
            assert (await call(ws, t="ping"))["t"] == "ok"


async def test_a_web_root_that_is_not_built_says_so_and_the_chat_is_served(tmp_path: Path) -> None:
    async with web_node(tmp_path, web_root=tmp_path / "not-built") as node:
        client = await Client.to(node)
        reply = await client.get("/")
        assert reply.status == 404 and b"not built" in reply.body
        await client.aclose()
        async with open_websocket_url(node.url) as ws:
            assert (await call(ws, t="ping"))["t"] == "ok"


def test_the_default_web_root_is_the_checkouts_web_dist() -> None:
    assert NodeConfig().web_root == REPO / "web" / "dist"


async def test_chatnode_serve_takes_a_web_root_or_none(tmp_path: Path) -> None:
    root = build_web_root(tmp_path)
    for flags, status, body in (
        (["--web-root", str(root)], 200, FILES["index.html"]),
        (["--no-web"], 404, b"this node serves no web client; the chat protocol is a WebSocket at /v1\n"),
    ):
        args = ["--port", "0", "--store", str(tmp_path / "chat.db"), *flags]
        async with serving(args, cwd=tmp_path) as process:
            host, _, port = process.address.rpartition(":")
            stream = await trio.open_tcp_stream(host, int(port))
            client = Client(stream)
            reply = await client.get("/")
            assert (reply.status, reply.body) == (status, body), flags
            await client.aclose()
            assert await process.stop() == 0


# -- what a connection may cost ----------------------------------------------------------------


async def test_an_oversized_head_is_431_and_the_end_of_the_connection(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 64 * 1024 + b"\r\n\r\n"
        answer = await raw_exchange(node, head)
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:100]
        assert b"connection: close" in answer.lower()
        with trio.fail_after(10):
            while node.gateway.peers.handshakes("127.0.0.1"):
                await trio.sleep(0.01)


async def test_a_slow_head_and_an_idle_connection_are_closed_at_the_deadline(tmp_path: Path) -> None:
    """Half a head, then silence (slowloris), and a kept-alive connection that
    asks nothing more: the node closes both after `handshake_timeout`, and
    serves a bystander meanwhile."""
    async with web_node(tmp_path, handshake_timeout=0.5) as node:
        slow = await Client.to(node)
        await slow.stream.send_all(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ")
        idle = await Client.to(node)
        assert (await idle.get("/")).status == 200
        bystander = await Client.to(node)
        assert (await bystander.get("/sw.js")).status == 200
        assert await slow.closed_by_the_node()
        assert await idle.closed_by_the_node()
        for client in (slow, idle, bystander):
            await client.aclose()


async def test_keep_alive_ends_after_max_requests(tmp_path: Path) -> None:
    async with web_node(tmp_path, http=HttpLimits(max_requests=3)) as node:
        client = await Client.to(node)
        replies = [await client.get("/") for _ in range(3)]
        assert [reply.status for reply in replies] == [200, 200, 200]
        assert [reply.headers.get(b"connection") for reply in replies] == [None, None, b"close"]
        assert await client.closed_by_the_node()
        await client.aclose()


async def test_a_kept_alive_connection_is_closed_after_its_answer_once_the_node_drains(tmp_path: Path) -> None:
    async with web_node(tmp_path) as node:
        client = await Client.to(node)
        assert b"connection" not in (await client.get("/")).headers
        await node.gateway.drain(1000, 10.0)
        last = await client.get("/sw.js")
        assert last.status == 200 and last.headers[b"connection"] == b"close"
        assert await client.closed_by_the_node()
        await client.aclose()
