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
