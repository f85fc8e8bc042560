"""Choosing and opening a store from operator settings.

Kept apart from the stores themselves so that the CLI, the benchmark and the
tests name a store the same way, and nothing above this module needs to know
which database it talks to.
"""

from __future__ import annotations

import argparse
import re
import ssl
from collections.abc import Callable, Sequence
from typing import TypeVar

from attrs import field, frozen

from ._api import Store
from ._cql_schema import DATACENTER_NAME, KEYSPACE_NAME, QUORUM_LEVELS
from ._errors import StoreError

T = TypeVar("T")

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


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type: a ValueError becomes argparse's one-line usage error."""

    def parse_argument(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse_argument


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not a {what} (allowed: {pattern.pattern})")
        return text

    return parse


def _positive(text: str) -> int:
    if not (text.isdigit() and int(text) > 0):
        raise ValueError(f"{text!r} is not a positive number")
    return int(text)


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("store")
    group.add_argument("--store", default=DEFAULT_EMBEDDED_PATH, metavar="PATH",
                       help=f"embedded SQLite file (default {DEFAULT_EMBEDDED_PATH})")
    group.add_argument("--cql", metavar="HOST:PORT,...", type=_checked(parse_contact_points),
                       help="use a ScyllaDB/Cassandra cluster instead")
    group.add_argument("--keyspace", default="chat", type=_checked(_matching(KEYSPACE_NAME, "keyspace name")))
    group.add_argument("--consistency", default="LOCAL_QUORUM", choices=QUORUM_LEVELS)
    group.add_argument("--local-dc", default="datacenter1",
                       type=_checked(_matching(DATACENTER_NAME, "datacenter name")))
    group.add_argument("--replication-factor", type=_checked(_positive), default=3)
    group.add_argument("--cql-username", metavar="NAME", help="log in to the cluster as NAME")
    group.add_argument("--cql-password-file", metavar="PATH",
                       help="the file holding --cql-username's password (never the password itself)")
    group.add_argument("--cql-tls-ca", metavar="PEM", help="use TLS, trusting the CA certificates in PEM")
    group.add_argument("--cql-tls-cert", metavar="PEM", help="this client's certificate, if the cluster asks")
    group.add_argument("--cql-tls-key", metavar="PEM", help="the key of --cql-tls-cert (if not in that file)")


def store_config_from_args(args: argparse.Namespace) -> StoreConfig:
    """The config the flags name; ValueError for flags that do not go together."""
    return StoreConfig(
        path=args.store,
        contact_points=args.cql or (),
        keyspace=args.keyspace,
        consistency=args.consistency,
        local_dc=args.local_dc,
        replication_factor=args.replication_factor,
        username=args.cql_username,
        password_file=args.cql_password_file,
        tls_ca=args.cql_tls_ca,
        tls_cert=args.cql_tls_cert,
        tls_key=args.cql_tls_key,
    )


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
    "CqlSecurity",
    "StoreConfig",
    "StoreConfigError",
    "cql_security",
    "add_store_arguments",
    "open_store",
    "parse_contact_points",
    "store_config_from_args",
]
