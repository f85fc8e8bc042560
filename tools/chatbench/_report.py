"""What a run found, as a terminal table and as JSON.

Every scenario is measured twice in the same run by the same load
generator: against the chat node (`node`) and against the bare
trio-websocket server (`echo`). Each metric is reported for both with its
ratio, node / echo, whatever the metric: for a rate 0.4 means 40 % of what
the transport alone could carry; for a latency or a memory size 3.0 means
three times the transport's.
"""

from __future__ import annotations

import math
from typing import Any

from attrs import asdict, define, field, frozen

from ._params import TARGETS, Params, Target


@frozen
class MetricDef:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"


@define
class Side:
    """One server's outcome in one scenario.

    `metrics` are the scenario's numbers (all positive when it worked);
    `resources` what the processes used (CPU as a share of one core, memory);
    `counts` what went wrong or how much there was (may be zero); `cdf_ms`
    and `rates` the series behind the plots; `notes` what the numbers alone
    do not say (devices that failed).
    """

    metrics: dict[str, float] = field(factory=dict)
    resources: dict[str, float] = field(factory=dict)
    counts: dict[str, int] = field(factory=dict)
    cdf_ms: list[float] = field(factory=list)
    rates: list[float] = field(factory=list)
    notes: list[str] = field(factory=list)


@define
class ScenarioReport:
    scenario: str
    store: str  # "embedded", "cassandra", or "url" for a node the bench did not start
    params: Params
    metric_defs: tuple[MetricDef, ...]
    node: Side | None = None
    echo: Side | None = None
    error: str | None = None

    def targets(self) -> list[Target]:
        return [t for t in TARGETS if t.scenario == self.scenario and t.store == self.store]

    def to_json(self) -> dict[str, Any]:
        metrics = []
        for definition in self.metric_defs:
            node = _value(self.node, definition.key)
            echo = _value(self.echo, definition.key)
            entry: dict[str, Any] = {
                **asdict(definition),
                "node": node,
                "echo": echo,
                "ratio": node / echo if node is not None and echo else None,
                "targets": [],
            }
            for target in self.targets():
                if target.metric == definition.key:
                    measured = entry["ratio"] if target.on_ratio else node
                    entry["targets"].append(
                        {
                            "op": target.op,
                            "value": target.value,
                            "on": "ratio" if target.on_ratio else "node",
                            "describe": target.describe(),
                            "at_size": target.sized(self.params),
                            "met": None if measured is None else target.met(measured),
                        }
                    )
            metrics.append(entry)
        return {
            "scenario": self.scenario,
            "store": self.store,
            "params": asdict(self.params),
            "metrics": metrics,
            "node": None if self.node is None else asdict(self.node),
            "echo": None if self.echo is None else asdict(self.echo),
            "error": self.error,
        }


def _value(side: Side | None, key: str) -> float | None:
    if side is None:
        return None
    value = side.metrics.get(key)
    return value if value is not None and math.isfinite(value) else None


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1f}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(reports: list[dict[str, Any]]) -> str:
    """The terminal table: one line per metric, target and verdict beside it."""
    header = f"{'scenario':11} {'store':10} {'metric':28} {'node':>10} {'echo':>10} {'ratio':>7}  {'target':16} verdict"
    lines = [header, "-" * len(header)]
    for report in reports:
        first = True
        name = f"{report['scenario']:11} {report['store']:10}"
        if report["error"]:
            lines.append(f"{name} FAILED: {report['error'].splitlines()[-1]}")
            continue
        for metric in report["metrics"]:
            label = f"{metric['label']} ({metric['unit']})" if metric["unit"] else metric["label"]
            ratio = "-" if metric["ratio"] is None else f"{metric['ratio']:.2f}"
            targets = metric["targets"] or [None]
            for target in targets:
                if target is None:
                    describe, verdict = "", ""
                else:
                    describe = target["describe"]
                    verdict = {True: "met", False: "MISSED", None: "-"}[target["met"]]
                    if not target["at_size"]:
                        verdict += " (below target size)"
                lines.append(
                    f"{name if first else ' ' * len(name)} {label:28} "
                    f"{_number(metric['node'], metric['unit']):>10} {_number(metric['echo'], metric['unit']):>10} "
                    f"{ratio:>7}  {describe:16} {verdict}".rstrip()
                )
                first = False
                label = ""
    return "\n".join(lines)


