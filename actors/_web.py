"""What the listener answers to plain HTTP, decided without I/O: the web client's files.

The node's one port speaks HTTP/1.1 (h11 parses it) so that a browser
opening `http://HOST:PORT/` gets the web client from the same origin as the
chat's WebSocket. `route` takes a request h11 has read and says what it is:
the opening handshake of the chat (a WebSocket upgrade to `/v1`), a refusal
(a fixed `Page`), or a `Lookup` of a file under the web root. The gateway's
driver opens that file (realpath under the root, a regular file) and hands
what it found to `file_answer`, which decides the status, the headers and
whether the content follows. No decision is made twice and none by the
driver, so each is tested without an event loop or a socket.

What a client can name is narrow on purpose: a target's path is split on
`/` before percent-decoding, and a segment that decodes to a slash, a
backslash, a control character or NUL, is empty, is `.` or `..`, or starts
with a dot (hidden files) is refused as not found. That leaves plain names
joined under the root; the driver still checks that the file's real path
(symlinks followed) is under the root's, since a link inside the root may
lead anywhere.

Every answer carries the same security headers; the CSP is the one the web
client is built for (docs/web.rst). It goes with every response, not only
HTML: an SVG opened on its own is a document that may hold script, and an
error page is one too.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from urllib.parse import unquote_to_bytes

import h11
from attrs import field, frozen
from attrs.validators import and_, ge, instance_of

#: The WebSocket endpoint of the chat protocol.
RESOURCE = "/v1"
#: Where a web client reads the node's VAPID public key (base64url, the
#: `applicationServerKey` of `pushManager.subscribe`): 404 when the node
#: has no Web Push configured, which tells the client not to subscribe.
VAPID_KEY_PATH = "/push/vapid-public-key"

#: No inline script or style, nothing from another origin, and Trusted Types
#: for every script sink: the one policy allowed, `chat-worker`, is the web
#: client's, which turns exactly `/sw.js` into the service worker's URL
#: (web/app/src/worker.ts); a page may create no other.
CONTENT_SECURITY_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    b"font-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    b"require-trusted-types-for 'script'; trusted-types chat-worker"
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

#: Hashed bundles never change under their name; everything else (index.html,
#: the service worker, the manifest, icons) is revalidated with its ETag.
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"
#: Refusals: a 404 cached by a browser would outlive the build that fixes it.
UNCACHED = b"no-store"
ASSETS = "assets"

#: Content types by file suffix. A table of our own, not `mimetypes`, which
#: reads the host's /etc/mime.types: the same build must be served the same
#: way everywhere (a module script with the wrong type does not run).
CONTENT_TYPES: dict[str, bytes] = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".mjs": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".json": b"application/json",
    ".map": b"application/json",
    ".webmanifest": b"application/manifest+json",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".webp": b"image/webp",
    ".woff2": b"font/woff2",
    ".txt": b"text/plain; charset=utf-8",
}
#: Anything else is bytes to download; nosniff keeps a browser from guessing.
OCTET_STREAM = b"application/octet-stream"

INDEX = "index.html"
ALLOWED_METHODS = b"GET, HEAD"


def _positive(_instance: object, attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise ValueError(f"{getattr(attribute, 'name', attribute)} must be a positive finite number")


@frozen(kw_only=True)
class HttpLimits:
    """What one plain HTTP connection may cost the node before it is closed.

    A request's head must arrive whole within the gateway's handshake time-out
    (from the accept, TLS included, for the first; from the previous answer
    for the next, so that is also how long a kept-alive connection may idle):
    a slowloris holds its socket no longer than it could before the node spoke
    HTTP. Bodies are never read: a request with one is answered and closed.
    """

    #: Bytes of a request head (request line and headers); above it, 431.
    max_head_bytes: int = field(default=8 * 1024, validator=and_(instance_of(int), ge(1024)))
    #: Requests answered on one connection; the last answer says `Connection: close`.
    max_requests: int = field(default=100, validator=and_(instance_of(int), ge(1)))
    #: Seconds to write one answer: a client that stops reading is closed.
    response_timeout: float = field(default=30.0, validator=_positive)


# -- answers ----------------------------------------------------------------------


@frozen
class Answer:
    """One response: its status, headers, and content (`body`, or `file_length` bytes of the file looked up)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes = b""
    file_length: int = 0


