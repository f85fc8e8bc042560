"""The store's settings on chatnode's command line: `--store PATH`, or `--cql` and its keyspace.

Every command names its store the same way. Each flag is checked by the
parser, with storage's own parsing of the setting, so a bad value is
argparse's one usage line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from storage.config import (
    DEFAULT_EMBEDDED_PATH,
    QUORUM_LEVELS,
    StoreConfig,
    parse_contact_points,
    parse_datacenter,
    parse_keyspace,
)

T = TypeVar("T")


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type: a ValueError becomes argparse's one-line usage error."""

    def parse_argument(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse_argument


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
    group.add_argument("--keyspace", default="chat", type=_checked(parse_keyspace))
    group.add_argument("--consistency", default="LOCAL_QUORUM", choices=QUORUM_LEVELS)
    group.add_argument("--local-dc", default="datacenter1", type=_checked(parse_datacenter))
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
