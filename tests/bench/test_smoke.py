"""bin/chatbench works end to end: every scenario, seconds long, on a node it starts itself.

No timing is asserted (speed is what the bench reports, not what a test
checks); what is checked is that each scenario ran against both servers,
that every number it reports is a finite number of the right sign, that
nothing was lost on the way, and that the plots were drawn.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..operator.chatnode import REPO, environment

CHATBENCH = REPO / "bin" / "chatbench"
WEBSOCKET_SCENARIOS = ("pingpong", "throughput", "fanout", "idle", "storm")
PLOTS = ("latency-cdf.png", "throughput.png", "idle.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("bench")
    finished = subprocess.run(
        [sys.executable, str(CHATBENCH), "all", "--size", "smoke", "--out", str(out)],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return finished, out


@pytest.fixture(scope="module")
def document(run: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    finished, out = run
    assert finished.returncode == 0, f"chatbench failed:\n{finished.stdout}\n{finished.stderr}"
    return json.loads((out / "results.json").read_text())


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _scenario(document: dict[str, Any], name: str) -> dict[str, Any]:
    [report] = [r for r in document["scenarios"] if r["scenario"] == name]
    return report


def test_every_scenario_ran_on_the_embedded_store_without_error(document: dict[str, Any]) -> None:
    assert [r["scenario"] for r in document["scenarios"]] == list(WEBSOCKET_SCENARIOS)
    for report in document["scenarios"]:
        assert report["store"] == "embedded"
        assert report["error"] is None, report["error"]
        assert report["node"] is not None and report["echo"] is not None


@pytest.mark.parametrize("name", WEBSOCKET_SCENARIOS)
def test_every_metric_is_positive_for_both_servers_with_its_ratio(document: dict[str, Any], name: str) -> None:
    report = _scenario(document, name)
    assert report["metrics"], "a scenario reports at least one metric"
    for metric in report["metrics"]:
        assert {"key", "label", "unit", "better", "node", "echo", "ratio", "targets"} <= metric.keys()
        assert _positive(metric["node"]), metric
        assert _positive(metric["echo"]), metric
        assert metric["ratio"] == pytest.approx(metric["node"] / metric["echo"])
        for target in metric["targets"]:
            assert target["at_size"] is False, "smoke sizes are below every target's size"
            assert isinstance(target["met"], bool)


@pytest.mark.parametrize("name", WEBSOCKET_SCENARIOS)
@pytest.mark.parametrize("server", ["node", "echo"])
def test_resources_and_counts_are_well_formed(document: dict[str, Any], name: str, server: str) -> None:
    side = _scenario(document, name)[server]
    for key in ("server_cpu_pct", "server_loop_cpu_pct", "load_cpu_pct", "window_s", "server_rss_mb"):
        assert math.isfinite(side["resources"][key]) and side["resources"][key] >= 0, (key, side["resources"])
    assert all(isinstance(v, int) and v >= 0 for v in side["counts"].values()), side["counts"]
    assert side["notes"] == []


@pytest.mark.parametrize("name", ["pingpong", "throughput", "fanout"])
@pytest.mark.parametrize("server", ["node", "echo"])
def test_messages_all_arrived_and_their_series_are_drawn_from_samples(
    document: dict[str, Any], name: str, server: str
) -> None:
    side = _scenario(document, name)[server]
    counts = side["counts"]
    assert counts["delivered"] > 0 and counts["completed"] > 0
    assert counts["errors"] == 0 and counts["incomplete"] == 0 and counts["lost_links"] == 0
    assert side["cdf_ms"] == sorted(side["cdf_ms"]) and _positive(side["cdf_ms"][-1])
    assert side["rates"] and all(rate >= 0 for rate in side["rates"])


@pytest.mark.parametrize("server", ["node", "echo"])
def test_every_storm_device_resynced_what_it_missed(document: dict[str, Any], server: str) -> None:
    report = _scenario(document, "storm")
    counts = report[server]["counts"]
    assert counts["devices"] == report["params"]["devices"]
    assert counts["failures"] == 0 and counts["short"] == 0


def test_idle_devices_all_stayed_connected(document: dict[str, Any]) -> None:
    report = _scenario(document, "idle")
    for server in ("node", "echo"):
        counts = report[server]["counts"]
        assert counts["devices"] == report["params"]["devices"] and counts["lost_links"] == 0


def test_the_runtime_benchmark_ran_through_chatbench(document: dict[str, Any]) -> None:
    runtime = document["runtime"]
    assert runtime["exit_status"] in (0, 1)  # 1: a target missed, which is a measurement, not a failure
    assert "ask round trips" in runtime["output"]


def test_the_run_records_its_machine_and_settings(document: dict[str, Any]) -> None:
    machine = document["machine"]
    assert machine["cores"] >= 1 and _positive(machine["fsync_ms"]["p50"])
    assert document["size"] == "smoke" and document["workers"] >= 1
    assert "--send-rate" in document["node_flags"]


def test_the_plots_are_pngs_and_the_table_is_printed(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    finished, out = run
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    for name in WEBSOCKET_SCENARIOS:
        assert f"\n{name} " in finished.stdout
