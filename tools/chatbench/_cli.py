"""The command line of bin/chatbench."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from storage.config import parse_contact_points

from ._bench import Settings, run
from ._params import SCENARIOS, SIZES, params_for

EPILOG = """\
examples:
  chatbench all                          every scenario, quick sizes, embedded store (a few minutes)
  chatbench all --size full --store both the sizes the targets are stated at, on both stores
  chatbench pingpong fanout --set fanout.senders=5
  chatbench throughput --url ws://host:8765/v1   a node that is already running (accounts via register/login)
  chatbench abuse --set abuse.guessers=50        innocent pairs alone, then beside each kind of hostile client
  chatbench push --set push.recipients=500       offline recipients with Web Push targets on a local push service

Every scenario but abuse and push also runs, in the same invocation and with the same
load generator, against a bare trio-websocket server; its report gives the
ratio node / echo for every number. abuse compares the innocent pairs beside
hostile clients with the same pairs alone. Results go to OUT/results.json,
OUT/*.png and tables on stdout. See docs/benchmarks.rst.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbench",
        description="Load generator of the chat service, with the stack's own limit measured beside it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO", choices=("all", *SCENARIOS),
                        help=f"all, or some of: {', '.join(SCENARIOS)}")
    parser.add_argument("--size", choices=tuple(SIZES), default="quick",
                        help="smoke (seconds), quick (default, minutes) or full (the targets' sizes)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SCENARIO.FIELD=VALUE",
                        help="override one size, e.g. --set idle.devices=5000 (repeatable)")
    parser.add_argument("--store", choices=("embedded", "cassandra", "both"), default="embedded",
                        help="the store of the node the bench starts (cassandra: a throwaway local one)")
    parser.add_argument("--cql", metavar="HOST:PORT,...",
                        help="with --store cassandra/both: use this cluster (a keyspace of its own, dropped after)")
    parser.add_argument("--url", help="measure the node at this URL instead of starting one")
    parser.add_argument("--node-pid", type=int, help="with --url: the node's pid on this machine, to read its CPU and memory")
    parser.add_argument("--workers", type=int, default=2,
                        help="load-generating processes (default 2: the load shares this machine's cores with the node)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="output directory (default bench-results)")
    parser.add_argument("--profile", action="store_true",
                        help="record every measured window of the servers with py-spy (pip install py-spy)")
    parser.add_argument("--py-spy", default="py-spy", metavar="PATH", help="the py-spy executable for --profile")
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    scenarios = SCENARIOS if "all" in args.scenarios else tuple(dict.fromkeys(args.scenarios))
    try:
        params = params_for(args.size, args.overrides)
        cql = parse_contact_points(args.cql) if args.cql else None
    except ValueError as error:
        parser.error(str(error))
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.node_pid is not None and args.url is None:
        parser.error("--node-pid goes with --url")
    stores = ("embedded", "cassandra") if args.store == "both" else (args.store,)
    settings = Settings(
        scenarios=scenarios,
        size=args.size,
        params=params,
        stores=stores,
        cql=cql,
        url=args.url,
        node_pid=args.node_pid,
        workers=args.workers,
        out=args.out,
        py_spy=args.py_spy if args.profile else None,
        command=tuple(sys.argv if argv is None else ["chatbench", *argv]),
    )
    # SIGTERM (a CI timeout, a kill) unwinds like Ctrl-C, so the servers and
    # workers are stopped in order; and a shell that started us in the
    # background with SIGINT ignored does not make Ctrl-C a no-op.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run(settings)
    except KeyboardInterrupt:
        print("\nchatbench: interrupted", file=sys.stderr)
        return 130
