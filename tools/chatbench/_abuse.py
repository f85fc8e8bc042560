"""abuse: innocent pairs alone, then beside each kind of hostile client; what each kind costs them and the node.

The bench's side; the clients are in _hostile.py. Issue 12 found that one
client could take a node down and a few could degrade it for everyone. This
scenario measures that, the same way before and after the node is hardened,
as sub-runs, each on a fresh node, so that memory reads as the growth over
one attack and an attack that kills the node takes only its own sub-run
with it:

    alone           the innocent pairs and a real user logging in: the reference
    never_reading   + clients that ask for large `sync` pages and never read
    maximal_maps    + unauthenticated clients sending 160k-key maps
    guessers        + connections guessing one account's password
    flood           + connections of one device sending as fast as answered
    group_spam      + accounts creating groups that hold a victim

In each, the same innocent pairs (pingpong's, paced under the node's send
limit) run in every load worker but the last; the hostile clients and the
real user's logins run in the last one. Reported per sub-run: the pairs'
latency p50/p99 and p99 over alone's, the real user's login time, the
node's peak RSS (the kernel's high-water mark, /proc VmHWM) and its growth
since every client connected, the node's CPU over the window, and what the
attack itself got done (its own metrics). There is no baseline server: the
reference is the pairs alone.

The node runs with its own default limits (its send limit is one of the
things measured). A sub-run is bounded: set-up, window and drain within
warmup + duration + grace seconds, and the bench kills the node if its RSS
passes rss_cap_mb. A node that dies, or is stopped, is reported so, and the
next sub-run starts a new one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from attrs import define, frozen

from ._accounts import PASSWORD, Account
from ._drivers import HEARTBEAT, LEAD_NS, Context, Endpoint
from ._fleet import WorkerFailed
from ._hostile import Attack, Flood, GroupSpam, Guessers, HostileJob, HostileResult, LoginProbe, MaximalMaps, NeverReading
from ._messaging import MessagingJob, MessagingResult, plan_pairs, split
from ._params import ABUSE_OUTCOMES, ABUSE_PARTS, ALONE, COMMON, TARGETS, Abuse, AbusePart, Params
from ._procfs import peak_rss_bytes, rss_bytes
from ._report import MetricDef, Side
from ._servers import Node, ServerFailed
from ._stats import latency_summary, merged

#: Starts a fresh node for one (sub-)run: `nodes(name, flags)`, flags beside the store's.
NodeStarter = Callable[[str, Sequence[str]], AbstractContextManager[Node]]

#: Seconds between two looks at the node (alive? its RSS?) during the window.
WATCH_EVERY = 0.1
MIB = 2**20


@frozen
class SubRunKind:
    """A scenario on nodes it starts itself (`nodes(name, flags)`), with no baseline run: abuse, push."""

    name: str
    label: str
    metrics: tuple[MetricDef, ...]
    accounts: Callable[[Any], int]
    run: Callable[[Context, NodeStarter, Params, Sequence[Account]], Side]


class _NodeGone(Exception):
    """The node stopped during the window: it died, or the bench stopped it."""


@define
class _Memory:
    """The node's RSS over one sub-run, in bytes."""

    ready: int = 0  # once every client had connected
    peak: int = 0  # the most seen: sampled, and the kernel's high-water mark
    capped: bool = False  # the bench killed the node for passing rss_cap_mb


@frozen
class _Outcome:
    """What one sub-run's hostile side counted, for its own metrics."""

    counts: dict[str, int]
    attack_s: float  # the attack's length: warm-up and window

    def count(self, key: str) -> float:
        return float(self.counts.get(key, 0))

    def rate(self, key: str) -> float:
        return self.count(key) / self.attack_s


@frozen
class _Own:
    """A metric of one kind of attack alone: what it achieved."""

    suffix: str
    label: str
    unit: str
    better: str
    value: Callable[[_Outcome], float]


