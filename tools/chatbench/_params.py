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
class Runtime:
    """Arguments for `tools.runtime_benchmark.main`."""

    argv: tuple[str, ...]


Params = Pairs | Fanout | Idle | Storm | Runtime


SIZES: dict[str, dict[str, Params]] = {
    "smoke": {
        "pingpong": Pairs(pairs=2, in_flight=1, duration=0.5, warmup=0.2),
        "throughput": Pairs(pairs=2, in_flight=4, duration=0.5, warmup=0.2),
        "fanout": Fanout(groups=2, members=5, senders=2, duration=0.5, warmup=0.2),
        # Enough devices that their memory shows above the allocator's noise,
        # and pings every second so that the window sees CPU use.
        "idle": Idle(devices=200, warm=20, window=1.5, settle=0.3, heartbeat=1),
        "storm": Storm(devices=40, per_channel=10, missed=2),
        "runtime": Runtime(("--scale", "0.01", "--runs", "1")),
    },
    "quick": {
        "pingpong": Pairs(pairs=10, in_flight=1, duration=5.0, warmup=1.0),
        "throughput": Pairs(pairs=50, in_flight=20, duration=5.0, warmup=1.0),
        "fanout": Fanout(groups=2, members=100, senders=3, duration=5.0, warmup=1.0),
        "idle": Idle(devices=1000, warm=50, window=10.0, settle=2.0),
        "storm": Storm(devices=1000, per_channel=10, missed=5),
        "runtime": Runtime(("--scale", "0.2", "--runs", "2")),
    },
    "full": {
        "pingpong": Pairs(pairs=10, in_flight=1, duration=20.0, warmup=2.0),
        "throughput": Pairs(pairs=50, in_flight=20, duration=20.0, warmup=2.0),
        "fanout": Fanout(groups=4, members=100, senders=3, duration=20.0, warmup=2.0),
        "idle": Idle(devices=10_000, warm=100, window=30.0, settle=5.0),
        "storm": Storm(devices=5000, per_channel=10, missed=5),
        "runtime": Runtime(()),
    },
}

SCENARIOS = ("pingpong", "throughput", "fanout", "idle", "storm", "runtime")


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
)
