"""Model-based check: any run of appends, leases and reads on a few channels
reads back exactly what a plain list per channel holds.

Each hypothesis example runs in its own `trio.run` on a store opened inside
it, so the same property is checked on every store of the suite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from attrs import frozen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import Message, SeqLease, Store

from .fresh import append, message, new_id

if TYPE_CHECKING:
    from .conftest import OpenStore

CHANNELS = 3


@frozen
class Append:
    channel: int  # index into the example's channels
    body: str


@frozen
class NewLease:
    channel: int


@frozen
class ReadRange:
    channel: int
    after: int
    upto: int
    limit: int


@frozen
class ReadBefore:
    channel: int
    before: int
    limit: int


Operation = Append | NewLease | ReadRange | ReadBefore

channel_index = st.integers(0, CHANNELS - 1)
bound = st.integers(0, 14)
limit = st.integers(0, 6)
# Short bodies, and some over the 2048-byte line where a store may keep
# bodies apart from the message rows.
bodies = st.one_of(st.text(max_size=16), st.sampled_from(["x" * 2049, "\U0001f600" * 600]))
operations = st.lists(
    st.one_of(
        st.builds(Append, channel_index, bodies),
        st.builds(NewLease, channel_index),
        st.builds(ReadRange, channel_index, bound, bound, limit),
        st.builds(ReadBefore, channel_index, bound, limit),
    ),
    max_size=40,
)


@settings(
    max_examples=40,
    deadline=None,
    # open_store is function-scoped but safe to share: every example opens a
    # store of its own and uses fresh channel ids.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
def test_appends_and_reads_match_a_list_per_channel(
    open_store: OpenStore, ops: list[Operation]
) -> None:
    trio.run(check_against_model, open_store, ops)


async def check_against_model(open_store: OpenStore, ops: list[Operation]) -> None:
    channels = [new_id() for _ in range(CHANNELS)]
    # model[i][k] is message k + 1 of channels[i].
    model: list[list[Message]] = [[] for _ in channels]
    leases: dict[int, SeqLease] = {}

    async with open_store() as store:

        async def lease(i: int) -> SeqLease:
            taken = await store.take_lease(channels[i])
            assert taken.last == len(model[i])
            leases[i] = taken
            return taken

        for op in ops:
            i = op.channel
            stored = model[i]
            if isinstance(op, Append):
                m = message(channels[i], len(stored) + 1, body=op.body)
                await append(store, leases.get(i) or await lease(i), m)
                stored.append(m)
            elif isinstance(op, NewLease):
                await lease(i)
            elif isinstance(op, ReadRange):
                got = await store.read_range(channels[i], op.after, op.upto, op.limit)
                assert got == stored[op.after : op.upto][: op.limit]
            else:
                got = await store.read_before(channels[i], op.before, op.limit)
                older = stored[: max(op.before - 1, 0)]
                assert got == older[max(len(older) - op.limit, 0) :]

        await check_whole_channels(store, channels, model)


async def check_whole_channels(
    store: Store, channels: list[int], model: list[list[Message]]
) -> None:
    assert await store.last_seqs(channels) == {c: len(m) for c, m in zip(channels, model)}
    for channel, stored in zip(channels, model):
        assert await store.read_range(channel, 0, len(stored) + 1, len(stored) + 1) == stored