_OWN: dict[str, tuple[_Own, ...]] = {
    "never_reading": (
        _Own("syncs_sent", "syncs sent", "", "lower", lambda o: o.count("syncs_sent")),
        _Own("open_at_end", "still connected at the end", "", "lower", lambda o: o.count("open_at_end")),
    ),
    "maximal_maps": (
        _Own("maps_per_s", "maps sent/s", "", "lower", lambda o: o.rate("maps_sent")),
        _Own("closed", "connections the node closed", "", "higher", lambda o: o.count("closed")),
        _Own("refused", "connections refused", "", "higher", lambda o: o.count("refused")),
    ),
    "guessers": (
        _Own("guesses_per_s", "wrong passwords checked/s", "", "lower", lambda o: o.rate("bad_credentials")),
        _Own("throttled", "guesses throttled", "", "higher", lambda o: o.count("rate_limited")),
    ),
    "flood": (
        _Own("accepted_per_s", "sends accepted/s", "", "lower", lambda o: o.rate("ok")),
        _Own("throttled", "sends throttled", "", "higher", lambda o: o.count("rate_limited")),
        _Own("delivered_per_s", "frames delivered/s to the accomplice", "", "lower", lambda o: o.rate("sink_event_msg")),
        _Own("sinks_closed", "accomplice connections the node closed", "", "higher", lambda o: o.count("sink_closed")),
        _Own("refused", "connections refused", "", "higher", lambda o: o.count("refused")),
    ),
    "group_spam": (
        _Own("groups", "groups created", "", "lower", lambda o: o.count("ok")),
        _Own("channels_kib", "victim's largest channels reply", "KiB", "lower", lambda o: o.count("listing_bytes_max") / 1024),
        _Own("channels_pages", "victim's channels pages", "", "lower", lambda o: o.count("listing_pages")),
    ),
}


def _metric_defs() -> tuple[MetricDef, ...]:
    """Every part's common metrics and its own; those with a target first (they lead the headline)."""
    defs = []
    for part in ABUSE_PARTS:
        defs += [
            MetricDef(part.metric(m.suffix), f"{part.label}: {m.label}", m.unit, "lower")
            for m in COMMON
            if part.clients is not None or not m.hostile_only
        ]
        defs += [
            MetricDef(part.metric(own.suffix), f"{part.label}: {own.label}", own.unit, own.better)
            for own in _OWN.get(part.key, ())
        ]
    targeted = {target.metric for target in TARGETS if target.scenario == "abuse"}
    return tuple(sorted(defs, key=lambda d: d.key not in targeted))


def _probes(params: Abuse) -> int:
    return math.ceil(params.duration / params.probe_interval)


def _roles(params: Abuse) -> dict[str, int]:
    """The accounts each role takes, in order; every role's accounts are its own."""
    return {
        "innocents": 2 * params.pairs,
        "never_reading": params.never_reading,
        "guessed": 1,
        "flooder": 1,
        "accomplice": 1,  # the flood's sink
        "spammers": params.spammers,
        "victim": 1,
        "fillers": params.group_size - 2,  # a spam group: its creator, the victim and these
        "probes": len(ABUSE_PARTS) * _probes(params),  # a real user logs in once
    }


def _account_count(params: Any) -> int:
    assert isinstance(params, Abuse)
    return sum(_roles(params).values())


def _cast(params: Abuse, accounts: Sequence[Account]) -> dict[str, Sequence[Account]]:
    cast, first = {}, 0
    for role, count in _roles(params).items():
        cast[role] = accounts[first : first + count]
        first += count
    return cast


def _tokens(accounts: Sequence[Account]) -> tuple[str, ...]:
    return tuple(account.token for account in accounts)


def _attack(part: AbusePart, params: Abuse, cast: dict[str, Sequence[Account]]) -> Attack | None:
    match part.key:
        case "never_reading":
            return NeverReading(_tokens(cast["never_reading"]), params.syncs, params.large, params.large_chars)
        case "maximal_maps":
            return MaximalMaps(params.map_senders, params.map_keys)
        case "guessers":
            return Guessers(params.guessers, cast["guessed"][0].username)
        case "flood":
            accomplice = cast["accomplice"][0]
            return Flood(
                cast["flooder"][0].token, accomplice.token, accomplice.user, params.flood, params.in_flight, params.body
            )
        case "group_spam":
            members = tuple(account.user for account in (*cast["victim"], *cast["fillers"]))
            return GroupSpam(_tokens(cast["spammers"]), cast["victim"][0].token, members, params.spam_groups, params.in_flight)
    return None


