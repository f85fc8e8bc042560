"""`bin/chatnode` as an operator runs it: a real process on real sockets.

A node prints one line when it listens; everything else the tests learn
from the process they learn from its output, its exit status and its socket,
as an operator or a supervisor (systemd, Kubernetes) would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio
from attrs import define, field, frozen

REPO = Path(__file__).resolve().parents[2]
CHATNODE = REPO / "bin" / "chatnode"

LISTENING = re.compile(r"chatnode: node (?P<node>\d+) listening on (?P<url>wss?://\S+/v1), store (?P<store>.+)")

#: How every command begins its one line on stderr when the store is down.
UNAVAILABLE = "chatnode: store unavailable: "

#: Seconds a node gets to print that it listens (a CQL store is slow to connect on 2 cores).
START_TIMEOUT = 60.0


def command(*args: str) -> list[str]:
    return [sys.executable, str(CHATNODE), *args]


def environment() -> dict[str, str]:
    """The test's own environment, so the child finds the same packages (and the same CHAT_* settings)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@frozen
class Finished:
    """A chatnode command that ran to its end."""

    status: int
    stdout: str
    stderr: str


async def run(*args: str, cwd: Path, timeout: float = START_TIMEOUT) -> Finished:
    """Run a chatnode command to its end (a hang is a failure, not a wait)."""
    with trio.fail_after(timeout):
        done = await trio.run_process(
            command(*args), cwd=cwd, env=environment(), capture_stdout=True, capture_stderr=True, check=False
        )
    return Finished(done.returncode, done.stdout.decode(), done.stderr.decode())


@define(eq=False)
class _Lines:
    """The lines of one of the child's output streams, as they come."""

    lines: list[str] = field(factory=list)
    ended: bool = False
    _changed: trio.lowlevel.ParkingLot = field(factory=trio.lowlevel.ParkingLot)

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        partial = b""
        async for chunk in stream:
            partial += chunk
            *complete, partial = partial.split(b"\n")
            self.lines.extend(line.decode() for line in complete)
            self._changed.unpark_all()
        if partial:
            self.lines.append(partial.decode())
        self.ended = True
        self._changed.unpark_all()

    async def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """The first line matching `pattern`; AssertionError if the stream ends without one."""
        while True:
            for line in self.lines:
                if match := pattern.fullmatch(line):
                    return match
            if self.ended:
                raise AssertionError(f"no line matching {pattern.pattern!r} in {self.lines!r}")
            await self._changed.park()

    async def wait_ended(self) -> None:
        while not self.ended:
            await self._changed.park()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@define(eq=False)
class Serving:
    """A `chatnode serve` process that has said where it listens."""

    process: trio.Process
    stdout: _Lines
    stderr: _Lines
    url: str = ""
    node: int = 0
    store: str = ""

    @property
    def address(self) -> str:
        """host:port, as the node's membership row has it."""
        return self.url.partition("://")[2].removesuffix("/v1")

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the node and wait for it to exit (bounded: a hang fails); its exit status."""
        self.process.send_signal(signum)
        with trio.fail_after(timeout):
            status = await self.process.wait()
            # Every line it wrote before exiting, for the caller to read.
            await self.stdout.wait_ended()
            await self.stderr.wait_ended()
        return status


@asynccontextmanager
async def serving(args: Sequence[str], *, cwd: Path) -> AsyncIterator[Serving]:
    """Start `chatnode serve ARGS` and wait for its listening line; stop it on exit if it still runs."""
    async with trio.open_nursery() as nursery:
        process = await trio.lowlevel.open_process(
            command("serve", *args), cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            node = Serving(process, _Lines(), _Lines())
            nursery.start_soon(node.stdout.pump, process.stdout)
            nursery.start_soon(node.stderr.pump, process.stderr)
            with trio.fail_after(START_TIMEOUT):
                try:
                    listening = await node.stdout.wait_for(LISTENING)
                except AssertionError:
                    await node.stderr.wait_ended()
                    raise AssertionError(f"chatnode serve did not start: {node.stderr.lines!r}") from None
            node.url, node.store = listening["url"], listening["store"]
            node.node = int(listening["node"])
            yield node
        finally:
            with trio.CancelScope(shield=True):
                if process.returncode is None:
                    process.kill()
                    await process.wait()


def assert_status(done: Finished, store: str, nodes: Sequence[Serving], *, started_after: int) -> None:
    """`status` succeeded and listed the store and exactly `nodes`, by id, each at its address and start time."""
    assert done.status == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [f"store: {store}", f"live nodes: {len(nodes)}"], lines
    assert len(lines) == 2 + len(nodes), lines
    for line, node in zip(lines[2:], sorted(nodes, key=lambda node: node.node)):
        listed = re.fullmatch(rf"  node {node.node} at {re.escape(node.address)}, up since (\d+) ms", line)
        assert listed, line
        assert started_after <= int(listed[1]) <= wall_clock_ms(), "its start time, in ms since the epoch"


def assert_one_line_error(stderr: str) -> None:
    """The store's error as an operator should see it: one line, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(UNAVAILABLE), stderr
