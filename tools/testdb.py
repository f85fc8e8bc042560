"""Run a command against a throwaway Cassandra: `testdb run -- pytest`.

`testdb fetch` downloads the server once per machine (Maven Central, into
${CHAT_TESTDB_CACHE:-${XDG_CACHE_HOME:-~/.cache}/chat-testdb}). `testdb run --
CMD...` starts one node on loopback, runs CMD with CHAT_TEST_CQL=127.0.0.1:PORT,
then stops the node and deletes its data however CMD ends, and exits with CMD's
status. With CHAT_TEST_CQL already set (an existing cluster, e.g. a real
ScyllaDB) it starts nothing and only runs CMD.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from types import FrameType

from .localcassandra import (
    CQL_ENV,
    LocalCassandra,
    TestDatabaseError,
    contact_points_from_env,
    fetch,
)


class _Terminated(Exception):
    """SIGTERM or SIGHUP arrived outside CMD's run: unwind so the node is stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated(signum)


def _run_command(command: list[str], env: dict[str, str]) -> int:
    """Run CMD to the end, passing SIGTERM/SIGHUP on; its exit status, shell-style."""
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as error:
        print(f"testdb: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
        return 127

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    # CMD shares our process group, so a Ctrl-C at the terminal reaches it
    # directly; we only wait for it to finish. Signals sent to us alone are
    # passed on so CMD can wind down before the node goes away.
    previous = {
        signum: signal.signal(signum, handler)
        for signum, handler in (
            (signal.SIGINT, signal.SIG_IGN),
            (signal.SIGTERM, forward),
            (signal.SIGHUP, forward),
        )
    }
    try:
        status = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status


def run(command: list[str]) -> int:
    if shutil.which(command[0]) is None:
        print(f"testdb: command not found: {command[0]}", file=sys.stderr)
        return 127
    if contact_points_from_env() is not None:
        print(f"testdb: using the existing cluster {CQL_ENV}={os.environ[CQL_ENV]}", file=sys.stderr)
        return _run_command(command, dict(os.environ))
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    with LocalCassandra() as database:
        host, port = database.contact_point
        return _run_command(command, {**os.environ, CQL_ENV: f"{host}:{port}"})


def main() -> int:
    parser = argparse.ArgumentParser(prog="testdb", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="subcommand", required=True)
    commands.add_parser("fetch", help="download Cassandra into the per-machine cache")
    run_parser = commands.add_parser("run", help="run CMD against a fresh local Cassandra")
    run_parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    arguments = parser.parse_args()
    try:
        if arguments.subcommand == "fetch":
            print(fetch())
            return 0
        command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
        if not command:
            run_parser.error("run needs a command: testdb run -- CMD ...")
        return run(command)
    except (TestDatabaseError, ValueError) as error:
        print(f"testdb: {error}", file=sys.stderr)
        return 1
    except _Terminated as terminated:
        print(f"testdb: stopped by {terminated}", file=sys.stderr)
        return 128 + terminated.signum
    except KeyboardInterrupt:
        print("testdb: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
