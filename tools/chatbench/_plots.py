"""PNG plots of a run, drawn from its JSON document alone (so any saved run can be drawn again).

latency-cdf.png   one panel per scenario with a latency: the CDF of every server measured
throughput.png    one panel per messaging scenario: deliveries per second over the window
idle.png          memory per idle device and the event loop's CPU, beside the baseline's
abuse.png         per kind of hostile client: the innocent pairs' latency, a real login, the node's peak RSS
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._params import ABUSE_PARTS  # noqa: E402
from ._stats import CDF_POINTS, RATE_BUCKET  # noqa: E402

LATENCY_SCENARIOS = ("pingpong", "throughput", "fanout", "storm")
RATE_SCENARIOS = ("pingpong", "throughput", "fanout")
_LATENCY_TITLES = {
    "pingpong": "pingpong: send -> receive",
    "throughput": "throughput: send -> receive",
    "fanout": "fanout: send -> each member",
    "storm": "storm: instant -> device re-synced",
}


def _series(document: dict[str, Any], scenario: str) -> list[tuple[str, dict[str, Any]]]:
    """(legend label, side) for every server measured in `scenario`, node sides first."""
    found = []
    for report in document["scenarios"]:
        if report["scenario"] != scenario or report["error"]:
            continue
        for server in ("node", "echo"):
            side = report[server]
            if side is not None:
                found.append((f"{report['store']} node" if server == "node" else f"echo ({report['store']} run)", side))
    return found


def _grid(count: int) -> tuple[plt.Figure, list[plt.Axes]]:
    columns = min(2, count)
    rows = (count + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows), squeeze=False)
    flat = list(axes.flat)
    for extra in flat[count:]:
        extra.set_visible(False)
    return figure, flat[:count]


def _caption(document: dict[str, Any]) -> str:
    machine = document["machine"]
    return (
        f"chatbench {document['started']}, size {document['size']}, {machine['cores']} cores, "
        f"load average {machine['load_average_start']:.1f}, {document['workers']} load workers"
    )


def latency_cdf(document: dict[str, Any], path: Path) -> Path | None:
    scenarios = [s for s in LATENCY_SCENARIOS if any(side["cdf_ms"] for _, side in _series(document, s))]
    if not scenarios:
        return None
    figure, axes = _grid(len(scenarios))
    for ax, scenario in zip(axes, scenarios):
        for label, side in _series(document, scenario):
            if side["cdf_ms"]:
                values = np.maximum(np.asarray(side["cdf_ms"]), 1e-3)
                ax.plot(values, CDF_POINTS[: len(values)], label=label, linestyle="--" if label.startswith("echo") else "-")
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_ylabel("fraction at or below")
        ax.set_ylim(0, 1.01)
        for level in (0.5, 0.99):
            ax.axhline(level, color="grey", linewidth=0.5)
        ax.set_title(_LATENCY_TITLES[scenario])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(_caption(document), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def throughput(document: dict[str, Any], path: Path) -> Path | None:
    scenarios = [s for s in RATE_SCENARIOS if any(side["rates"] for _, side in _series(document, s))]
    if not scenarios:
        return None
    figure, axes = _grid(len(scenarios))
    for ax, scenario in zip(axes, scenarios):
        for label, side in _series(document, scenario):
            rates = side["rates"]
            if rates:
                seconds = np.arange(len(rates)) * RATE_BUCKET
                mean = side["metrics"].get("deliveries_per_s", 0.0)
                ax.plot(
                    seconds, rates, label=f"{label}: {mean:,.0f}/s",
                    linestyle="--" if label.startswith("echo") else "-", linewidth=1,
                )  # fmt: skip
        ax.set_xlabel(f"seconds into the window ({RATE_BUCKET * 1000:.0f} ms buckets)")
        ax.set_ylabel("deliveries per second")
        ax.set_ylim(bottom=0)
        ax.set_title(scenario)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(_caption(document), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def idle(document: dict[str, Any], path: Path) -> Path | None:
    series = [(label, side) for label, side in _series(document, "idle") if side["metrics"]]
    if not series:
        return None
    figure, (memory, cpu) = plt.subplots(1, 2, figsize=(12, 4.2))
    labels = [label for label, _ in series]
    colours = ["tab:grey" if label.startswith("echo") else "tab:blue" for label in labels]
    memory.bar(labels, [side["metrics"].get("kb_per_device", 0.0) for _, side in series], color=colours)
    memory.axhline(24, color="tab:red", linewidth=1, label="target: 24 KB per device")
    memory.set_ylabel("KB per device (RSS growth / devices)")
    memory.set_title("idle: memory per connected device")
    memory.legend(fontsize=8)
    cpu.bar(labels, [side["metrics"].get("cpu_pct", 0.0) for _, side in series], color=colours)
    cpu.set_ylabel("% of one core (event loop)")
    cpu.set_title("idle: CPU while the devices only ping")
    for ax in (memory, cpu):
        ax.tick_params(axis="x", labelsize=8, rotation=15)
        ax.grid(True, axis="y", alpha=0.3)
    figure.suptitle(_caption(document), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def abuse(document: dict[str, Any], path: Path) -> Path | None:
    reports = [r for r in document["scenarios"] if r["scenario"] == "abuse" and not r["error"] and r["node"]]
    if not reports:
        return None
    figure, (latency, login, memory) = plt.subplots(1, 3, figsize=(17, 4.6))
    labels = [part.label for part in ABUSE_PARTS]
    positions = np.arange(len(labels))
    width = 0.8 / (2 * len(reports))
    for number, report in enumerate(reports):
        metrics = report["node"]["metrics"]

        def values(suffix: str) -> list[float]:
            return [metrics.get(part.metric(suffix), np.nan) for part in ABUSE_PARTS]

        offset = (2 * number - len(reports)) * width
        store = report["store"]
        latency.bar(positions + offset, values("p50"), width, label=f"{store}: p50")
        latency.bar(positions + offset + width, values("p99"), width, label=f"{store}: p99")
        login.bar(positions + offset, values("login_p50"), width, label=f"{store}: p50")
        login.bar(positions + offset + width, values("login_max"), width, label=f"{store}: max")
        memory.bar(positions + offset + width / 2, values("rss_mb"), 2 * width, label=f"{store}: peak")
    login.axhline(300, color="tab:red", linewidth=1, label="target for the guessers: 300 ms")
    latency.set_ylabel("innocent pairs' latency, ms (log scale)")
    latency.set_yscale("log")
    login.set_ylabel("a real user's login, ms")
    memory.set_ylabel("node RSS peak, MiB")
    for ax, title in ((latency, "innocent pairs: send -> receive"), (login, "a real login"), (memory, "the node's memory")):
        ax.set_xticks(positions, labels, fontsize=8, rotation=20)
        ax.set_title(f"abuse: {title}")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(_caption(document), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def draw_all(document: dict[str, Any], out: Path) -> list[Path]:
    drawn = [
        latency_cdf(document, out / "latency-cdf.png"),
        throughput(document, out / "throughput.png"),
        idle(document, out / "idle.png"),
        abuse(document, out / "abuse.png"),
    ]
    return [path for path in drawn if path is not None]
