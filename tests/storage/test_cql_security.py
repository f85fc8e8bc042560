"""The CQL store's login and TLS settings: what `cql_security` builds from the operator's files.

The TLS context is tried for real: a TLS server on loopback with
certificates made here by `openssl` (a CA, a node certificate for
127.0.0.1, a client certificate), and a handshake as the driver makes it
(the contact point's address as the name to check). The login itself is
tried against a Cassandra with PasswordAuthenticator in
tests/operator/test_store_outage.py.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from attrs import frozen

from storage.config import StoreConfig, StoreConfigError, cql_security

CLUSTER = (("127.0.0.1", 9042),)


@frozen
class Pki:
    ca: Path
    other_ca: Path
    node: tuple[Path, Path]  # certificate and key, for IP 127.0.0.1
    elsewhere: tuple[Path, Path]  # signed by the CA, for another name
    client: tuple[Path, Path]
    client_key_alone: Path  # the client's key in a file of its own, the cert without it


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _issue(directory: Path, ca: tuple[Path, Path], name: str, extension: str) -> tuple[Path, Path]:
    cert, key, request, extfile = (directory / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr", ".ext"))
    extfile.write_text(extension + "\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(extfile),
        cwd=directory,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _ca(directory, "test-ca")
    other_ca = _ca(directory, "other-ca")
    client = _issue(directory, ca, "chatnode", "extendedKeyUsage=clientAuth")
    combined = directory / "chatnode-with-key.pem"
    combined.write_text(client[0].read_text() + client[1].read_text())
    return Pki(
        ca=ca[0],
        other_ca=other_ca[0],
        node=_issue(directory, ca, "node", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        elsewhere=_issue(
            directory, ca, "elsewhere", "subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth"
        ),
        client=(combined, client[1]),
        client_key_alone=client[1],
    )


@frozen
class TlsNode:
    """A TLS endpoint on loopback standing in for a cluster node's native port: it
    wants a client certificate signed by the CA, and records whose it saw."""

    port: int
    clients: list[str]


async def tls_node(nursery: trio.Nursery, pki: Pki, certificate: tuple[Path, Path]) -> TlsNode:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca)
    context.load_cert_chain(*certificate)
    context.verify_mode = ssl.CERT_REQUIRED
    clients: list[str] = []

    async def serve(stream: trio.SSLStream[trio.SocketStream]) -> None:
        try:
            await stream.do_handshake()
            subject = dict(field[0] for field in stream.getpeercert()["subject"])
            clients.append(subject["commonName"])
            await stream.send_all(b"hello")
        except trio.BrokenResourceError:
            pass  # a client it refused
        finally:
            await trio.aclose_forcefully(stream)

    listeners = await trio.open_ssl_over_tcp_listeners(0, context, host="127.0.0.1")
    nursery.start_soon(trio.serve_listeners, serve, listeners)
    return TlsNode(listeners[0].transport_listener.socket.getsockname()[1], clients)


async def handshake(context: ssl.SSLContext, port: int) -> bytes:
    """Connect as the driver does (server_hostname = the contact point's address) and read the greeting."""
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context)
    async with stream:
        return await stream.receive_some()


@pytest.fixture
async def servers(nursery: trio.Nursery) -> AsyncIterator[trio.Nursery]:
    yield nursery
    nursery.cancel_scope.cancel()


async def test_the_tls_options_verify_the_node_and_present_the_client_certificate(
    pki: Pki, servers: trio.Nursery
) -> None:
    node = await tls_node(servers, pki, pki.node)
    config = StoreConfig(contact_points=CLUSTER, tls_ca=str(pki.ca), tls_cert=str(pki.client[0]))
    context = cql_security(config).ssl_context
    assert context is not None
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert await handshake(context, node.port) == b"hello"
    assert node.clients == ["chatnode"], "the node saw the client's certificate"