def describe_size(scenario: str, params: dict[str, Any]) -> str:
    """The size of a run in words, as the targets state it."""
    match scenario:
        case "pingpong":
            return f"{params['pairs']} pairs"
        case "throughput":
            return f"{params['pairs']} pairs x {params['in_flight']} in flight"
        case "fanout":
            return f"{params['groups']} groups of {params['members']}, {params['senders']} senders each"
        case "idle":
            return f"{params['devices']:,} devices"
        case "storm":
            return f"{params['devices']:,} devices, {params['missed']} missed each"
    return ""


def _rst_table(caption: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """A csv-table directive: unlike a simple table, it allows empty first cells."""

    def line(cells: list[str]) -> str:
        return ", ".join('"' + cell.replace('"', '""') + '"' for cell in cells)

    return [f".. csv-table:: {caption}", f"   :header: {line(header)}", "", *(f"   {line(row)}" for row in rows), ""]


def format_rst(document: dict[str, Any]) -> str:
    """The measured tables as reStructuredText, ready for docs/benchmarks.rst."""
    machine = document["machine"]
    out = [
        f"Measured {document['started']} (``{' '.join(document['command'])}``): size ``{document['size']}``, "
        f"{document['workers']} load workers, load average {machine['load_average_start']:.1f} before and "
        f"{machine.get('load_average_end', 0.0):.1f} after, fsync p50 {machine['fsync_ms']['p50']:.2f} ms.",
        "",
    ]
    stores = list(dict.fromkeys(report["store"] for report in document["scenarios"]))
    for store in stores:
        reports = [r for r in document["scenarios"] if r["store"] == store]
        title = f"{store} store" if store != "url" else "the node at --url"
        rows = []
        for report in reports:
            size = describe_size(report["scenario"], report["params"])
            if report["error"]:
                rows.append([report["scenario"], size, "failed: " + report["error"].strip().splitlines()[-1][:60], "", "", "", "", ""])
                continue
            for index, metric in enumerate(report["metrics"]):
                label = f"{metric['label']} ({metric['unit']})" if metric["unit"] else metric["label"]
                target = metric["targets"][0] if metric["targets"] else None
                verdict = ""
                if target is not None:
                    verdict = {True: "met", False: "**missed**", None: "-"}[target["met"]]
                    if not target["at_size"]:
                        verdict += " (smaller than the target's size)"
                ratio = "-" if metric["ratio"] is None else f"{metric['ratio']:.2f}"
                rows.append([
                    report["scenario"] if index == 0 else "", size if index == 0 else "", label,
                    target["describe"] if target else "", _number(metric["node"], metric["unit"]),
                    _number(metric["echo"], metric["unit"]), ratio, verdict,
                ])  # fmt: skip
        out += _rst_table(
            title[0].upper() + title[1:], ["scenario", "size", "metric", "target", "node", "echo", "ratio", "verdict"], rows
        )
        resource_rows = []
        for report in reports:
            node, echo = report["node"] or {}, report["echo"] or {}
            nr, er = node.get("resources", {}), echo.get("resources", {})
            resource_rows.append([
                report["scenario"],
                _number(nr.get("server_cpu_pct"), "%"), _number(nr.get("server_loop_cpu_pct"), "%"),
                _number(nr.get("load_cpu_pct"), "%"), _number(nr.get("others_cpu_pct"), "%"),
                _number(er.get("server_cpu_pct"), "%"), _number(er.get("load_cpu_pct"), "%"),
                _number(er.get("others_cpu_pct"), "%"),
            ])  # fmt: skip
        out += _rst_table(
            f"CPU during the measured windows, {title}, % of one core",
            ["scenario", "node", "node loop", "load (node run)", "others (node run)", "echo", "load (echo run)",
             "others (echo run)"],
            resource_rows,
        )  # fmt: skip
    return "\n".join(out)
