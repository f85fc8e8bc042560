"""Choosing and opening a store from operator settings.

Kept apart from the stores themselves so that the CLI, the benchmark and the
tests name a store the same way, and nothing above this module needs to know
which database it talks to.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from attrs import frozen

from ._api import Store
from ._cql_schema import DATACENTER_NAME, KEYSPACE_NAME, QUORUM_LEVELS

T = TypeVar("T")

DEFAULT_EMBEDDED_PATH = "var/chat.db"
DEFAULT_CQL_PORT = 9042


@frozen
class StoreConfig:
    """Either an embedded file (`path`) or a CQL cluster (`contact_points`)."""

    path: str = DEFAULT_EMBEDDED_PATH
    contact_points: tuple[tuple[str, int], ...] = ()
    keyspace: str = "chat"
    consistency: str = "LOCAL_QUORUM"
    local_dc: str = "datacenter1"
    replication_factor: int = 3

    @property
    def is_cql(self) -> bool:
        return bool(self.contact_points)

    def describe(self) -> str:
        if self.is_cql:
            hosts = ",".join(f"{host}:{port}" for host, port in self.contact_points)
            return f"cql {hosts} keyspace {self.keyspace} ({self.consistency})"
        return f"embedded {self.path}"


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


def store_config_from_args(args: argparse.Namespace) -> StoreConfig:
    return StoreConfig(
        path=args.store,
        contact_points=args.cql or (),
        keyspace=args.keyspace,
        consistency=args.consistency,
        local_dc=args.local_dc,
        replication_factor=args.replication_factor,
    )


async def open_store(config: StoreConfig, *, create_schema: bool = True) -> Store:
    """Open the configured store; schema is created when missing (first start)."""
    if config.is_cql:
        from ._scylla import ScyllaStore

        return await ScyllaStore.open(
            list(config.contact_points),
            config.keyspace,
            consistency=config.consistency,
            local_dc=config.local_dc,
            replication_factor=config.replication_factor,
            create_schema=create_schema,
        )
    from ._embedded import EmbeddedStore

    return await EmbeddedStore.open(config.path)


__all__: Sequence[str] = [
    "StoreConfig",
    "add_store_arguments",
    "open_store",
    "parse_contact_points",
    "store_config_from_args",
]
