"""bin/chatbench works end to end: every scenario, seconds long, on a node it starts itself.

No timing is asserted (speed is what the bench reports, not what a test
checks); what is checked is that each scenario ran against both servers
(abuse: every part of it, on a node of its own), that every number it
reports is a finite number of the right sign, that nothing was lost on the
way, and that the plots were drawn. Nor is any abuse target asserted: the
node may or may not be hardened; the bench must measure it either way, and
report a node it had to stop as stopped.
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
#: The scenarios measured against the baseline server too.
COMPARED_SCENARIOS = ("pingpong", "throughput", "fanout", "idle", "storm")
#: The scenarios on nodes of their own, with no baseline run.
UNCOMPARED_SCENARIOS = ("abuse", "push")
WEBSOCKET_SCENARIOS = (*COMPARED_SCENARIOS, *UNCOMPARED_SCENARIOS)
PLOTS = ("latency-cdf.png", "throughput.png", "idle.png", "abuse.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: abuse's sub-runs, and the size field that says how many hostile clients each one runs.
ABUSE_PARTS = ("alone", "never_reading", "maximal_maps", "guessers", "flood", "group_spam")
CLIENTS = {
    "never_reading": "never_reading", "maximal_maps": "map_senders", "guessers": "guessers", "flood": "flood",
    "group_spam": "spammers",
}  # fmt: skip
ABUSE_LABELS = ("alone", "never-reading", "maximal maps", "password guessers", "send flood", "group spam")

Run = tuple[subprocess.CompletedProcess[str], Path]


def _chatbench(out: Path, *args: str) -> Run:
    finished = subprocess.run(
        [sys.executable, str(CHATBENCH), *args, "--size", "smoke", "--out", str(out)],
        cwd=REPO,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    return finished, out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _chatbench(tmp_path_factory.mktemp("bench"), "all")


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """abuse with an RSS cap every node passes as it starts: the bench stops each one."""
    return _chatbench(tmp_path_factory.mktemp("capped"), "abuse", "--set", "abuse.rss_cap_mb=1")


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
        assert report["node"] is not None
        assert (report["echo"] is None) == (report["scenario"] in UNCOMPARED_SCENARIOS)


@pytest.mark.parametrize("name", COMPARED_SCENARIOS)
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


@pytest.mark.parametrize("name", COMPARED_SCENARIOS)
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


def test_the_plots_are_pngs_and_the_table_is_printed(run: Run) -> None:
    finished, out = run
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    for name in COMPARED_SCENARIOS:
        assert f"\n{name} " in finished.stdout


# -- push -------------------------------------------------------------------------------


def test_push_got_every_push_of_every_round_and_measured_the_outage(document: dict[str, Any]) -> None:
    report = _scenario(document, "push")
    params, side = report["params"], report["node"]
    assert side["counts"]["pushes"] == params["recipients"] * params["rounds"]
    assert side["counts"]["missing"] == 0 and side["counts"]["errors"] == 0
    assert side["counts"]["outage_sent"] == params["recipients"] * params["outage_messages"]
    metrics = {metric["key"]: metric for metric in report["metrics"]}
    for key, metric in metrics.items():
        assert metric["echo"] is None and metric["ratio"] is None
        if key != "outage_rss_growth_mb":
            assert _positive(metric["node"]), metric
    assert metrics["latency_p50"]["node"] <= metrics["latency_p99"]["node"] <= metrics["latency_max"]["node"]
    assert math.isfinite(metrics["outage_rss_growth_mb"]["node"])
    assert side["cdf_ms"] == sorted(side["cdf_ms"])


# -- abuse ------------------------------------------------------------------------------


def _metrics(report: dict[str, Any]) -> dict[str, float | None]:
    return {metric["key"]: metric["node"] for metric in report["metrics"]}


def test_abuse_ran_every_part_to_its_end_with_no_baseline(document: dict[str, Any]) -> None:
    report = _scenario(document, "abuse")
    counts = report["node"]["counts"]
    for part in ABUSE_PARTS:
        assert counts[f"{part}_completed"] == 1, part
    assert report["node"]["notes"] == []
    for metric in report["metrics"]:
        assert metric["echo"] is None and metric["ratio"] is None


@pytest.mark.parametrize("part", ABUSE_PARTS)
def test_abuse_reports_the_innocent_pairs_a_real_login_and_the_nodes_memory(document: dict[str, Any], part: str) -> None:
    report = _scenario(document, "abuse")
    metrics, counts = _metrics(report), report["node"]["counts"]
    for suffix in ("p50", "p99", "login_p50", "login_max", "rss_mb", "node_cpu_pct"):
        assert _positive(metrics[f"{part}_{suffix}"]), (suffix, metrics)
    assert metrics[f"{part}_p50"] <= metrics[f"{part}_p99"]  # type: ignore[operator]
    assert metrics[f"{part}_login_p50"] <= metrics[f"{part}_login_max"]  # type: ignore[operator]
    assert metrics[f"{part}_rss_growth_mb"] is not None and metrics[f"{part}_rss_growth_mb"] >= 0
    assert counts[f"{part}_innocent_delivered"] > 0
    for key in ("server_cpu_pct", "load_cpu_pct", "others_cpu_pct", "rss_ready_mb"):
        assert math.isfinite(report["node"]["resources"][f"{part}_{key}"])


@pytest.mark.parametrize("part", CLIENTS)
def test_abuse_compares_each_hostile_part_with_the_pairs_alone(document: dict[str, Any], part: str) -> None:
    report = _scenario(document, "abuse")
    metrics = _metrics(report)
    assert metrics[f"{part}_p99_x"] == pytest.approx(metrics[f"{part}_p99"] / metrics["alone_p99"])  # type: ignore[operator]
    growth = metrics[f"{part}_rss_growth_mb"] - metrics["alone_rss_growth_mb"]  # type: ignore[operator]
    assert metrics[f"{part}_rss_per_client_mb"] == pytest.approx(growth / report["params"][CLIENTS[part]])


def test_each_kind_of_hostile_client_made_its_attack(document: dict[str, Any]) -> None:
    report = _scenario(document, "abuse")
    counts = report["node"]["counts"]

    def attack(part: str, key: str) -> int:
        return counts.get(f"{part}_attack_{key}", 0)

    assert attack("never_reading", "syncs_sent") > 0
    assert attack("maximal_maps", "maps_sent") > 0 and attack("maximal_maps", "map_bytes") > 0
    assert attack("guessers", "bad_credentials") + attack("guessers", "rate_limited") > 0
    assert attack("flood", "sent") > 0 and attack("flood", "ok") > 0
    assert attack("group_spam", "sent") > 0 and attack("group_spam", "listing_pages") >= 1
    # The victim is in no channel but the spam's: its listing holds every group answered `ok`, once, and
    # perhaps some whose answer the window's end cut off, but never more than were asked for.
    assert attack("group_spam", "ok") <= attack("group_spam", "listing_channels") <= attack("group_spam", "sent")


def test_abuse_judges_its_three_targets_below_their_size(document: dict[str, Any]) -> None:
    report = _scenario(document, "abuse")
    targets = [(metric["key"], target) for metric in report["metrics"] for target in metric["targets"]]
    assert {key for key, _ in targets} == {"never_reading_rss_per_client_mb", "maximal_maps_p99_x", "guessers_login_max"}
    for _, target in targets:
        assert target["at_size"] is False and isinstance(target["met"], bool)


def test_abuse_tables_are_printed_and_written(run: Run) -> None:
    finished, out = run
    assert "\nabuse/embedded: " in finished.stdout
    rst = (out / "results.rst").read_text()
    assert "abuse, embedded store: what each kind of hostile client cost" in rst
    for label in ABUSE_LABELS:
        assert f"\n  {label} " in finished.stdout and f'"{label}"' in rst, label


def test_a_node_the_bench_stops_is_reported_so_and_the_next_part_still_runs(capped: Run) -> None:
    finished, out = capped
    assert finished.returncode == 0, f"chatbench failed:\n{finished.stdout}\n{finished.stderr}"
    [report] = json.loads((out / "results.json").read_text())["scenarios"]
    assert report["error"] is None
    side = report["node"]
    for part in ABUSE_PARTS:
        assert side["counts"][f"{part}_capped"] == 1 and f"{part}_completed" not in side["counts"]
        assert _positive(side["metrics"][f"{part}_rss_mb"])
    assert len(side["notes"]) == len(ABUSE_PARTS)
    assert all("stopped by the bench at 1 MiB of RSS" in note for note in side["notes"])
    # What a stopped node reached is a lower bound: never a target met.
    metrics = _metrics(report)
    for part in CLIENTS:
        assert metrics[f"{part}_p99_x"] is None and metrics[f"{part}_rss_per_client_mb"] is None
    assert all(target["met"] is None for metric in report["metrics"] for target in metric["targets"])
    assert finished.stdout.count("stopped at the RSS cap") >= len(ABUSE_PARTS)
