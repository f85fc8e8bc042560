"""The bench's side of each scenario: hand out the jobs, time the phases, turn results into numbers.

A driver runs one scenario against one server, a node (`on_node`) or the
baseline, with the same workers and the same code either way, and returns
that server's `Side` of the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import trio
from attrs import define, frozen

from ._accounts import Account
from ._fleet import Fleet
from ._idle import IdleJob
from ._messaging import ChannelPlan, MessagingJob, plan_groups, plan_pairs, split
from ._params import Fanout, Idle, Pairs, Params, Storm
from ._procfs import CpuUse, machine_busy, process_cpu, read_cpu, rss_bytes
from ._profile import Profiler
from ._progress import ProgressBar
from ._report import MetricDef, Side
from ._stats import cdf_ms, latency_summary, merged, rate_series
from ._storm import StormDevice, StormJob, create_channels, feed

#: Heartbeat of the devices in the messaging scenarios: the node's default.
HEARTBEAT = 5.0
#: Time between telling the workers to go and the first message: every worker has the word by then.
LEAD_NS = 300_000_000
SETTLE = 1.0  # seconds for a server to finish what the last phase left it (closes, detaches)


@frozen
class Endpoint:
    """A server to measure: where to connect, and its process, if it runs on this machine."""

    url: str
    pid: int | None


@define
class Context:
    fleet: Fleet
    bar: ProgressBar
    profiler: Profiler | None
    name: str = ""  # scenario-store-server: names the profile files

    @contextmanager
    def meter(self, server: Endpoint) -> Iterator[dict[str, float]]:
        """CPU of the server and of the load generator over the block; the server's memory after it.

        CPU is a share of one core in percent: 100 is one core busy all along.
        """
        resources: dict[str, float] = {}
        workers = self.fleet.pids
        machine_before = machine_busy()
        load_before = [process_cpu(pid) for pid in workers]
        server_before = read_cpu(server.pid) if server.pid is not None else None
        began = time.monotonic()
        profiling = (
            self.profiler.record(server.pid, self.name)
            if self.profiler is not None and server.pid is not None
            else nullcontext()
        )
        with profiling:
            yield resources
            wall = time.monotonic() - began
            load_after = [process_cpu(pid) for pid in workers]
            machine_after = machine_busy()
            ours = sum(load_after) - sum(load_before)
            if server_before is not None and server.pid is not None:
                use = CpuUse.between(server_before, read_cpu(server.pid))
                resources["server_cpu_pct"] = 100 * use.process
                resources["server_loop_cpu_pct"] = 100 * use.loop
                resources["server_cpu_s"] = use.process * use.seconds
                resources["server_rss_mb"] = rss_bytes(server.pid) / 2**20
                ours += use.process * use.seconds
        busy = machine_after[0] - machine_before[0]
        resources["load_cpu_pct"] = 100 * (sum(load_after) - sum(load_before)) / wall
        resources["machine_cpu_pct"] = 100 * busy / wall
        # Whatever else ran on the machine meanwhile (other people's work, the
        # Cassandra JVM): what makes wall-clock numbers drift from run to run.
        resources["others_cpu_pct"] = max(0.0, 100 * (busy - ours) / wall)
        resources["window_s"] = wall

    def pause(self, seconds: float) -> None:
        self.fleet.pump_until(time.monotonic_ns() + int(seconds * 1e9))


def _share(total: int, index: int, parts: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _parts(total: int, parts: int) -> list[slice]:
    """`parts` contiguous slices of range(total), sizes differing by at most one (some may be empty)."""
    slices, first = [], 0
    for index in range(parts):
        size = _share(total, index, parts)
        slices.append(slice(first, first + size))
        first += size
    return slices


# -- pingpong, throughput, fanout -----------------------------------------------


PAIR_METRICS = (
    MetricDef("latency_p50", "latency p50", "ms", "lower"),
    MetricDef("latency_p90", "latency p90", "ms", "lower"),
    MetricDef("latency_p99", "latency p99", "ms", "lower"),
    MetricDef("latency_max", "latency max", "ms", "lower"),
    MetricDef("messages_per_s", "messages/s", "", "higher"),
    MetricDef("cpu_us_per_delivery", "server CPU per delivery", "us", "lower"),
)

FANOUT_METRICS = (
    MetricDef("deliveries_per_s", "deliveries/s", "", "higher"),
    MetricDef("messages_per_s", "messages/s", "", "higher"),
    MetricDef("latency_p50", "delivery latency p50", "ms", "lower"),
    MetricDef("latency_p99", "delivery latency p99", "ms", "lower"),
    MetricDef("last_p50", "last member p50", "ms", "lower"),
    MetricDef("last_p99", "last member p99", "ms", "lower"),
    MetricDef("last_max", "last member max", "ms", "lower"),
    MetricDef("cpu_us_per_delivery", "server CPU per delivery", "us", "lower"),
)


def _messaging(
    ctx: Context, server: Endpoint, on_node: bool, plans: Sequence[ChannelPlan], in_flight: int,
    body: int, duration: float, warmup: float,
) -> Side:  # fmt: skip
    jobs = [
        MessagingJob(server.url, on_node, share, in_flight, body, HEARTBEAT) for share in split(plans, ctx.fleet.size)
    ]
    ctx.bar.phase(f"{ctx.name}: connecting {sum(p.size for p in plans):,} devices")
    ctx.fleet.submit(jobs)
    links = sum(ctx.fleet.collect("ready"))
    go = time.monotonic_ns() + LEAD_NS
    start = go + int(warmup * 1e9)
    end = start + int(duration * 1e9)
    ctx.fleet.proceed(go, (start, end))
    ctx.bar.phase(f"{ctx.name}: warming up", until_ns=start)
    ctx.fleet.pump_until(start)
    ctx.bar.phase(f"{ctx.name}: measuring", until_ns=end, unit="deliveries")
    with ctx.meter(server) as resources:
        ctx.fleet.pump_until(end)
    ctx.bar.phase(f"{ctx.name}: draining")
    results = ctx.fleet.results()
    latency = merged(r.latency for r in results)
    completion = merged(r.completion for r in results)
    arrivals = merged(r.arrivals for r in results)
    summary = latency_summary(latency)
    last = latency_summary(completion)
    side = Side(
        metrics={
            **{f"latency_{k}": v for k, v in summary.items()},
            **{f"last_{k}": v for k, v in last.items()},
            "messages_per_s": completion.size / duration,
            "deliveries_per_s": latency.size / duration,
            "cpu_us_per_delivery": (
                resources.get("server_cpu_s", float("nan")) / latency.size * 1e6 if latency.size else float("nan")
            ),
        },
        resources=resources,
        counts={
            "links": links,
            "lost_links": sum(r.lost for r in results),
            "setup_retries": sum(r.retried for r in results),
            "sent": sum(r.sent for r in results),
            "delivered": int(latency.size),
            "completed": int(completion.size),
            "incomplete": sum(r.incomplete for r in results),
            "errors": sum(r.errors for r in results),
        },
        cdf_ms=cdf_ms(latency),
        rates=rate_series(arrivals, start, end),
    )
    return side


def run_pairs(ctx: Context, server: Endpoint, on_node: bool, params: Params, accounts: Sequence[Account]) -> Side:
    assert isinstance(params, Pairs)
    plans = plan_pairs("pair", params.pairs, accounts if on_node else None)
    return _messaging(ctx, server, on_node, plans, params.in_flight, params.body, params.duration, params.warmup)


def run_fanout(ctx: Context, server: Endpoint, on_node: bool, params: Params, accounts: Sequence[Account]) -> Side:
    assert isinstance(params, Fanout)
    plans = plan_groups("group", params.groups, params.members, params.senders, accounts if on_node else None)
    return _messaging(ctx, server, on_node, plans, 1, params.body, params.duration, params.warmup)


# -- idle ---------------------------------------------------------------------------


IDLE_METRICS = (
    MetricDef("kb_per_device", "memory per device", "KB", "lower"),
    MetricDef("cpu_pct", "event loop CPU", "% core", "lower"),
)


def run_idle(ctx: Context, server: Endpoint, on_node: bool, params: Params, accounts: Sequence[Account]) -> Side:
    assert isinstance(params, Idle)
    if server.pid is None:
        raise RuntimeError("idle measures the server's memory: give --node-pid with --url")
    tokens = [a.token for a in accounts]
    warm, devices = params.warm, params.devices
    jobs = []
    for index, (warm_part, device_part) in enumerate(zip(_parts(warm, ctx.fleet.size), _parts(devices, ctx.fleet.size))):
        job_tokens: tuple[str, ...] = ()
        if on_node:
            job_tokens = (*tokens[warm_part], *tokens[warm + device_part.start : warm + device_part.stop])
        jobs.append(
            IdleJob(
                server.url, on_node, tuple(job_tokens), warm_part.stop - warm_part.start,
                device_part.stop - device_part.start, float(params.heartbeat),
            )
        )  # fmt: skip
    ctx.bar.phase(f"{ctx.name}: connecting {warm} warm-up devices")
    ctx.fleet.submit(jobs)
    ctx.fleet.collect("warm")
    ctx.pause(SETTLE)
    rss_before = rss_bytes(server.pid)
    ctx.fleet.proceed(time.monotonic_ns())
    ctx.bar.phase(f"{ctx.name}: connecting {devices:,} devices", unit="connected")
    ctx.fleet.collect("ready")
    ctx.bar.phase(f"{ctx.name}: settling", until_ns=time.monotonic_ns() + int(params.settle * 1e9))
    ctx.pause(params.settle)
    ctx.bar.phase(f"{ctx.name}: measuring", until_ns=time.monotonic_ns() + int(params.window * 1e9))
    with ctx.meter(server) as resources:
        ctx.pause(params.window)
    rss_after = rss_bytes(server.pid)
    ctx.fleet.proceed(time.monotonic_ns())
    results = ctx.fleet.results()
    connected = sum(r.connected for r in results)
    return Side(
        metrics={
            "kb_per_device": (rss_after - rss_before) / 1024 / connected,
            "cpu_pct": resources.get("server_loop_cpu_pct", float("nan")),
        },
        resources={**resources, "rss_before_mb": rss_before / 2**20, "rss_after_mb": rss_after / 2**20},
        counts={
            "devices": connected,
            "lost_links": sum(r.lost for r in results),
            "setup_retries": sum(r.retried for r in results),
        },
    )


# -- storm ----------------------------------------------------------------------------


def _causes(results: Sequence[Any]) -> list[str]:
    """Why reconnection attempts were made again, over every worker (error codes, exception names)."""
    return sorted({why for r in results for why in r.retried})


def _storm_channels(params: Storm) -> int:
    """Channels of the storm, each with a feeder of its own besides its devices."""
    return -(-params.devices // params.per_channel)


STORM_METRICS = (
    MetricDef("all_synced_s", "all re-synced", "s", "lower"),
    MetricDef("device_p50", "per device p50", "ms", "lower"),
    MetricDef("device_p99", "per device p99", "ms", "lower"),
    MetricDef("cpu_ms_per_device", "server CPU per device", "ms", "lower"),
)


def run_storm(ctx: Context, server: Endpoint, on_node: bool, params: Params, accounts: Sequence[Account]) -> Side:
    assert isinstance(params, Storm)
    devices: list[StormDevice] = []
    channels: list[int] = []
    feeders: list[str] = []
    if on_node:
        count = _storm_channels(params)
        feeders, members = [a.token for a in accounts[:count]], accounts[count:]
        groups = [members[i : i + params.per_channel] for i in range(0, len(members), params.per_channel)]
        ctx.bar.phase(f"{ctx.name}: creating {count:,} channels")
        channels = trio.run(create_channels, server.url, feeders, [[a.user for a in g] for g in groups], "storm")
        devices = [StormDevice(a.token, channels[i // params.per_channel]) for i, a in enumerate(members)]
    jobs = [
        StormJob(
            server.url, on_node, tuple(devices[part]), part.stop - part.start, params.missed, float(params.heartbeat)
        )
        for part in _parts(params.devices, ctx.fleet.size)
        if part.stop > part.start
    ]
    ctx.bar.phase(f"{ctx.name}: connecting {params.devices:,} devices")
    ctx.fleet.submit(jobs)
    ctx.fleet.collect("ready")
    ctx.bar.phase(f"{ctx.name}: dropping them")
    ctx.fleet.proceed(time.monotonic_ns())
    ctx.fleet.collect("dropped")
    if on_node:
        ctx.bar.phase(f"{ctx.name}: posting missed messages", total=len(channels) * params.missed)
        trio.run(feed, server.url, feeders, channels, params.missed, lambda done, _total: ctx.bar.update(done))
    ctx.pause(SETTLE)
    at = time.monotonic_ns() + LEAD_NS
    ctx.fleet.proceed(at)
    ctx.fleet.pump_until(at)
    ctx.bar.phase(f"{ctx.name}: {params.devices:,} devices reconnecting", unit="")
    with ctx.meter(server) as resources:
        ctx.fleet.collect("synced")
    ctx.fleet.proceed(time.monotonic_ns())
    results = ctx.fleet.results()
    durations = merged(r.durations for r in results)
    summary = latency_summary(durations)
    failures = sum(r.failures for r in results)
    side = Side(
        metrics={
            "all_synced_s": float(np.max(durations)) / 1e9 if durations.size else float("nan"),
            "device_p50": summary.get("p50", float("nan")),
            "device_p99": summary.get("p99", float("nan")),
            "cpu_ms_per_device": (
                resources.get("server_cpu_s", float("nan")) / durations.size * 1e3 if durations.size else float("nan")
            ),
        },
        resources=resources,
        counts={
            "devices": int(durations.size) + failures,
            "failures": failures,
            "retried": sum(sum(r.retried.values()) for r in results),
            **{f"retried_{why}": sum(r.retried.get(why, 0) for r in results) for why in _causes(results)},
            "short": sum(r.short for r in results),
            "setup_retries": sum(r.setup_retries for r in results),
        },
        cdf_ms=cdf_ms(durations),
    )
    if failures:
        errors = [r.first_error for r in results if r.first_error]
        side.notes.append(f"{failures} devices did not re-sync; first error: {errors[0] if errors else '?'}")
    return side


@frozen
class Kind:
    """A scenario as the bench runs it."""

    name: str
    label: str  # in the usernames of its accounts
    metrics: tuple[MetricDef, ...]
    accounts: Callable[[Any], int]
    node_flags: Callable[[Any], list[str]]
    run: Callable[[Context, Endpoint, bool, Params, Sequence[Account]], Side]


def _no_flags(_params: Any) -> list[str]:
    return []


def _heartbeat_flag(params: Any) -> list[str]:
    return ["--heartbeat", str(params.heartbeat)]


KINDS = {
    "pingpong": Kind("pingpong", "pp", PAIR_METRICS, lambda p: 2 * p.pairs, _no_flags, run_pairs),
    "throughput": Kind("throughput", "tp", PAIR_METRICS, lambda p: 2 * p.pairs, _no_flags, run_pairs),
    "fanout": Kind("fanout", "fo", FANOUT_METRICS, lambda p: p.groups * p.members, _no_flags, run_fanout),
    "idle": Kind("idle", "id", IDLE_METRICS, lambda p: p.warm + p.devices, _heartbeat_flag, run_idle),
    "storm": Kind("storm", "st", STORM_METRICS, lambda p: _storm_channels(p) + p.devices, _heartbeat_flag, run_storm),
}
