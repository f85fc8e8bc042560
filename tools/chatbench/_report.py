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

from ._params import ABUSE_OUTCOMES, ABUSE_PARTS, COMMON, TARGETS, Params, Target


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


_TERMINAL_VERDICTS = {True: "met", False: "MISSED", None: "-"}
_RST_VERDICTS = {True: "met", False: "**missed**", None: "-"}


def format_table(reports: list[dict[str, Any]]) -> str:
    """The terminal table: one line per metric, target and verdict beside it; abuse's own tables after it."""
    header = f"{'scenario':11} {'store':10} {'metric':28} {'node':>10} {'echo':>10} {'ratio':>7}  {'target':16} verdict"
    abuse = [r for r in reports if r["scenario"] == "abuse" and not r["error"]]
    compared = [r for r in reports if r not in abuse]
    lines = [header, "-" * len(header)] if compared else []
    for report in compared:
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
                    verdict = _TERMINAL_VERDICTS[target["met"]]
                    if not target["at_size"]:
                        verdict += " (below target size)"
                lines.append(
                    f"{name if first else ' ' * len(name)} {label:28} "
                    f"{_number(metric['node'], metric['unit']):>10} {_number(metric['echo'], metric['unit']):>10} "
                    f"{ratio:>7}  {describe:16} {verdict}".rstrip()
                )
                first = False
                label = ""
    for report in abuse:
        lines += ["", f"abuse/{report['store']}: {describe_size('abuse', report['params'])}"]
        for header, rows in _abuse_tables(report):
            lines += _columns([header, *rows])
    return "\n".join(lines)


def _columns(rows: list[list[str]]) -> list[str]:
    """A header and rows as aligned text: columns of numbers right-aligned, the others left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = [i for i in range(len(widths)) if all(_numeric(row[i]) for row in rows[1:])]
    return [
        "  " + "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]  # fmt: skip


def _numeric(cell: str) -> bool:
    return cell in ("", "-") or cell.replace(",", "").replace(".", "").isdigit()


_ABUSE_HARM = ["part", "clients", "p50 ms", "p99 ms", "p99/alone", "login p50", "login max", "RSS MiB", "+RSS MiB",
               "node CPU %", "others CPU %", "outcome"]  # fmt: skip
_ABUSE_DEEDS = ["part", "what the hostile clients got done", "target", "measured", "verdict"]


def _abuse_tables(
    report: dict[str, Any], verdicts: dict[bool | None, str] = _TERMINAL_VERDICTS
) -> list[tuple[list[str], list[list[str]]]]:
    """Abuse's two tables: what each part cost the innocent pairs and the node; what its attack did, and the targets."""
    metrics = {metric["key"]: metric for metric in report["metrics"]}
    counts = (report["node"] or {}).get("counts", {})
    resources = (report["node"] or {}).get("resources", {})
    common = {measure.suffix for measure in COMMON}
    harm, deeds = [], []
    for part in ABUSE_PARTS:
        mine = [m for key, m in metrics.items() if key.startswith(f"{part.key}_")]

        def value(suffix: str, unit: str = "") -> str:
            metric = metrics.get(part.metric(suffix))
            return _number(None if metric is None else metric["node"], unit)

        outcome = next((words for key, words in ABUSE_OUTCOMES.items() if counts.get(part.metric(key))), "not run")
        clients = "-" if part.clients is None else f"{report['params'][part.clients]:,}"
        harm.append([
            part.label, clients, value("p50"), value("p99"), value("p99_x"), value("login_p50"), value("login_max"),
            value("rss_mb"), value("rss_growth_mb"), value("node_cpu_pct", "%"),
            _number(resources.get(part.metric("others_cpu_pct")), "%"), outcome,
        ])  # fmt: skip
        own = [m for m in mine if m["key"][len(part.key) + 1 :] not in common and m["node"] is not None]
        done = "; ".join(f"{_amount(m['node'], m['unit'])} {_unprefixed(m['label'])}" for m in own)
        targeted = [(m, target) for m in mine for target in m["targets"]] or [(None, None)]
        for metric, target in targeted:
            if metric is None or target is None:
                deeds.append([part.label, done or "-", "", "", ""])
                continue
            verdict = verdicts[target["met"]]
            if target["met"] is None and outcome != ABUSE_OUTCOMES["completed"]:
                verdict += f" ({outcome.lower()})"
            elif not target["at_size"]:
                verdict += " (below target size)"
            measured = "-" if metric["node"] is None else _amount(metric["node"], metric["unit"])
            deeds.append([part.label, done or "-", f"{_unprefixed(metric['label'])} {target['describe']}", measured, verdict])
    return [(_ABUSE_HARM, harm), (_ABUSE_DEEDS, deeds)]


def _amount(value: float, unit: str) -> str:
    """A number with its unit; a count (no unit, integral) as a whole number."""
    if not unit and float(value).is_integer():
        return f"{int(value):,}"
    return f"{_number(value, unit)}{' ' + unit if unit else ''}"


def _unprefixed(label: str) -> str:
    """A metric's label without its part's name (`never-reading: syncs sent` -> `syncs sent`)."""
    return label.partition(": ")[2] or label


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
        case "push":
            return (
                f"{params['recipients']:,} offline Web Push recipients, {params['rounds']} rounds of one message each;"
                f" {params['outage']:g} s of push service outage"
            )
        case "abuse":
            return (
                f"{params['pairs']} innocent pairs at {1 / params['interval']:g} messages/s per sender beside each "
                f"kind of hostile client in turn, {params['duration']:g} s windows; the node at its own limits"
            )
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
        abuse = [r for r in reports if r["scenario"] == "abuse" and not r["error"]]
        reports = [r for r in reports if r not in abuse]
        if reports:
            out += _compared_tables(title, reports)
        for report in abuse:
            out += [f"Abuse, {title}: {describe_size('abuse', report['params'])}.", ""]
            captions = [f"abuse, {title}: what each kind of hostile client cost", f"abuse, {title}: what the attacks did"]
            for caption, (header, rows) in zip(captions, _abuse_tables(report, _RST_VERDICTS)):
                out += _rst_table(caption, header, rows)
    return "\n".join(out)


def _compared_tables(title: str, reports: list[dict[str, Any]]) -> list[str]:
    """The scenarios measured against the baseline: their metrics, then the CPU of their windows."""
    out: list[str] = []
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
                verdict = _RST_VERDICTS[target["met"]]
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
    return out
