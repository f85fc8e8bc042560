"""`--cql-username`/`--cql-password-file` and `--cql-tls-*` as an operator meets them.

A file those flags name that cannot be used stops every command at start
with one line on stderr and exit status 2, before any connection: the
cluster named here refuses connections, and is never reached. Flags that do
not go together are usage errors. A real login is in test_store_outage.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .chatnode import run

#: How a command begins its one line when a store setting cannot be used.
SETTINGS = "chatnode: store settings: "


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def flags(command: str, port: int) -> list[str]:
    args = [command, "--cql", f"127.0.0.1:{port}", "--keyspace", "chat_never_created", "--replication-factor", "1"]
    return args + (["--port", "0"] if command == "serve" else [])


@pytest.mark.parametrize("command", ["serve", "schema", "status"])
@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--cql-username", "chat", "--cql-password-file", "{tmp}/missing"],
         "cannot read the CQL password file {tmp}/missing: No such file or directory"),
        (["--cql-tls-ca", "{tmp}/missing"], "cannot use the CQL TLS CA file {tmp}/missing: No such file or directory"),
        (["--cql-tls-ca", "{tmp}/not-pem"], "cannot use the CQL TLS CA file {tmp}/not-pem: "),
    ],
    ids=["missing password file", "missing CA", "CA not PEM"],
)  # fmt: skip
async def test_an_unusable_file_is_a_one_line_start_up_error(
    command: str, extra: list[str], complaint: str, closed_port: int, tmp_path: Path
) -> None:
    (tmp_path / "not-pem").write_text("not a certificate\n")
    args = flags(command, closed_port) + [arg.format(tmp=tmp_path) for arg in extra]
    done = await run(*args, cwd=tmp_path)
    assert done.status == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(SETTINGS + complaint.format(tmp=tmp_path)), line


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--cql-username", "chat"], "--cql-username and --cql-password-file go together"),
        (["--cql-password-file", "p"], "--cql-username and --cql-password-file go together"),
        (["--cql-tls-cert", "c.pem"], "--cql-tls-cert and --cql-tls-key need --cql-tls-ca"),
        (["--cql-tls-ca", "ca.pem", "--cql-tls-key", "k.pem"], "--cql-tls-key needs --cql-tls-cert"),
        # Not taken for an abbreviation of --cql-password-file.
        (["--cql-password", "secret"], "unrecognized arguments: --cql-password secret"),
    ],
)
async def test_flags_that_do_not_go_together_are_usage_errors(
    extra: list[str], complaint: str, closed_port: int, tmp_path: Path
) -> None:
    done = await run(*flags("status", closed_port), *extra, cwd=tmp_path)
    assert done.status == 2
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].endswith(f" error: {complaint}"), done.stderr
