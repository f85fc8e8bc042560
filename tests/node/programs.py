"""Random chat programs: a cast of users and devices, then what they do.

Pure values and hypothesis strategies, no I/O: `test_stateful` runs a
program against a node and a model. Operations name devices, users and
channels by index, and every operation means something in every state (one
naming a device that is offline or revoked is checked for that, or skipped),
so any sub-list of a program is a program: hypothesis shrinks it like a list.
"""

from __future__ import annotations

from attrs import frozen
from hypothesis import strategies as st

# The example's two channels: a direct channel of users 0 and 1, and a group
# of everyone but user 1, so that each starts with an outsider.
DIRECT, GROUP = 0, 1
CHANNELS = (DIRECT, GROUP)

MAX_STEPS = 25


@frozen
class Send:
    """Send `body` with a fresh cid."""

    device: int
    channel: int
    body: str


@frozen
class Resend:
    """Send an earlier acknowledged message's cid and body again, from `device`.

    One of the user's own (a retry: the first seq must answer), or with
    `foreign` one of another user's (a new message that shares the cid);
    to the channel it was stored in, or to the other one if `elsewhere`.
    """

    device: int
    earlier: int  # index into those messages, modulo their number
    foreign: bool
    elsewhere: bool


@frozen
class Disconnect:
    device: int


@frozen
class Reconnect:
    """Drop the device's connection if it has one, connect, `channels`, `sync` from its cursors."""

    device: int


@frozen
class ReadAll:
    """Read the whole channel: `sync` from 0 forwards, or `history` backwards, page by page."""

    device: int
    channel: int
    backwards: bool


@frozen
class Invite:
    """Invite `user` to the group."""

    device: int
    user: int


@frozen
class Leave:
    device: int
    channel: int


@frozen
class Revoke:
    """Revoke one of the account's own devices, or with `foreign` another user's (not found)."""

    device: int
    target: int  # index into those devices, modulo their number
    foreign: bool


@frozen
class GoIdle:
    """Wait until every channel actor has passivated.

    The next message re-activates its channel from the store: a new sequence
    lease, and retried cids found in the store instead of the actor's window.
    """


Operation = Send | Resend | Disconnect | Reconnect | ReadAll | Invite | Leave | Revoke | GoIdle


@frozen
class Program:
    devices: tuple[int, ...]  # devices per user (besides each user's auditor)
    page: int  # the `limit` of every sync and history page
    operations: tuple[Operation, ...]


@st.composite
def programs(draw: st.DrawFn) -> Program:
    devices = tuple(draw(st.lists(st.integers(1, 2), min_size=3, max_size=4)))
    device = st.integers(0, sum(devices) - 1)
    channel = st.sampled_from(CHANNELS)
    # Weights: sends are most of what a chat does. Send first, so that
    # operations shrink towards it.
    weighted: list[tuple[int, st.SearchStrategy[Operation]]] = [
        (6, st.builds(Send, device, channel, st.text(max_size=12))),
        (3, st.builds(Resend, device, st.integers(0, MAX_STEPS), st.booleans(), st.booleans())),
        (2, st.builds(Disconnect, device)),
        (3, st.builds(Reconnect, device)),
        (1, st.builds(ReadAll, device, channel, st.booleans())),
        (1, st.builds(Invite, device, st.integers(0, len(devices) - 1))),
        (1, st.builds(Leave, device, channel)),
        (1, st.builds(Revoke, device, device, st.booleans())),
        (2, st.just(GoIdle())),
    ]
    # Not one_of, which merges equal branches: each weight counts.
    operation = st.sampled_from([strategy for weight, strategy in weighted for _ in range(weight)]).flatmap(
        lambda strategy: strategy
    )
    page = draw(st.sampled_from([100, 2, 1]))
    # Each step drawn after a "go on?", as hypothesis' own stateful tests do:
    # programs run about 15 steps (a list strategy averages five, too few to
    # get far from the start), and shrinking still deletes steps anywhere.
    go_on = st.sampled_from([False] + [True] * 15)
    operations: list[Operation] = []
    while len(operations) < MAX_STEPS and draw(go_on):
        operations.append(draw(operation))
    return Program(devices, page, tuple(operations))
