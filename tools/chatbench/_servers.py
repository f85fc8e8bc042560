"""The servers a scenario measures, each in a process of its own.

A chat node (`bin/chatnode serve` on the bench's store) or the bare baseline
server (`_echo.py`). Each one is started fresh for one scenario and stopped
after it, so one scenario's leftovers (actors, fragmented memory, caches)
never flatter or burden the next, and its memory can be read as a delta.
"""

from __future__ import annotations

import re
import resource
import secrets
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from attrs import frozen

from storage import ScyllaCluster
from storage.config import StoreConfig
from ..localcassandra import LocalCassandra

REPO = Path(__file__).resolve().parents[2]
CHATNODE = REPO / "bin" / "chatnode"
ECHO = Path(__file__).with_name("_echo.py")

START_TIMEOUT = 120.0  # a node on Cassandra connects and checks its schema first
STOP_TIMEOUT = 30.0  # the node drains before it exits
NODE_ID = 1

#: The node's send rate limit, raised for every scenario but abuse: the
#: default (20/s, burst 100 per device) is a policy against abusive clients
#: that would otherwise cap pingpong and throughput at 20 messages/s per
#: sender. The abuse scenario measures that policy, so it keeps the default.
SEND_LIMIT_FLAGS = ("--send-rate", "1000000", "--send-burst", "1000000")

#: The caps per peer address, raised likewise: every simulated device
#: connects from 127.0.0.1, and the storm reconnects thousands at once.
PEER_LIMIT_FLAGS = ("--max-handshakes-per-ip", "1000000", "--max-unauthenticated-per-ip", "1000000")

_URL = re.compile(r"listening on (ws://[^\s,]+)")


class ServerFailed(RuntimeError):
    """A server exited or did not come up; the message carries its log's tail."""


@frozen
class EmbeddedSpec:
    """The node's embedded SQLite store, one file for the whole run."""

    path: Path
    name = "embedded"

    def node_args(self) -> list[str]:
        return ["--store", str(self.path)]

    def config(self) -> StoreConfig:
        return StoreConfig(path=str(self.path))


@frozen
class CqlSpec:
    """A keyspace of its own on a Cassandra/ScyllaDB cluster, replication factor 1."""

    contact_points: tuple[tuple[str, int], ...]
    keyspace: str
    name = "cassandra"

    def node_args(self) -> list[str]:
        hosts = ",".join(f"{host}:{port}" for host, port in self.contact_points)
        return ["--cql", hosts, "--keyspace", self.keyspace, "--replication-factor", "1"]

    def config(self) -> StoreConfig:
        return StoreConfig(contact_points=self.contact_points, keyspace=self.keyspace, replication_factor=1)


StoreSpec = EmbeddedSpec | CqlSpec


class ServerProcess:
    """A running server: its URL, and its pid to measure. `running` owns its lifetime."""

    def __init__(self, name: str, process: subprocess.Popen[str], url: str, log: Path) -> None:
        self.name = name
        self.url = url
        self.log = log
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    def exited(self) -> str | None:
        """How the process ended; None while it runs."""
        status = self._process.poll()
        return None if status is None else f"exited with status {status} (its log: {self.log})"

    def check_alive(self) -> None:
        if (why := self.exited()) is not None:
            raise ServerFailed(f"{self.name} {why}\n{_tail(self.log)}")

    def kill(self) -> None:
        """SIGKILL now: the bench's last resort against a node it must not let grow further."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


@frozen
class GivenNode:
    """A node the bench did not start (--url): it can be measured, not stopped."""

    url: str
    pid: int | None

    def exited(self) -> str | None:
        if self.pid is None or Path(f"/proc/{self.pid}").exists():
            return None
        return f"process {self.pid} is gone"

    def check_alive(self) -> None:
        if (why := self.exited()) is not None:
            raise ServerFailed(f"the node at {self.url}: {why}")

    def kill(self) -> None:
        """Not ours to stop."""


Node = ServerProcess | GivenNode


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (a node drains), SIGKILL after STOP_TIMEOUT; never leaves the process behind."""
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def running(name: str, command: Sequence[str], log: Path) -> Iterator[ServerProcess]:
    """Start `command`, wait for its "listening on ws://..." line, stop it on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as errors:
        # Its own session: a Ctrl-C meant for the bench reaches the bench,
        # which then stops the server in order instead of racing it.
        process = subprocess.Popen(
            list(command),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        yield ServerProcess(name, process, _await_url(name, process, process.stdout, log), log)
    finally:
        _stop(process)


def node_command(store: StoreSpec, flags: Sequence[str]) -> list[str]:
    """`chatnode serve` on `store` with `flags` (SEND_LIMIT_FLAGS, for all scenarios but abuse)."""
    return [
        sys.executable, str(CHATNODE), "serve",
        "--host", "127.0.0.1", "--port", "0", "--node-id", str(NODE_ID),
        *flags, *store.node_args(),
    ]  # fmt: skip


def echo_command() -> list[str]:
    return [sys.executable, str(ECHO), "--host", "127.0.0.1", "--port", "0"]


def _await_url(name: str, process: subprocess.Popen[str], stdout: IO[str], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.5):
                if process.poll() is not None:
                    break
                continue
            line = stdout.readline()
            if not line:
                break
            found = _URL.search(line)
            if found:
                return found.group(1)
    status = process.poll()
    why = f"exited with status {status}" if status is not None else f"did not listen within {START_TIMEOUT:.0f} s"
    raise ServerFailed(f"{name} {why}\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return f"--- last lines of {log} ---\n" + "\n".join(text)


@contextmanager
def cassandra(contact_points: tuple[tuple[str, int], ...] | None, report: Callable[[str], None]) -> Iterator[CqlSpec]:
    """A keyspace for this run: on the given cluster (dropped afterwards), or on a throwaway local Cassandra."""
    keyspace = f"chatbench_{secrets.token_hex(4)}"
    if contact_points is not None:
        try:
            yield CqlSpec(contact_points, keyspace)
        finally:
            _drop_keyspace(contact_points, keyspace)
        return
    with LocalCassandra(report=report) as database:
        yield CqlSpec((database.contact_point,), keyspace)


def _drop_keyspace(contact_points: tuple[tuple[str, int], ...], keyspace: str) -> None:
    cluster = ScyllaCluster.connect(contact_points, keyspace, replication_factor=1)
    try:
        cluster.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    finally:
        cluster.shutdown()


def raise_open_files_limit() -> None:
    """Thousands of sockets: the soft limit up to the hard one, for us and the processes we start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 65536) if hard == resource.RLIM_INFINITY else hard, hard))


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
