"""How big each scenario is at each size, and the targets the issue sets.

``full`` is the size every target is stated at; ``quick`` (the default)
keeps ``chatbench all`` to a few minutes on a 2-core machine; ``smoke`` is
the seconds-long run of the test suite. Any field can be overridden from
the command line: ``--set fanout.senders=4``.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import frozen


@frozen
class Pairs:
    """pingpong and throughput: `pairs` senders, each with its own receiver in a direct channel."""

    pairs: int
    in_flight: int  # messages each sender has sent and its peer not yet received
    duration: float  # the measured window, seconds
    warmup: float  # load before the window that is not measured
    body: int = 100  # characters per message body


@frozen
class Fanout:
    """`groups` group channels of `members` users; `senders` of each send, one message in flight each."""

    groups: int
    members: int
    senders: int
    duration: float
    warmup: float
    body: int = 100


@frozen
class Idle:
    """`devices` authenticated devices that only ping every `heartbeat` seconds."""

    devices: int
    warm: int  # connected first and not counted: the node's one-time costs
    window: float  # CPU is measured over this many seconds
    settle: float  # seconds after the last connect before measuring
    heartbeat: int = 5  # the node's default


@frozen
class Storm:
    """`devices` devices, `per_channel` to a group channel, miss `missed` messages each while offline."""

    devices: int
    per_channel: int
    missed: int
    heartbeat: int = 5


@frozen
class Abuse:
    """abuse: `pairs` innocent pairs, alone and then beside each kind of hostile client in turn.

    The innocent pairs are pingpong's, paced at one message per `interval`
    seconds per sender so that they stay under the node's own send limit,
    which this scenario leaves at its default (it is part of what is
    measured). Each hostile kind gets a sub-run of its own on a fresh node:
    `warmup` + `duration` seconds of attack, the innocent latencies measured
    over the last `duration`; `grace` more seconds bound its set-up and
    drain, and the bench stops the node if its RSS passes `rss_cap_mb`.
    """

    pairs: int
    interval: float  # seconds between one innocent sender's messages, at the least
    duration: float
    warmup: float
    never_reading: int  # authenticated clients that send `syncs` syncs and never read
    syncs: int
    large: int  # messages of `large_chars` 4-byte characters each never-reading client syncs
    large_chars: int
    map_senders: int  # unauthenticated clients sending one map of `map_keys` keys after another
    map_keys: int
    guessers: int  # connections guessing one account's password
    flood: int  # connections of one device sending as fast as the node answers (and of an accomplice's, reading)
    spammers: int  # accounts each creating up to `spam_groups` groups of `group_size` with the victim
    spam_groups: int
    group_size: int
    probe_interval: float = 0.5  # seconds between a real user's logins
    grace: float = 60.0
    rss_cap_mb: int = 3072
    attacker_address: str = "127.0.0.2"  # the hostile clients' source address ("": the default)
    in_flight: int = 16  # requests a flooding or spamming connection keeps under way
    body: int = 100


@frozen
class Push:
    """push: `recipients` offline devices with Web Push targets, each with a sender of its own.

    After `warmup_rounds`, `rounds` measured rounds: every sender sends one
    message and the round ends when the bench's push service has every
    push, or after `round_timeout` seconds. Then the push service stops
    answering for `outage` seconds, while each sender sends `outage_messages`.
    """

    recipients: int
    rounds: int
    warmup_rounds: int
    outage: float
    outage_messages: int
    round_timeout: float = 30.0
    body: int = 100


@frozen
class Runtime:
    """Arguments for `tools.runtime_benchmark.main`."""

    argv: tuple[str, ...]


Params = Pairs | Fanout | Idle | Storm | Abuse | Push | Runtime


SIZES: dict[str, dict[str, Params]] = {
    "smoke": {
        "pingpong": Pairs(pairs=2, in_flight=1, duration=0.5, warmup=0.2),
        "throughput": Pairs(pairs=2, in_flight=4, duration=0.5, warmup=0.2),
        "fanout": Fanout(groups=2, members=5, senders=2, duration=0.5, warmup=0.2),
        # Enough devices that their memory shows above the allocator's noise,
        # and pings every second so that the window sees CPU use.
        "idle": Idle(devices=200, warm=20, window=1.5, settle=0.3, heartbeat=1),
        "storm": Storm(devices=40, per_channel=10, missed=2),
        "abuse": Abuse(
            pairs=2, interval=0.05, duration=1.0, warmup=0.3, never_reading=1, syncs=20, large=2,
            large_chars=20_000, map_senders=1, map_keys=2_000, guessers=2, flood=3, spammers=1, spam_groups=5,
            group_size=4, probe_interval=0.25,
        ),
        "push": Push(recipients=5, rounds=3, warmup_rounds=1, outage=1.0, outage_messages=2),
        "runtime": Runtime(("--scale", "0.01", "--runs", "1")),
    },
    "quick": {
        "pingpong": Pairs(pairs=10, in_flight=1, duration=5.0, warmup=1.0),
        "throughput": Pairs(pairs=50, in_flight=20, duration=5.0, warmup=1.0),
        "fanout": Fanout(groups=2, members=100, senders=3, duration=5.0, warmup=1.0),
        "idle": Idle(devices=1000, warm=50, window=10.0, settle=2.0),
        "storm": Storm(devices=1000, per_channel=10, missed=5),
        # The attacks as issue 12 found them; only the window is shorter than full's.
        "abuse": Abuse(
            pairs=5, interval=0.1, duration=5.0, warmup=1.0, never_reading=1, syncs=1000, large=4,
            large_chars=100_000, map_senders=5, map_keys=160_000, guessers=20, flood=20, spammers=1,
            spam_groups=800, group_size=100,
        ),
        # The outage outlasts the pusher's 10 s request time-out: retries and a full queue show.
        "push": Push(recipients=200, rounds=20, warmup_rounds=2, outage=15.0, outage_messages=10),
        "runtime": Runtime(("--scale", "0.2", "--runs", "2")),
    },
    "full": {
        "pingpong": Pairs(pairs=10, in_flight=1, duration=20.0, warmup=2.0),
        "throughput": Pairs(pairs=50, in_flight=20, duration=20.0, warmup=2.0),
        "fanout": Fanout(groups=4, members=100, senders=3, duration=20.0, warmup=2.0),
        "idle": Idle(devices=10_000, warm=100, window=30.0, settle=5.0),
        "storm": Storm(devices=5000, per_channel=10, missed=5),
        "abuse": Abuse(
            pairs=10, interval=0.1, duration=20.0, warmup=2.0, never_reading=2, syncs=1000, large=4,
            large_chars=100_000, map_senders=5, map_keys=160_000, guessers=20, flood=20, spammers=1,
            spam_groups=800, group_size=100,
        ),
        "push": Push(recipients=1000, rounds=30, warmup_rounds=3, outage=30.0, outage_messages=20),
        "runtime": Runtime(()),
    },
}

SCENARIOS = ("pingpong", "throughput", "fanout", "idle", "storm", "abuse", "push", "runtime")


def params_for(size: str, overrides: list[str]) -> dict[str, Params]:
    """The preset of `size` with `scenario.field=value` overrides applied."""
    chosen = dict(SIZES[size])
    for override in overrides:
        name, _, value = override.partition("=")
        scenario, _, field = name.partition(".")
        if scenario not in chosen or not value:
            raise ValueError(f"--set {override!r}: expected SCENARIO.FIELD=VALUE with a scenario of {SCENARIOS}")
        params = chosen[scenario]
        fields = {f.name: f for f in attrs.fields(type(params))}
        if field not in fields or field == "argv":
            raise ValueError(f"--set {override!r}: {scenario} has the fields {sorted(set(fields) - {'argv'})}")
        kind: Any = type(getattr(params, field))
        chosen[scenario] = attrs.evolve(params, **{field: kind(value)})
    return chosen


@frozen
class Target:
    """One of the issue's targets: `metric` (of the node, or its ratio to the baseline) `op` `value`.

    It is judged only at the size the issue states (`at_size`: minimum field
    values); a smaller run is reported beside it as indicative.
    """

    scenario: str
    store: str
    metric: str
    op: str  # "<=" or ">="
    value: float
    at_size: tuple[tuple[str, int], ...]
    on_ratio: bool = False

    def met(self, measured: float) -> bool:
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def sized(self, params: Params) -> bool:
        return all(getattr(params, name) >= minimum for name, minimum in self.at_size)

    def describe(self) -> str:
        value = f"{self.value:.0%}" if self.on_ratio else f"{self.value:,g}"
        return f"{self.op} {value}{' of echo' if self.on_ratio else ''}"


_PAIRS_10 = (("pairs", 10),)
_PAIRS_50x20 = (("pairs", 50), ("in_flight", 20))

TARGETS = (
    Target("pingpong", "embedded", "latency_p50", "<=", 2.0, _PAIRS_10),
    Target("pingpong", "embedded", "latency_p99", "<=", 10.0, _PAIRS_10),
    Target("throughput", "embedded", "messages_per_s", ">=", 0.40, _PAIRS_50x20, on_ratio=True),
    Target("fanout", "embedded", "deliveries_per_s", ">=", 20_000, (("members", 100),)),
    Target("idle", "embedded", "kb_per_device", "<=", 24.0, (("devices", 10_000),)),
    Target("storm", "embedded", "all_synced_s", "<=", 10.0, (("devices", 5000),)),
    Target("pingpong", "cassandra", "latency_p99", "<=", 20.0, _PAIRS_10),
    Target("throughput", "cassandra", "messages_per_s", ">=", 0.25, _PAIRS_50x20, on_ratio=True),
    # Issue 12's: they are about the node, whatever its store.
    *(
        target
        for store in ("embedded", "cassandra")
        for target in (
            Target("abuse", store, "never_reading_rss_per_client_mb", "<=", 16.0,
                   (("syncs", 1000), ("large", 2), ("large_chars", 100_000))),
            Target("abuse", store, "maximal_maps_p99_x", "<=", 2.0, (("map_senders", 5), ("map_keys", 160_000))),
            Target("abuse", store, "guessers_login_max", "<=", 300.0, (("guessers", 20),)),
        )
    ),
)  # fmt: skip


@frozen
class AbusePart:
    """One sub-run of `abuse`: a kind of hostile client, or none (`alone`, the reference).

    Its numbers are the scenario's metrics named `KEY_SUFFIX`: the COMMON
    ones every part has, and those of its own kind.
    """

    key: str
    label: str
    clients: str | None  # the Abuse field saying how many hostile clients it runs

    def metric(self, suffix: str) -> str:
        return f"{self.key}_{suffix}"


#: How a sub-run ended, as the count `KEY_OUTCOME` = 1 of its part, and in words.
ABUSE_OUTCOMES = {
    "completed": "completed",
    "node_died": "NODE DIED",
    "capped": "stopped at the RSS cap",
    "failed": "FAILED",
}

ALONE = AbusePart("alone", "alone", None)
ABUSE_PARTS = (
    ALONE,
    AbusePart("never_reading", "never-reading", "never_reading"),
    AbusePart("maximal_maps", "maximal maps", "map_senders"),
    AbusePart("guessers", "password guessers", "guessers"),
    AbusePart("flood", "send flood", "flood"),
    AbusePart("group_spam", "group spam", "spammers"),
)

@frozen
class AbuseMeasure:
    """A metric every part has (`hostile_only`: every part but alone)."""

    suffix: str
    label: str
    unit: str
    hostile_only: bool = False


#: What every part reports: the innocent pairs' latency (and p99 over
#: alone's), a real user's login, the node's peak RSS and its growth over
#: the part (since every client connected), and the node's CPU over the window.
COMMON = (
    AbuseMeasure("p50", "innocent p50", "ms"),
    AbuseMeasure("p99", "innocent p99", "ms"),
    AbuseMeasure("p99_x", "innocent p99 / alone's", "x", hostile_only=True),
    AbuseMeasure("login_p50", "real login p50", "ms"),
    AbuseMeasure("login_max", "real login max", "ms"),
    AbuseMeasure("login_failed", "real logins refused", ""),
    AbuseMeasure("rss_mb", "node RSS peak", "MiB"),
    AbuseMeasure("rss_growth_mb", "node RSS growth", "MiB"),
    AbuseMeasure("rss_per_client_mb", "node RSS growth over alone's, per hostile client", "MiB", hostile_only=True),
    AbuseMeasure("node_cpu_pct", "node CPU", "% core"),
)
