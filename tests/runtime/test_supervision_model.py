"""Random supervision trees and crash schedules, checked against a small pure model of OTP.

The model says, for every crash or exit, which children stop and start and in
what order, when a supervisor gives up, and how that escalates to its parent.
The real tree runs on Trio's virtual clock; after each event its start/stop
log and its set of running children must match the model's exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio
import trio.testing
from attrs import define, field, frozen
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runtime import ChildSpec, Restart, Strategy, Supervisor, SupervisorGaveUp

from .conftest import Lab, tasks_under

# -- tree specs ----------------------------------------------------------------


@frozen
class LeafSpec:
    restart: Restart
    name: str = ""


@frozen
class SupSpec:
    restart: Restart
    strategy: Strategy
    intensity: int
    period: float
    children: tuple[LeafSpec | SupSpec, ...]
    name: str = ""


def named(spec: LeafSpec | SupSpec, counter: list[int]) -> LeafSpec | SupSpec:
    counter[0] += 1
    if isinstance(spec, LeafSpec):
        return LeafSpec(spec.restart, f"L{counter[0]}")
    children = tuple(named(c, counter) for c in spec.children)
    return SupSpec(spec.restart, spec.strategy, spec.intensity, spec.period, children, f"S{counter[0]}")


def supervisors(children: st.SearchStrategy[LeafSpec | SupSpec]) -> st.SearchStrategy[SupSpec]:
    return st.builds(
        SupSpec,
        restart=st.sampled_from(Restart),
        strategy=st.sampled_from(Strategy),
        intensity=st.integers(0, 2),
        period=st.sampled_from([1.0, 2.0, 5.0]),
        children=st.lists(children, min_size=1, max_size=4).map(tuple),
    )


leaves = st.builds(LeafSpec, restart=st.sampled_from(Restart))
trees = supervisors(st.recursive(leaves, supervisors, max_leaves=7)).map(lambda s: named(s, [0]))


@frozen
class Event:
    delay: float  # virtual seconds before it
    pick: int  # which running leaf (modulo how many run)
    crash: bool  # crash, or return normally


events = st.lists(
    st.builds(Event, st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]), st.integers(0, 100), st.booleans()),
    min_size=2,
    max_size=20,
)

# -- the model -------------------------------------------------------------------


@define(eq=False)
class MNode:
    spec: LeafSpec | SupSpec
    parent: MNode | None
    running: bool = False
    children: list[MNode] = field(factory=list)
    restarts: list[float] = field(factory=list)


@define
class Model:
    log: list[tuple[str, str]] = field(factory=list)
    root_gave_up: bool = False

    def start(self, node: MNode) -> None:
        node.running = True
        if isinstance(node.spec, LeafSpec):
            self.log.append(("start", node.spec.name))
            return
        node.restarts = []
        node.children = [MNode(c, node) for c in node.spec.children]
        for child in node.children:
            self.start(child)

    def stop(self, node: MNode) -> None:
        if not node.running:
            return
        node.running = False
        if isinstance(node.spec, LeafSpec):
            self.log.append(("stop", node.spec.name))
            return
        for child in reversed(node.children):
            self.stop(child)

    def exited(self, sup: MNode, child: MNode, crashed: bool, now: float) -> None:
        assert isinstance(sup.spec, SupSpec)
        child.running = False
        restart = child.spec.restart
        if not (restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and crashed)):
            if restart is Restart.TEMPORARY:
                sup.children.remove(child)
            return
        sup.restarts = [t for t in sup.restarts if now - t < sup.spec.period] + [now]
        if len(sup.restarts) > sup.spec.intensity:
            event("a supervisor gave up" + (" and escalated" if sup.parent else " (root)"))
            for other in reversed(sup.children):
                self.stop(other)
            sup.running = False
            if sup.parent is None:
                self.root_gave_up = True
            else:
                self.exited(sup.parent, sup, True, now)
            return
        event(f"restart under {sup.spec.strategy.value}")
        if sup.spec.strategy is Strategy.ONE_FOR_ONE:
            group = [child]
        elif sup.spec.strategy is Strategy.ONE_FOR_ALL:
            group = list(sup.children)
        else:
            group = sup.children[sup.children.index(child) :]
        for member in reversed(group):
            self.stop(member)
        for member in group:
            if member.spec.restart is Restart.TEMPORARY:
                sup.children.remove(member)
        for member in group:
            if member.spec.restart is not Restart.TEMPORARY:
                self.start(member)


def running_leaves(node: MNode) -> list[MNode]:
    if not node.running:
        return []
    if isinstance(node.spec, LeafSpec):
        return [node]
    return [leaf for child in node.children for leaf in running_leaves(child)]


# -- the real tree ---------------------------------------------------------------


def build(spec: SupSpec, lab: Lab) -> Supervisor:
    children = []
    for child in spec.children:
        if isinstance(child, LeafSpec):
            children.append(ChildSpec(child.name, lab.child(child.name), child.restart))
        else:
            children.append(ChildSpec(child.name, build(child, lab).run, child.restart))
    return Supervisor(spec.name, spec.strategy, children, intensity=spec.intensity, period=spec.period)


async def scenario(spec: SupSpec, schedule: Sequence[Event]) -> None:
    lab = Lab()
    model = Model()
    root = MNode(spec, None)
    before = tasks_under()
    gave_up = False
    try:
        async with trio.open_nursery() as nursery:
            sup = await nursery.start(build(spec, lab).run)
            model.start(root)
            assert lab.log == model.log
            for event in schedule:
                await trio.sleep(event.delay)
                live = running_leaves(root)
                assert sorted(lab.live) == sorted(leaf.spec.name for leaf in live)
                if not live:
                    break
                leaf = live[event.pick % len(live)]
                assert leaf.parent is not None
                model.exited(leaf.parent, leaf, event.crash, trio.current_time())
                control = lab.live[leaf.spec.name]
                control.crash() if event.crash else control.exit()
                await trio.testing.wait_all_tasks_blocked()
                assert lab.log == model.log
                if model.root_gave_up:
                    await trio.sleep_forever()  # the root's SupervisorGaveUp ends this
            assert sorted(lab.live) == sorted(leaf.spec.name for leaf in running_leaves(root))
            sup.request_stop()
            model.stop(root)
    except* SupervisorGaveUp:
        gave_up = True
    assert gave_up == model.root_gave_up
    assert lab.log == model.log  # including the final stop order
    assert lab.live == {}
    assert tasks_under() == before  # no task outlives the tree


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, events)
def test_supervision_tree_matches_the_otp_model(spec: SupSpec, schedule: list[Event]) -> None:
    trio.run(scenario, spec, schedule, clock=trio.testing.MockClock(autojump_threshold=0))