def run_abuse(ctx: Context, nodes: NodeStarter, params: Params, accounts: Sequence[Account]) -> Side:
    assert isinstance(params, Abuse)
    if ctx.fleet.size < 2:
        raise RuntimeError("abuse runs its hostile clients in a load worker of their own: give --workers 2 or more")
    cast = _cast(params, accounts)
    side = Side()
    base = ctx.name
    for index, part in enumerate(ABUSE_PARTS):
        ctx.name = f"{base}-{part.key}"
        _sub_run(ctx, nodes, params, cast, part, index, side)
    ctx.name = base
    _against_alone(params, side)
    return side


def _against_alone(params: Abuse, side: Side) -> None:
    """What each kind of hostile client added to the reference: latency as a ratio, memory as a difference.

    The difference, because the node's high-water mark rises in every
    sub-run for what all of them share (the real user's logins: scrypt
    takes 16 MiB a hash); what a hostile client adds is what is left.
    Only between sub-runs that completed: the memory of a node that died
    or was stopped is a lower bound, which must never pass for a target met.
    """
    if not side.counts.get(ALONE.metric("completed")):
        return
    alone_p99 = side.metrics.get(ALONE.metric("p99"))
    alone_growth = side.metrics.get(ALONE.metric("rss_growth_mb"))
    for part in ABUSE_PARTS:
        if part.clients is None or not side.counts.get(part.metric("completed")):
            continue
        p99 = side.metrics.get(part.metric("p99"))
        if alone_p99 and p99 is not None:
            side.metrics[part.metric("p99_x")] = p99 / alone_p99
        growth = side.metrics.get(part.metric("rss_growth_mb"))
        if alone_growth is not None and growth is not None:
            side.metrics[part.metric("rss_per_client_mb")] = (growth - alone_growth) / getattr(params, part.clients)


def _sub_run(
    ctx: Context, nodes: NodeStarter, params: Abuse, cast: dict[str, Sequence[Account]], part: AbusePart, index: int,
    side: Side,
) -> None:  # fmt: skip
    """One sub-run on a fresh node; whatever happens to the node, its numbers and its outcome land in `side`."""
    deadline = time.monotonic() + params.warmup + params.duration + params.grace
    memory = _Memory()
    outcome, why = "completed", ""
    ctx.bar.phase(f"{ctx.name}: starting a node")
    try:
        with nodes(ctx.name, ()) as node:
            try:
                _attacked(ctx, node, params, cast, part, index, deadline, memory, side)
            except (WorkerFailed, _NodeGone, OSError):
                gone = f"stopped by the bench at {params.rss_cap_mb} MiB of RSS" if memory.capped else node.exited()
                if gone is None:
                    raise
                ctx.fleet.recover()
                outcome, why = ("capped" if memory.capped else "node_died"), gone
            else:
                if (gone := node.exited()) is not None:
                    outcome, why = "node_died", f"{gone}, after the window"
    except (WorkerFailed, ServerFailed, OSError) as error:
        ctx.fleet.recover()
        outcome, why = "failed", str(error).strip().splitlines()[-1]
        ctx.bar.note(f"chatbench: {ctx.name} failed:\n{error}")
    assert outcome in ABUSE_OUTCOMES
    side.counts[part.metric(outcome)] = 1
    if memory.peak:
        # Even when the node died or was stopped: the most it reached is the finding.
        side.metrics[part.metric("rss_mb")] = memory.peak / MIB
        side.metrics[part.metric("rss_growth_mb")] = (memory.peak - memory.ready) / MIB
        side.resources[part.metric("rss_ready_mb")] = memory.ready / MIB
    if why:
        side.notes.append(f"{part.label}: {'the node ' if outcome == 'node_died' else ''}{why}")


