"""Choosing and opening a store from operator settings.

Kept apart from the stores themselves so that the CLI, the benchmark and the
tests name a store the same way, and nothing above this module needs to know
which database it talks to. The settings are parsed here from text, each with
a ValueError that says what is wrong; the command line that reads them is
chatnode's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from attrs import frozen

from ._api import Store
from ._cql_schema import DATACENTER_NAME, KEYSPACE_NAME, QUORUM_LEVELS

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
    "DEFAULT_EMBEDDED_PATH",
    "QUORUM_LEVELS",
    "StoreConfig",
    "open_store",
    "parse_contact_points",
    "parse_datacenter",
    "parse_keyspace",
]