async def test_a_client_key_in_a_file_of_its_own(pki: Pki, servers: trio.Nursery) -> None:
    node = await tls_node(servers, pki, pki.node)
    cert_only = pki.client_key_alone.with_name("chatnode.pem")
    config = StoreConfig(
        contact_points=CLUSTER, tls_ca=str(pki.ca), tls_cert=str(cert_only), tls_key=str(pki.client_key_alone)
    )
    context = cql_security(config).ssl_context
    assert context is not None
    assert await handshake(context, node.port) == b"hello"
    assert node.clients == ["chatnode"]


@pytest.mark.parametrize("case", ["another name", "another CA"])
async def test_a_node_certificate_that_does_not_check_out_is_refused(
    case: str, pki: Pki, servers: trio.Nursery
) -> None:
    certificate, ca = (pki.elsewhere, pki.ca) if case == "another name" else (pki.node, pki.other_ca)
    node = await tls_node(servers, pki, certificate)
    context = cql_security(StoreConfig(contact_points=CLUSTER, tls_ca=str(ca), tls_cert=str(pki.client[0]))).ssl_context
    assert context is not None
    with pytest.raises(trio.BrokenResourceError) as refused:
        await handshake(context, node.port)
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
    assert node.clients == []


async def test_without_a_client_certificate_a_node_that_wants_one_refuses(pki: Pki, servers: trio.Nursery) -> None:
    node = await tls_node(servers, pki, pki.node)
    context = cql_security(StoreConfig(contact_points=CLUSTER, tls_ca=str(pki.ca))).ssl_context
    assert context is not None
    with pytest.raises(trio.BrokenResourceError):
        await handshake(context, node.port)  # TLS 1.3: the refusal arrives with the first read
    assert node.clients == []


def test_no_tls_options_no_tls_and_no_login() -> None:
    security = cql_security(StoreConfig(contact_points=CLUSTER))
    assert (security.username, security.password, security.ssl_context) == (None, None, None)


def test_the_password_comes_from_its_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret with spaces\n")
    config = StoreConfig(contact_points=CLUSTER, username="chat", password_file=str(secret))
    security = cql_security(config)
    assert (security.username, security.password) == ("chat", "s3cret with spaces")
    for shown in (repr(security), repr(config), config.describe()):
        assert "s3cret" not in shown
    assert config.describe() == "cql 127.0.0.1:9042 keyspace chat (LOCAL_QUORUM, as chat)"


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (
            {"username": "chat", "password_file": "missing"},
            "cannot read the CQL password file {tmp}/missing: No such file",
        ),
        ({"username": "chat", "password_file": "empty"}, "the CQL password file {tmp}/empty is empty"),
        ({"tls_ca": "missing"}, "cannot use the CQL TLS CA file {tmp}/missing: No such file"),
        ({"tls_ca": "not-pem"}, "cannot use the CQL TLS CA file {tmp}/not-pem: "),
        ({"tls_ca": "ca", "tls_cert": "missing"}, "cannot use the CQL TLS client certificate {tmp}/missing"),
        ({"tls_ca": "ca", "tls_cert": "not-pem"}, "cannot use the CQL TLS client certificate {tmp}/not-pem"),
    ],
)
def test_unusable_files_are_one_line_errors(
    settings: dict[str, str], complaint: str, pki: Pki, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "not-pem").write_text("not a certificate\n")
    (tmp_path / "ca").write_bytes(pki.ca.read_bytes())
    paths = {key: str(tmp_path / value) if key != "username" else value for key, value in settings.items()}
    with pytest.raises(StoreConfigError) as failure:
        cql_security(StoreConfig(contact_points=CLUSTER, **paths))
    message = str(failure.value)
    assert message.startswith(complaint.format(tmp=tmp_path)), message
    assert "\n" not in message


@pytest.mark.parametrize(
    "settings",
    [{"username": "chat"}, {"password_file": "p"}, {"tls_cert": "c"}, {"tls_ca": "a", "tls_key": "k"}],
)
def test_settings_that_do_not_go_together(settings: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        StoreConfig(contact_points=CLUSTER, **settings)
