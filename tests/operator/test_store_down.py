"""A store that cannot be used at start: one line on stderr, exit status 2, no traceback.

An operator (or systemd) reads stderr; a supervisor reads the status: 2
means "fix the configuration or the database, then start again".
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .chatnode import assert_one_line_error, run


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections: bound, never listening, so nobody else takes it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "schema", "status"])
async def test_cql_cluster_that_refuses_connections(command: str, closed_port: int, tmp_path: Path) -> None:
    where = f"127.0.0.1:{closed_port}"
    args = [command, "--cql", where, "--keyspace", "chat_never_created", "--replication-factor", "1"]
    if command == "serve":
        args += ["--port", "0"]
    done = await run(*args, cwd=tmp_path)
    assert done.status == 2
    assert done.stdout == "", "nothing claims to listen"
    assert_one_line_error(done.stderr)
    assert where in done.stderr, "the error names the cluster it could not reach"


@pytest.mark.parametrize("command", ["serve", "status"])
async def test_embedded_store_that_cannot_be_created(command: str, tmp_path: Path) -> None:
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("a file where the store's directory should be\n")
    args = [command, "--store", str(not_a_directory / "chat.db")]
    if command == "serve":
        args += ["--port", "0"]
    done = await run(*args, cwd=tmp_path)
    assert done.status == 2
    assert done.stdout == ""
    assert_one_line_error(done.stderr)
    assert not_a_directory.read_text() == "a file where the store's directory should be\n"


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--cql", "db:notaport"], "'db:notaport' is not host:port"),
        (["--cql", "db:70000"], "'db:70000' is not host:port"),
        (["--cql", "db", "--keyspace", "Chat-Prod"], "'Chat-Prod' is not a keyspace name"),
        (["--cql", "db", "--local-dc", "dc one"], "'dc one' is not a datacenter name"),
        (["--cql", "db", "--consistency", "ONE"], "invalid choice: 'ONE'"),
        (["--cql", "db", "--replication-factor", "0"], "'0' is not a positive number"),
    ],
)
async def test_bad_store_flags_are_usage_errors(flags: list[str], complaint: str, tmp_path: Path) -> None:
    """Refused by the argument parser: before any connection, no traceback."""
    done = await run("status", *flags, cwd=tmp_path)
    assert done.status == 2
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].startswith("chatnode status: error: "), done.stderr
    assert complaint in done.stderr, done.stderr
