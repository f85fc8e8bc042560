"""What the listener answers to plain HTTP, decided without an event loop or a socket (`actors/_web.py`)."""

from __future__ import annotations

import os

import attrs
import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import HttpLimits
from actors._web import (
    BAD_REQUEST,
    CONTENT_SECURITY_POLICY,
    HEAD_TOO_LARGE,
    IMMUTABLE,
    METHOD_NOT_ALLOWED,
    NO_WEB,
    NOT_FOUND,
    OCTET_STREAM,
    REVALIDATE,
    SECURITY_HEADERS,
    UPGRADE_REQUIRED,
    WRONG_RESOURCE,
    Answer,
    FileFacts,
    Lookup,
    OpenChat,
    cache_control,
    content_type,
    entity_tag,
    error_page,
    file_answer,
    file_parts,
    has_body,
    is_websocket_upgrade,
    is_within,
    route,
    target_path,
)

WEBSOCKET = (
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
)


def request(
    target: str | bytes, method: str = "GET", headers: tuple[tuple[str, str], ...] = (), version: str = "1.1"
) -> h11.Request:
    return h11.Request(method=method, target=target, headers=[("Host", "127.0.0.1"), *headers], http_version=version)


def headers_of(answer: Answer) -> dict[bytes, bytes]:
    names = [name for name, _ in answer.headers]
    assert len(names) == len(set(names)), names
    return dict(answer.headers)


# -- routing ----------------------------------------------------------------------


def test_a_websocket_upgrade_to_v1_opens_the_chat_and_one_elsewhere_is_told_where_it_is() -> None:
    assert route(request("/v1", headers=WEBSOCKET), web=True) == OpenChat()
    assert route(request("/v1", headers=WEBSOCKET), web=False) == OpenChat()
    assert route(request("/", headers=WEBSOCKET), web=True) == WRONG_RESOURCE.answer(head=False)
    assert route(request("/v1?x=1", headers=WEBSOCKET), web=True) == WRONG_RESOURCE.answer(head=False)


def test_only_an_http_1_1_get_without_a_body_is_an_upgrade() -> None:
    assert is_websocket_upgrade(request("/v1", headers=WEBSOCKET))
    assert is_websocket_upgrade(request("/v1", headers=(("Upgrade", "h2c, WebSocket"),)))
    assert not is_websocket_upgrade(request("/v1", headers=WEBSOCKET, version="1.0"))
    assert not is_websocket_upgrade(request("/v1", "POST", headers=WEBSOCKET))
    assert not is_websocket_upgrade(request("/v1", headers=(*WEBSOCKET, ("Content-Length", "5"))))
    assert not is_websocket_upgrade(request("/v1", headers=(("Upgrade", "h2c"),)))
    assert not is_websocket_upgrade(request("/v1"))


def test_a_plain_request_to_v1_is_426_naming_the_websocket() -> None:
    for method in ("GET", "HEAD"):
        answer = route(request("/v1", method), web=True)
        assert isinstance(answer, Answer) and answer.status == 426
        assert headers_of(answer)[b"upgrade"] == b"websocket"
        assert headers_of(answer)[b"connection"] == b"upgrade"
    assert route(request("/v1", headers=(("Upgrade", "h2c"),)), web=True) == UPGRADE_REQUIRED.answer(head=False)
    assert route(request("/v1", headers=WEBSOCKET, version="1.0"), web=True) == UPGRADE_REQUIRED.answer(head=False)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "BREW"])
def test_methods_other_than_get_and_head_are_405_with_allow(method: str) -> None:
    answer = route(request("/", method), web=True)
    assert answer == METHOD_NOT_ALLOWED.answer(head=False)
    assert isinstance(answer, Answer) and answer.status == 405
    assert headers_of(answer)[b"allow"] == b"GET, HEAD"


def test_without_web_every_file_is_404_saying_so_and_v1_is_still_426() -> None:
    assert route(request("/"), web=False) == NO_WEB.answer(head=False)
    assert route(request("/assets/app.js", "HEAD"), web=False) == NO_WEB.answer(head=True)
    assert route(request("/v1"), web=False) == UPGRADE_REQUIRED.answer(head=False)
    assert route(request("/", "POST"), web=False) == METHOD_NOT_ALLOWED.answer(head=False)


def test_the_vapid_key_is_served_only_by_a_node_that_has_one_and_even_without_web_files() -> None:
    key = request("/push/vapid-public-key")
    assert route(key, web=True) == NOT_FOUND.answer(head=False)
    served = route(key, web=False, vapid_key=b"BExample")
    assert isinstance(served, Answer) and served.status == 200 and served.body == b"BExample\n"
    assert route(request("/push/vapid-public-key", method="HEAD"), web=True, vapid_key=b"BExample").body == b""