@frozen
class Page:
    """A short text answer the node makes itself (refusals, errors)."""

    status: int
    text: bytes
    extra: tuple[tuple[bytes, bytes], ...] = ()

    def answer(self, *, head: bool) -> Answer:
        """The page as an answer; to HEAD, the same headers without the text."""
        headers = (
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(self.text)),
            (b"cache-control", UNCACHED),
            *self.extra,
            *SECURITY_HEADERS,
        )
        return Answer(self.status, headers, b"" if head else self.text)


NOT_FOUND = Page(404, b"not found\n")
NOT_BUILT = Page(404, b"the web client is not built on this node: its web root holds no files\n")
NO_WEB = Page(404, b"this node serves no web client; the chat protocol is a WebSocket at /v1\n")
WRONG_RESOURCE = Page(404, b"the chat protocol is served at /v1\n")
UPGRADE_REQUIRED = Page(
    426,
    b"the chat protocol is a WebSocket: open ws:// or wss:// at /v1\n",
    ((b"upgrade", b"websocket"), (b"connection", b"upgrade")),
)
METHOD_NOT_ALLOWED = Page(405, b"only GET and HEAD are served here\n", ((b"allow", ALLOWED_METHODS),))
BAD_REQUEST = Page(400, b"bad request\n")
HEAD_TOO_LARGE = Page(431, b"request head too large\n")


def error_page(status: int) -> Page:
    """The page for a request h11 could not read (its `error_status_hint`)."""
    return HEAD_TOO_LARGE if status == HEAD_TOO_LARGE.status else BAD_REQUEST


# -- routing -----------------------------------------------------------------------


@frozen
class OpenChat:
    """The request is the chat's WebSocket opening handshake: the gateway hands it to trio-websocket."""


@frozen
class Lookup:
    """Serve the file at `parts` under the web root, if there is one."""

    parts: tuple[str, ...]
    head: bool  # HEAD: the same headers, no content
    if_none_match: tuple[bytes, ...]  # the entity tags of If-None-Match (`*` included), as sent


Route = OpenChat | Lookup | Answer


def route(request: h11.Request, *, web: bool, vapid_key: bytes | None = None) -> Route:
    """What to do with a request; `web` False: the node serves no files (`--no-web`).

    `vapid_key` is the node's Web Push public key, base64url (None: no Web Push).
    """
    head = request.method == b"HEAD"
    if is_websocket_upgrade(request):
        return OpenChat() if request.target == RESOURCE.encode() else WRONG_RESOURCE.answer(head=False)
    if request.method not in (b"GET", b"HEAD"):
        return METHOD_NOT_ALLOWED.answer(head=False)
    path = target_path(request.target)
    if path is None:
        return BAD_REQUEST.answer(head=head)
    if path == RESOURCE.encode():
        return UPGRADE_REQUIRED.answer(head=head)
    if path == VAPID_KEY_PATH.encode():
        return (NOT_FOUND if vapid_key is None else Page(200, vapid_key + b"\n")).answer(head=head)
    if not web:
        return NO_WEB.answer(head=head)
    parts = file_parts(path)
    if parts is None:
        return NOT_FOUND.answer(head=head)
    return Lookup(parts, head, _entity_tags(request))


def is_websocket_upgrade(request: h11.Request) -> bool:
    """A GET asking, in HTTP/1.1 and with no body, to switch to the WebSocket protocol.

    HTTP/1.0 has no Upgrade (RFC 9110 7.8: it is ignored there); a body
    would come between the head and the first frame, which no WebSocket
    client sends. Whether the rest of the handshake is valid is wsproto's
    to say.
    """
    return (
        request.method == b"GET"
        and request.http_version == b"1.1"
        and not has_body(request)
        and b"websocket" in _tokens(request, b"upgrade")
    )


