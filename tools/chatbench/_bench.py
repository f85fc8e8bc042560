"""One run of the bench: every chosen scenario on every chosen store, then the report.

For each store (an embedded SQLite file, or a keyspace on a Cassandra
cluster) and each scenario: make the accounts, start a fresh node on that
store, run the scenario against it, stop it; start a fresh baseline server,
run the same scenario against it, stop it. The abuse scenario instead
starts a node of its own for each of its sub-runs, and has no baseline run.
Then the table, the JSON and the plots. A scenario that fails is reported
as failed and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import traceback
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from ._abuse import ABUSE, SubRunKind
from ._accounts import AccountSource, StoreSeeder, WireSignup
from ._drivers import KINDS, Context, Endpoint, Kind
from ._fleet import Fleet
from ._machine import describe, summary_line
from ._params import Params, Runtime
from ._plots import draw_all
from ._profile import Profiler
from ._progress import ProgressBar
from ._push import PUSH
from ._report import ScenarioReport, format_rst, format_table
from ._runtime import run_runtime
from ._servers import (
    PEER_LIMIT_FLAGS,
    SEND_LIMIT_FLAGS,
    EmbeddedSpec,
    GivenNode,
    Node,
    StoreSpec,
    cassandra,
    echo_command,
    node_command,
    open_files_limit,
    raise_open_files_limit,
    running,
)

RESULTS = "results.json"
RESULTS_RST = "results.rst"  # the tables of docs/benchmarks.rst

#: Every scenario that speaks WebSocket to a node, in the order they run.
SCENARIO_KINDS: dict[str, Kind | SubRunKind] = {**KINDS, ABUSE.name: ABUSE, PUSH.name: PUSH}


@frozen
class Settings:
    scenarios: tuple[str, ...]
    size: str
    params: dict[str, Params]
    stores: tuple[str, ...]
    cql: tuple[tuple[str, int], ...] | None
    url: str | None
    node_pid: int | None
    workers: int
    out: Path
    py_spy: str | None
    command: tuple[str, ...]


def run(settings: Settings) -> int:
    """Run everything; 0 if every scenario ran (missed targets are reported, not errors), else 1."""
    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit()
    bar = ProgressBar()
    prefix = f"b{secrets.token_hex(3)}"
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    machine = describe(out)
    bar.note(f"chatbench: {summary_line(machine)}; {settings.workers} load workers; size {settings.size}")
    profiler = Profiler(settings.py_spy, out / "profiles") if settings.py_spy else None
    reports: list[ScenarioReport] = []
    websocket_scenarios = [name for name in settings.scenarios if name in SCENARIO_KINDS]
    if websocket_scenarios:
        with Fleet(settings.workers, bar.count) as fleet:
            ctx = Context(fleet, bar, profiler)
            for store_name, store in _stores(settings, out, prefix, bar):
                done = len(reports)
                try:
                    with store as (spec, source):
                        for name in websocket_scenarios:
                            reports.append(
                                _scenario(ctx, name, settings.params[name], store_name, spec, source, settings)
                            )
                except Exception:
                    # The store did not start (no Java, say): its scenarios fail, the others stand.
                    error = traceback.format_exc()
                    bar.note(f"chatbench: the {store_name} store failed:\n{error}")
                    ran = {report.scenario for report in reports[done:]}
                    for name in websocket_scenarios:
                        if name not in ran:
                            params = settings.params[name]
                            metrics = SCENARIO_KINDS[name].metrics
                            reports.append(ScenarioReport(name, store_name, params, metrics, error=error))
    runtime = None
    if "runtime" in settings.scenarios:
        params = settings.params["runtime"]
        assert isinstance(params, Runtime)
        bar.phase("runtime: the actor runtime's micro-benchmark")
        runtime = run_runtime(params.argv)
    bar.close()
    machine["load_average_end"] = os.getloadavg()[0]
    document: dict[str, Any] = {
        "chatbench": 1,
        "started": started,
        "command": list(settings.command),
        "size": settings.size,
        "workers": settings.workers,
        "open_files_limit": open_files_limit(),
        "node_flags": [*SEND_LIMIT_FLAGS, *PEER_LIMIT_FLAGS],
        "machine": machine,
        "scenarios": [report.to_json() for report in reports],
        "runtime": None if runtime is None else attrs.asdict(runtime),
    }
    (out / RESULTS).write_text(json.dumps(document, indent=1) + "\n")
    (out / RESULTS_RST).write_text(format_rst(document))
    if reports:
        print(format_table(document["scenarios"]))
    for report in document["scenarios"]:
        for server in ("node", "echo"):
            for note in (report[server] or {}).get("notes", []):
                print(f"note: {report['scenario']}/{report['store']} {server}: {note}")
    if runtime is not None:
        print(f"\nruntime ({' '.join(runtime.argv) or 'defaults'}):\n{runtime.output.rstrip()}")
    plots = draw_all(document, out)
    print(f"\nchatbench: wrote {out / RESULTS}" + "".join(f", {p.name}" for p in plots))
    return 1 if any(report.error for report in reports) else 0


StoreContext = AbstractContextManager[tuple[StoreSpec | None, AccountSource]]


def _stores(settings: Settings, out: Path, prefix: str, bar: ProgressBar) -> Iterator[tuple[str, StoreContext]]:
    """Each store to run the scenarios on, with where its accounts come from; opened when entered."""
    if settings.url is not None:
        yield "url", nullcontext((None, WireSignup(settings.url, prefix)))
        return
    for store in settings.stores:
        if store == "embedded":
            yield store, _seeded(_embedded_store(out / "store"), prefix)
        else:
            bar.phase("starting Cassandra" if settings.cql is None else "connecting to Cassandra")
            yield store, _seeded(cassandra(settings.cql, bar.note), prefix)


@contextmanager
def _seeded(store: AbstractContextManager[StoreSpec], prefix: str) -> Iterator[tuple[StoreSpec | None, AccountSource]]:
    with store as spec:
        yield spec, StoreSeeder(spec.config(), prefix)


@contextmanager
def _embedded_store(directory: Path) -> Iterator[EmbeddedSpec]:
    """A fresh SQLite file on the output's disk (a real disk: each message is an fsync), removed afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"chatbench-{secrets.token_hex(4)}.db"
    try:
        yield EmbeddedSpec(path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty: another run may be using it


@contextmanager
def _node(spec: StoreSpec | None, settings: Settings, name: str, flags: Sequence[str]) -> Iterator[Node]:
    """A fresh node on `spec` for one run (logs/NAME.log), or the one at --url."""
    if spec is None:
        assert settings.url is not None
        yield GivenNode(settings.url, settings.node_pid)
        return
    with running("chatnode", node_command(spec, list(flags)), settings.out / "logs" / f"{name}.log") as node:
        yield node


def _scenario(
    ctx: Context, name: str, params: Params, store: str, spec: StoreSpec | None, source: AccountSource,
    settings: Settings,
) -> ScenarioReport:  # fmt: skip
    kind = SCENARIO_KINDS[name]
    report = ScenarioReport(name, store, params, kind.metrics)
    logs = settings.out / "logs"
    try:
        count = kind.accounts(params)
        ctx.bar.phase(f"{name}/{store}: {count:,} accounts", total=count)
        accounts = source.accounts(count, kind.label, lambda done, _total: ctx.bar.update(done))
        ctx.name = f"{name}-{store}-node"
        if isinstance(kind, SubRunKind):
            # Its own flags only (abuse: none, the node's limits are part of what it measures).
            report.node = kind.run(ctx, partial(_node, spec, settings), params, accounts)
        else:
            with _node(spec, settings, ctx.name, [*SEND_LIMIT_FLAGS, *PEER_LIMIT_FLAGS, *kind.node_flags(params)]) as node:
                report.node = kind.run(ctx, Endpoint(node.url, node.pid), True, params, accounts)
                node.check_alive()
            ctx.name = f"{name}-{store}-echo"
            with running("echo server", echo_command(), logs / f"{ctx.name}.log") as echo:
                report.echo = kind.run(ctx, Endpoint(echo.url, echo.pid), False, params, ())
                echo.check_alive()
    except Exception:
        report.error = traceback.format_exc()
        ctx.bar.note(f"chatbench: {name}/{store} failed:\n{report.error}")
        ctx.fleet.recover()
    ctx.bar.note(_headline(report.to_json()))
    return report


def _headline(report: dict[str, Any]) -> str:
    if report["error"]:
        return f"  {report['scenario']}/{report['store']}: FAILED"
    parts = []
    for metric in report["metrics"][:3]:
        if metric["node"] is not None:
            ratio = "" if metric["ratio"] is None else f" ({metric['ratio']:.2f}x echo)"
            parts.append(f"{metric['label']} {metric['node']:,.2f}{metric['unit'] and ' ' + metric['unit']}{ratio}")
    return f"  {report['scenario']}/{report['store']}: " + ", ".join(parts)