def test_a_file_request_is_a_lookup_with_its_validators() -> None:
    assert route(request("/"), web=True) == Lookup(("index.html",), False, ())
    assert route(request("/assets/app-1a2b.js?v=2", "HEAD"), web=True) == Lookup(("assets", "app-1a2b.js"), True, ())
    conditional = request("/sw.js", headers=(("If-None-Match", 'W/"a-1", "b-2"'), ("If-None-Match", "*")))
    assert route(conditional, web=True) == Lookup(("sw.js",), False, (b'W/"a-1"', b'"b-2"', b"*"))


def test_a_target_that_is_not_a_path_is_400() -> None:
    assert route(request("*", "GET"), web=True) == BAD_REQUEST.answer(head=False)
    assert route(request("example.com:443", "HEAD"), web=True) == BAD_REQUEST.answer(head=True)


def test_the_absolute_form_of_a_target_is_its_path() -> None:
    assert target_path(b"http://127.0.0.1:8765/assets/a.js?x") == b"/assets/a.js"
    assert target_path(b"HTTPS://host") == b"/"
    assert target_path(b"/index.html?q=/../x") == b"/index.html"
    assert target_path(b"*") is None
    assert target_path(b"host:443") is None


# -- what a path may name -------------------------------------------------------------


#: Every way of walking out of the web root (or into what it hides) the tests know of.
REFUSED_PATHS = [
    b"/../setup.cfg",
    b"/assets/../../setup.cfg",
    b"/./index.html",
    b"/%2e%2e/setup.cfg",
    b"/%2E%2E/%2e%2E/setup.cfg",
    b"/.%2e/setup.cfg",
    b"/..%2fsetup.cfg",
    b"/assets%2f..%2f..%2fsetup.cfg",
    b"/%2fetc%2fpasswd",
    b"/..\\setup.cfg",
    b"/assets\\..\\..\\setup.cfg",
    b"/..%5csetup.cfg",
    b"/%5c..%5csetup.cfg",
    b"/index.html%00.png",
    b"/%00",
    b"/\x00",
    b"/a%0ab",
    b"/a%7fb",
    b"//etc/passwd",
    b"/assets//app.js",
    b"/assets/",
    b"/.git/config",
    b"/.env",
    b"/%2egit/config",
    b"/%c0%ae%c0%ae/setup.cfg",  # an overlong UTF-8 '.', not UTF-8 at all
    b"/%ff",
]


@pytest.mark.parametrize("path", REFUSED_PATHS, ids=[repr(path)[2:-1] for path in REFUSED_PATHS])
def test_a_path_that_leaves_the_root_or_names_a_hidden_file_names_nothing(path: bytes) -> None:
    assert file_parts(path) is None


def test_plain_names_are_taken_as_they_decode() -> None:
    assert file_parts(b"/") == ("index.html",)
    assert file_parts(b"/icons/icon%20192.png") == ("icons", "icon 192.png")
    assert file_parts(b"/%252e%252e/setup.cfg") == ("%2e%2e", "setup.cfg")  # decoded once: a name, not a step up
    assert file_parts(b"/caf%C3%A9.txt") == ("café.txt",)
    assert file_parts(b"/a..b/c.") == ("a..b", "c.")


#: Pieces of paths that walk, alone or together, raw or encoded.
PATH_PIECES = st.sampled_from([b".", b"..", b"/", b"\\", b"%2e", b"%2E", b"%2f", b"%2F", b"%5c", b"%00", b"%25", b"a", b"b.js"])


@given(st.one_of(st.lists(PATH_PIECES, max_size=12).map(b"".join), st.binary(max_size=64)).map(lambda raw: b"/" + raw))
def test_whatever_a_path_names_is_under_the_root(path: bytes) -> None:
    parts = file_parts(path)
    if parts is not None:
        joined = os.path.normpath(os.path.join("/srv/web", *parts))
        assert is_within("/srv/web", joined) and joined != "/srv/web"


def test_within_compares_whole_names() -> None:
    assert is_within("/srv/web", "/srv/web/index.html")
    assert is_within("/srv/web", "/srv/web")
    assert not is_within("/srv/web", "/srv/website/index.html")
    assert not is_within("/srv/web", "/srv/setup.cfg")


# -- the files' headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", b"text/html; charset=utf-8"),
        ("app-1a2b.js", b"text/javascript; charset=utf-8"),
        ("sw.js", b"text/javascript; charset=utf-8"),
        ("app-1a2b.css", b"text/css; charset=utf-8"),
        ("manifest.webmanifest", b"application/manifest+json"),
        ("vectors.json", b"application/json"),
        ("icon.svg", b"image/svg+xml"),
        ("icon-192.PNG", b"image/png"),
        ("favicon.ico", b"image/x-icon"),
        ("font.woff2", b"font/woff2"),
        ("README", OCTET_STREAM),
        ("archive.tar.gz", OCTET_STREAM),
    ],
)
def test_each_kind_of_file_has_its_content_type(name: str, expected: bytes) -> None:
    assert content_type(name) == expected