def has_body(request: h11.Request) -> bool:
    """Whether content follows the head (h11 has checked the framing headers are well formed)."""
    for name, value in request.headers:
        if name == b"transfer-encoding" or (name == b"content-length" and int(value) > 0):
            return True
    return False


def target_path(target: bytes) -> bytes | None:
    """The path of a request target, still percent-encoded: origin-form, or absolute-form (RFC 9112 3.2)."""
    path = target.partition(b"?")[0]
    lowered = path.lower()
    for scheme in (b"http://", b"https://"):
        if lowered.startswith(scheme):
            authority_and_path = path[len(scheme) :]
            slash = authority_and_path.find(b"/")
            path = b"/" if slash < 0 else authority_and_path[slash:]
            break
    return path if path.startswith(b"/") else None


def file_parts(path: bytes) -> tuple[str, ...] | None:
    """The names leading to the file a path names under the web root; None if it names none a client may ask for.

    `/` is the index. Segments are split before they are decoded, so `%2f`
    cannot make a separator, and each decoded segment must be a plain name.
    """
    if path == b"/":
        return (INDEX,)
    parts = []
    for segment in path[1:].split(b"/"):
        try:
            name = unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not _plain_name(name):
            return None
        parts.append(name)
    return tuple(parts)


def _plain_name(name: str) -> bool:
    return (
        name != ""
        and not name.startswith(".")  # `.`, `..` and hidden files
        and not any(char in "/\\" or ord(char) < 0x20 or ord(char) == 0x7F for char in name)
    )


def is_within(root: str, path: str) -> bool:
    """Whether real path `path` is `root` or under it (both absolute and resolved)."""
    return os.path.commonpath((root, path)) == root


# -- files ---------------------------------------------------------------------------


@frozen
class FileFacts:
    """What the driver read of an opened file's status."""

    size: int
    mtime_ns: int


def entity_tag(facts: FileFacts) -> bytes:
    """A strong validator from the file's modification time and size, as most servers make one."""
    return b'"%x-%x"' % (facts.mtime_ns, facts.size)


def content_type(name: str) -> bytes:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), OCTET_STREAM)


def cache_control(parts: tuple[str, ...]) -> bytes:
    return IMMUTABLE if len(parts) > 1 and parts[0] == ASSETS else REVALIDATE


def file_answer(lookup: Lookup, facts: FileFacts) -> Answer:
    """The answer for a file found under the web root: 200 with its content, or 304 if the client has it."""
    tag = entity_tag(facts)
    validators = ((b"etag", tag), (b"cache-control", cache_control(lookup.parts)))
    if _matches(lookup.if_none_match, tag):
        return Answer(304, (*validators, *SECURITY_HEADERS))
    headers = (
        (b"content-type", content_type(lookup.parts[-1])),
        (b"content-length", b"%d" % facts.size),
        *validators,
        *SECURITY_HEADERS,
    )
    return Answer(200, headers, file_length=0 if lookup.head else facts.size)


def _matches(tags: tuple[bytes, ...], tag: bytes) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2): `W/` set aside, or `*`."""
    return any(candidate == b"*" or candidate.removeprefix(b"W/") == tag for candidate in tags)


def _entity_tags(request: h11.Request) -> tuple[bytes, ...]:
    return tuple(_tokens(request, b"if-none-match", lower=False))


def _tokens(request: h11.Request, header: bytes, *, lower: bool = True) -> list[bytes]:
    """The comma-separated items of every `header` field of the request."""
    items = []
    for name, value in request.headers:
        if name == header:
            for item in value.split(b","):
                item = item.strip()
                if item:
                    items.append(item.lower() if lower else item)
    return items
