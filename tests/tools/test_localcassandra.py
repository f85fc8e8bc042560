"""The test database: the fixture's cluster answers real CQL, and CHAT_TEST_CQL parses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy

from storage.config import parse_contact_points


@pytest.fixture(scope="module")
def cql(cql_contact_points: list[tuple[str, int]]) -> Iterator[Session]:
    (host, port), *_ = cql_contact_points
    profile = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="datacenter1"))
    cluster = Cluster(
        contact_points=[host for host, _ in cql_contact_points],
        port=port,
        protocol_version=4,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def test_database_reports_its_release_version(cql: Session) -> None:
    row = cql.execute("SELECT release_version FROM system.local").one()
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", row.release_version)


def test_database_stores_and_returns_a_row(cql: Session) -> None:
    keyspace = f"testdb_{uuid.uuid4().hex[:12]}"
    cql.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )
    try:
        cql.execute(f"CREATE TABLE {keyspace}.notes (id int PRIMARY KEY, body text)")
        cql.execute(f"INSERT INTO {keyspace}.notes (id, body) VALUES (%s, %s)", (7, "hello"))
        row = cql.execute(f"SELECT body FROM {keyspace}.notes WHERE id = %s", (7,)).one()
        assert row.body == "hello"
    finally:
        cql.execute(f"DROP KEYSPACE {keyspace}")


@pytest.mark.parametrize(
    ("spec", "points"),
    [
        ("127.0.0.1:19042", (("127.0.0.1", 19042),)),
        ("a:1, b", (("a", 1), ("b", 9042))),
        ("[::1]:9043,[fe80::2]", (("::1", 9043), ("fe80::2", 9042))),
    ],
)
def test_contact_points_parse(spec: str, points: tuple[tuple[str, int], ...]) -> None:
    assert parse_contact_points(spec) == points


@pytest.mark.parametrize("spec", ["", " , ", "host:port", ":9042", "host:0", "host:70000"])
def test_contact_points_reject_malformed(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_contact_points(spec)