def test_assets_are_immutable_and_everything_else_is_revalidated() -> None:
    assert cache_control(("assets", "app-1a2b.js")) == IMMUTABLE
    assert cache_control(("assets", "fonts", "a.woff2")) == IMMUTABLE
    assert IMMUTABLE == b"public, max-age=31536000, immutable"
    for parts in [("index.html",), ("sw.js",), ("manifest.webmanifest",), ("icons", "icon.svg"), ("assets",)]:
        assert cache_control(parts) == REVALIDATE == b"no-cache"


FACTS = FileFacts(size=1234, mtime_ns=1_700_000_000_123_456_789)


def test_a_file_is_200_with_its_type_length_validator_caching_and_security_headers() -> None:
    answer = file_answer(Lookup(("assets", "app-1a2b.js"), False, ()), FACTS)
    assert answer.status == 200 and answer.file_length == 1234 and answer.body == b""
    assert headers_of(answer) == {
        b"content-type": b"text/javascript; charset=utf-8",
        b"content-length": b"1234",
        b"etag": entity_tag(FACTS),
        b"cache-control": IMMUTABLE,
        **dict(SECURITY_HEADERS),
    }


def test_head_gets_the_same_headers_and_no_content() -> None:
    get = file_answer(Lookup(("index.html",), False, ()), FACTS)
    head = file_answer(Lookup(("index.html",), True, ()), FACTS)
    assert head.headers == get.headers and head.file_length == 0 and get.file_length == FACTS.size
    assert NOT_FOUND.answer(head=True).headers == NOT_FOUND.answer(head=False).headers
    assert NOT_FOUND.answer(head=True).body == b"" != NOT_FOUND.answer(head=False).body


@pytest.mark.parametrize(
    "if_none_match",
    [
        pytest.param(lambda tag: (tag,), id="the tag"),
        pytest.param(lambda tag: (b"W/" + tag,), id="weakly"),
        pytest.param(lambda tag: (b'"other"', tag), id="in a list"),
        pytest.param(lambda tag: (b"*",), id="any"),
    ],
)
def test_a_client_holding_the_file_gets_304_with_its_validators_and_no_content(if_none_match: object) -> None:
    tags = if_none_match(entity_tag(FACTS))  # type: ignore[operator]
    answer = file_answer(Lookup(("index.html",), False, tags), FACTS)
    assert answer.status == 304 and answer.file_length == 0 and answer.body == b""
    assert headers_of(answer) == {b"etag": entity_tag(FACTS), b"cache-control": REVALIDATE, **dict(SECURITY_HEADERS)}


def test_a_changed_file_has_another_tag_and_an_old_tag_gets_it_whole() -> None:
    changed = attrs.evolve(FACTS, size=FACTS.size + 1)
    touched = attrs.evolve(FACTS, mtime_ns=FACTS.mtime_ns + 1)
    assert len({entity_tag(FACTS), entity_tag(changed), entity_tag(touched)}) == 3
    answer = file_answer(Lookup(("index.html",), False, (entity_tag(FACTS),)), changed)
    assert answer.status == 200 and answer.file_length == changed.size


def test_every_page_carries_the_security_headers_and_is_not_cached() -> None:
    assert dict(SECURITY_HEADERS)[b"content-security-policy"] == CONTENT_SECURITY_POLICY
    assert b"script-src 'self'" in CONTENT_SECURITY_POLICY and b"unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert b"require-trusted-types-for 'script'" in CONTENT_SECURITY_POLICY
    for page in (NOT_FOUND, NO_WEB, WRONG_RESOURCE, UPGRADE_REQUIRED, METHOD_NOT_ALLOWED, BAD_REQUEST, HEAD_TOO_LARGE):
        headers = headers_of(page.answer(head=False))
        assert all(headers[name] == value for name, value in SECURITY_HEADERS)
        assert headers[b"cache-control"] == b"no-store"
        assert headers[b"content-length"] == b"%d" % len(page.text)


def test_a_head_h11_refuses_gets_431_when_too_large_and_400_otherwise() -> None:
    assert error_page(431) == HEAD_TOO_LARGE and HEAD_TOO_LARGE.status == 431
    assert error_page(400) == BAD_REQUEST
    assert error_page(505) == BAD_REQUEST


def test_a_body_is_known_from_the_framing_headers() -> None:
    assert not has_body(request("/"))
    assert not has_body(request("/", "POST", headers=(("Content-Length", "0"),)))
    assert has_body(request("/", "POST", headers=(("Content-Length", "1"),)))
    assert has_body(request("/", "POST", headers=(("Transfer-Encoding", "chunked"),)))


def test_http_limits_refuse_what_would_serve_nothing() -> None:
    HttpLimits(max_head_bytes=1024, max_requests=1, response_timeout=0.5)
    with pytest.raises(ValueError):
        HttpLimits(max_head_bytes=100)
    with pytest.raises(ValueError):
        HttpLimits(max_requests=0)
    with pytest.raises(ValueError):
        HttpLimits(response_timeout=float("inf"))
    with pytest.raises(ValueError):
        HttpLimits(response_timeout=0)