def _attacked(
    ctx: Context, node: Node, params: Abuse, cast: dict[str, Sequence[Account]], part: AbusePart, index: int,
    deadline: float, memory: _Memory, side: Side,
) -> None:  # fmt: skip
    plans = plan_pairs("abuse", params.pairs, cast["innocents"])
    jobs: list[MessagingJob | HostileJob] = [
        MessagingJob(node.url, True, share, 1, params.body, HEARTBEAT, params.interval)
        for share in split(plans, ctx.fleet.size - 1)
    ]
    probes = cast["probes"][index * _probes(params) : (index + 1) * _probes(params)]
    probe = LoginProbe(tuple(account.username for account in probes), PASSWORD, params.probe_interval)
    jobs.append(HostileJob(node.url, params.attacker_address, _attack(part, params, cast), probe))
    ctx.bar.phase(f"{ctx.name}: connecting and setting up")
    ctx.fleet.submit(jobs)
    ctx.fleet.collect("ready", deadline)
    if node.pid is not None:
        memory.ready = memory.peak = rss_bytes(node.pid)
    go = time.monotonic_ns() + LEAD_NS
    start = go + int(params.warmup * 1e9)
    end = start + int(params.duration * 1e9)
    ctx.fleet.proceed(go, (start, end))
    ctx.bar.phase(f"{ctx.name}: warming up", until_ns=start)
    _watch(ctx, node, params, memory, start)
    ctx.bar.phase(f"{ctx.name}: measuring", until_ns=end, unit="deliveries")
    with ctx.meter(Endpoint(node.url, node.pid)) as resources:
        _watch(ctx, node, params, memory, end)
    ctx.bar.phase(f"{ctx.name}: draining")
    results = ctx.fleet.results(deadline)
    if node.pid is not None:
        memory.peak = max(memory.peak, peak_rss_bytes(node.pid))
    innocent: list[MessagingResult] = results[:-1]
    hostile: HostileResult = results[-1]
    _record(part, innocent, hostile, (end - go) / 1e9, resources, side)


def _watch(ctx: Context, node: Node, params: Abuse, memory: _Memory, until_ns: int) -> None:
    """Serve the workers until `until_ns`, watching that the node lives and stays under the RSS cap."""
    while (now := time.monotonic_ns()) < until_ns:
        ctx.fleet.pump_until(min(until_ns, now + int(WATCH_EVERY * 1e9)))
        if node.exited() is not None:
            raise _NodeGone()
        if node.pid is None:
            continue
        rss = rss_bytes(node.pid)
        memory.peak = max(memory.peak, rss)
        if rss > params.rss_cap_mb * MIB:
            memory.capped = True
            node.kill()
            raise _NodeGone()


def _record(
    part: AbusePart, innocent: list[MessagingResult], hostile: HostileResult, attack_s: float,
    resources: dict[str, float], side: Side,
) -> None:  # fmt: skip
    latency = latency_summary(merged(r.latency for r in innocent))
    logins = latency_summary(merged([hostile.logins]))
    measured = {
        "p50": latency.get("p50"),
        "p99": latency.get("p99"),
        "login_p50": logins.get("p50"),
        "login_max": logins.get("max"),
        "login_failed": float(sum(hostile.login_failures.values())),
        "node_cpu_pct": resources.get("server_cpu_pct"),
    }
    outcome = _Outcome(hostile.counts, attack_s)
    measured |= {own.suffix: own.value(outcome) for own in _OWN.get(part.key, ())}
    side.metrics.update({part.metric(key): value for key, value in measured.items() if value is not None})
    side.resources.update({part.metric(key): value for key, value in resources.items()})
    side.counts.update({part.metric(f"attack_{key}"): value for key, value in hostile.counts.items()})
    side.counts.update({part.metric(f"login_{key}"): value for key, value in hostile.login_failures.items()})
    side.counts.update({
        part.metric("innocent_sent"): sum(r.sent for r in innocent),
        part.metric("innocent_delivered"): sum(len(r.latency) for r in innocent),
        part.metric("innocent_errors"): sum(r.errors for r in innocent),
        part.metric("innocent_incomplete"): sum(r.incomplete for r in innocent),
        part.metric("innocent_lost_links"): sum(r.lost for r in innocent),
    })  # fmt: skip


ABUSE = SubRunKind("abuse", "ab", _metric_defs(), _account_count, run_abuse)
