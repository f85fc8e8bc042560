"""Choosing and opening a store from operator settings.

Kept apart from the stores themselves so that the CLI, the benchmark and the
tests name a store the same way, and nothing above this module needs to know
which database it talks to. The settings are parsed here from text, each with
a ValueError that says what is wrong; the command line that reads them is
chatnode's.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence

from attrs import field, frozen

from ._api import Store
from ._cql_schema import DATACENTER_NAME, KEYSPACE_NAME, QUORUM_LEVELS
from ._errors import StoreError

DEFAULT_EMBEDDED_PATH = "var/chat.db"
DEFAULT_CQL_PORT = 9042


class StoreConfigError(StoreError):
    """The store's settings name a file that cannot be used (a password, a
    certificate): the operator's to fix; retrying changes nothing."""


@frozen
class StoreConfig:
    """Either an embedded file (`path`) or a CQL cluster (`contact_points`).

    A CQL cluster may want a login (`username`, with the password in
    `password_file`: never on a command line, where `ps` shows it) and TLS
    (`tls_ca`, the PEM bundle its certificates are checked against, host
    names included; `tls_cert`/`tls_key`, this client's certificate when the
    cluster asks for one). Only paths are kept here: the files are read when
    the store opens (`cql_security`).
    """

    path: str = DEFAULT_EMBEDDED_PATH
    contact_points: tuple[tuple[str, int], ...] = ()
    keyspace: str = "chat"
    consistency: str = "LOCAL_QUORUM"
    local_dc: str = "datacenter1"
    replication_factor: int = 3
    username: str | None = None
    password_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("--cql-username and --cql-password-file go together")
        if self.tls_ca is None and (self.tls_cert is not None or self.tls_key is not None):
            raise ValueError("--cql-tls-cert and --cql-tls-key need --cql-tls-ca")
        if self.tls_key is not None and self.tls_cert is None:
            raise ValueError("--cql-tls-key needs --cql-tls-cert")

    @property
    def is_cql(self) -> bool:
        return bool(self.contact_points)

    def describe(self) -> str:
        if self.is_cql:
            hosts = ",".join(f"{host}:{port}" for host, port in self.contact_points)
            login = f", as {self.username}" if self.username is not None else ""
            tls = ", tls" if self.tls_ca is not None else ""
            return f"cql {hosts} keyspace {self.keyspace} ({self.consistency}{login}{tls})"
        return f"embedded {self.path}"


@frozen
class CqlSecurity:
    """The login and the TLS context a CQL connection uses, loaded from the config's files."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = None


def cql_security(config: StoreConfig) -> CqlSecurity:
    """Read the password file and build the TLS context; StoreConfigError (one line) if a file is unusable."""
    password = None
    if config.password_file is not None:
        password = _read(config.password_file, "CQL password file").rstrip("\r\n")
        if not password:
            raise StoreConfigError(f"the CQL password file {config.password_file} is empty")
    context = None
    if config.tls_ca is not None:
        context = _tls_context(config.tls_ca, config.tls_cert, config.tls_key)
    return CqlSecurity(username=config.username, password=password, ssl_context=context)


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise StoreConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise StoreConfigError(f"the {what} {path} is not UTF-8 text") from None


def _tls_context(ca: str, cert: str | None, key: str | None) -> ssl.SSLContext:
    """Verify the cluster's certificates against `ca` only, host names included (the
    contact point's address must be in the certificate), TLS 1.2 at least."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except OSError as exc:
        raise StoreConfigError(f"cannot use the CQL TLS CA file {ca}: {exc.strerror or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        try:
            context.load_cert_chain(cert, key)
        except OSError as exc:
            which = f"{cert} and {key}" if key is not None else cert
            why = exc.strerror or exc
            raise StoreConfigError(f"cannot use the CQL TLS client certificate {which}: {why}") from None
    return context


def parse_contact_points(text: str) -> tuple[tuple[str, int], ...]:
    """'h1:9042,h2,[::1]:9043' -> (('h1', 9042), ('h2', 9042), ('::1', 9043)).

    The port is optional, an IPv6 host goes in brackets; a ValueError says
    what is wrong.
    """
    points = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":") or str(DEFAULT_CQL_PORT)
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        else:
            host, port = item, str(DEFAULT_CQL_PORT)
        if not host or not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{item!r} is not host:port")
        points.append((host, int(port)))
    if not points:
        raise ValueError(f"no contact points in {text!r}")
    return tuple(points)


def parse_keyspace(text: str) -> str:
    """A keyspace name the schema accepts; a ValueError says what is wrong."""
    return _matching(KEYSPACE_NAME, "keyspace name", text)


def parse_datacenter(text: str) -> str:
    """A datacenter name the schema accepts; a ValueError says what is wrong."""
    return _matching(DATACENTER_NAME, "datacenter name", text)


def _matching(pattern: re.Pattern[str], what: str, text: str) -> str:
    if not pattern.fullmatch(text):
        raise ValueError(f"{text!r} is not a {what} (allowed: {pattern.pattern})")
    return text


async def open_store(config: StoreConfig, *, create_schema: bool = True) -> Store:
    """Open the configured store; schema is created when missing (first start)."""
    if config.is_cql:
        from ._scylla import ScyllaStore

        security = cql_security(config)
        return await ScyllaStore.open(
            list(config.contact_points),
            config.keyspace,
            consistency=config.consistency,
            local_dc=config.local_dc,
            replication_factor=config.replication_factor,
            create_schema=create_schema,
            username=security.username,
            password=security.password,
            ssl_context=security.ssl_context,
        )
    from ._embedded import EmbeddedStore

    return await EmbeddedStore.open(config.path)


__all__: Sequence[str] = [
    "DEFAULT_EMBEDDED_PATH",
    "QUORUM_LEVELS",
    "CqlSecurity",
    "StoreConfig",
    "StoreConfigError",
    "cql_security",
    "open_store",
    "parse_contact_points",
    "parse_datacenter",
    "parse_keyspace",
]
