"""Push decisions without an event loop: times are plain numbers, effects plain values.

The examples name each rule; the state machine at the end checks every
sequence hypothesis finds against a model written from the rules' own
words (a log of messages and the marks that cover them), not from the
implementation's slots.
"""

from __future__ import annotations

from attrs import define, field
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors._push_decisions import MAX_WAITING, Badge, Push, PushDecisions, UnreadCounts, Withdraw
from protocol import NotifyLevel
from storage import Notify, Unread

USER, OTHER = 1, 2
PHONE, LAPTOP = 10, 11
CHANNEL, QUIET = 100, 101
TIMEOUT = 10.0
REMEMBER = 3600.0


def decisions(*, live: tuple[int, ...] = (), targets: tuple[int, ...] = (PHONE,)) -> PushDecisions:
    made = PushDecisions(USER, TIMEOUT, REMEMBER)
    for device in targets:
        made.set_target(device, True)
    for device in live:
        made.set_live(device, True)
    return made


def post(made: PushDecisions, seq: int, now: float = 0.0, *, sender: int = OTHER, mentions: frozenset[int] = frozenset(), channel: int = CHANNEL) -> list[object]:
    return list(made.posted(channel, seq, sender, mentions, now, int(now * 1000)))


# -- a device without a live connection -------------------------------------------------


def test_a_device_not_connected_is_pushed_at_once() -> None:
    made = decisions()
    assert post(made, 1) == [Push(PHONE, CHANNEL, 1)]
    assert made.wake_at == REMEMBER, "only the memory of the push is left"


def test_later_messages_update_the_one_push_of_the_channel() -> None:
    made = decisions()
    pushes = [post(made, seq, seq) for seq in range(1, 101)]
    # Each is an offer under the same (device, channel): the pusher replaces
    # the pending one, so the device has one push, of the newest message.
    assert pushes == [[Push(PHONE, CHANNEL, seq)] for seq in range(1, 101)]


def test_the_users_own_messages_push_nothing() -> None:
    assert post(decisions(), 1, sender=USER) == []


def test_a_device_without_a_target_is_not_pushed() -> None:
    made = decisions(targets=())
    assert post(made, 1) == []
    assert made.settled


# -- levels ---------------------------------------------------------------------------------


def test_level_none_pushes_nothing_until_its_until() -> None:
    made = decisions()
    made.set_level(CHANNEL, Notify(NotifyLevel.NONE, until=5_000))
    assert post(made, 1, now=4.999) == []
    assert post(made, 2, now=5.0) == [Push(PHONE, CHANNEL, 2)], "back to all at until"


def test_level_mentions_pushes_only_a_message_that_mentions_the_user() -> None:
    made = decisions()
    made.set_level(CHANNEL, Notify(NotifyLevel.MENTIONS))
    assert post(made, 1, mentions=frozenset({OTHER})) == []
    assert post(made, 2, mentions=frozenset({USER})) == [Push(PHONE, CHANNEL, 2)]
    assert post(made, 3, channel=QUIET) == [Push(PHONE, QUIET, 3)], "levels are per channel"


def test_a_level_cleared_is_all_again() -> None:
    made = decisions()
    made.set_level(CHANNEL, Notify(NotifyLevel.NONE))
    made.set_level(CHANNEL, None)
    assert post(made, 1) == [Push(PHONE, CHANNEL, 1)]


# -- a live device and its acks ----------------------------------------------------------------


def test_a_live_device_that_does_not_ack_is_pushed_after_the_time_out() -> None:
    made = decisions(live=(PHONE,))
    assert post(made, 1, now=100.0) == []
    assert made.wake_at == 100.0 + TIMEOUT
    assert made.tick(100.0 + TIMEOUT - 0.001) == []
    assert made.tick(100.0 + TIMEOUT) == [Push(PHONE, CHANNEL, 1)]


def test_a_live_device_that_acks_is_not_pushed() -> None:
    made = decisions(live=(PHONE,))
    post(made, 1, now=100.0)
    assert made.acked(PHONE, CHANNEL, 1) == []
    assert made.settled and made.wake_at is None
    assert made.tick(200.0) == []


def test_the_time_out_runs_from_the_first_message_not_acked() -> None:
    made = decisions(live=(PHONE,))
    post(made, 1, now=100.0)
    post(made, 2, now=105.0)
    made.acked(PHONE, CHANNEL, 1)
    assert made.wake_at == 105.0 + TIMEOUT
    assert made.tick(105.0 + TIMEOUT) == [Push(PHONE, CHANNEL, 2)]


def test_one_push_covers_every_message_that_waited() -> None:
    made = decisions(live=(PHONE,))
    for seq in (1, 2, 3):
        post(made, seq, now=100.0 + seq)
    assert made.tick(101.0 + TIMEOUT) == [Push(PHONE, CHANNEL, 3)]
    assert made.tick(103.0 + TIMEOUT) == [], "messages 2 and 3 went with it"


def test_an_ack_of_another_device_covers_only_that_device() -> None:
    made = decisions(live=(PHONE, LAPTOP), targets=(PHONE, LAPTOP))
    post(made, 1, now=0.0)
    made.acked(LAPTOP, CHANNEL, 1)
    assert made.tick(TIMEOUT) == [Push(PHONE, CHANNEL, 1)]


def test_an_ack_covering_a_push_withdraws_it() -> None:
    made = decisions()
    post(made, 1)
    post(made, 2)
    assert made.acked(PHONE, CHANNEL, 1) == [], "the push is of message 2"
    assert made.acked(PHONE, CHANNEL, 2) == [Withdraw(PHONE, CHANNEL)]
    assert made.settled


def test_a_device_that_went_away_is_still_pushed_at_the_time_out() -> None:
    made = decisions(live=(PHONE,))
    post(made, 1, now=0.0)
    made.set_live(PHONE, False)
    assert post(made, 2, now=1.0) == [Push(PHONE, CHANNEL, 2)], "not live: at once, covering message 1"
    assert made.tick(TIMEOUT) == []


def test_a_device_that_connects_has_its_pending_pushes_withdrawn() -> None:
    made = decisions()
    post(made, 1)
    assert made.set_live(PHONE, True) == [Withdraw(PHONE, CHANNEL)]
    assert made.set_live(PHONE, True) == [], "a second connection changes nothing"


# -- reads ----------------------------------------------------------------------------------------


def test_a_read_elsewhere_sends_the_notified_device_a_badge_update() -> None:
    made = decisions(live=(LAPTOP,), targets=(PHONE, LAPTOP))
    post(made, 1, now=0.0)  # the phone is pushed, the laptop waits for its ack
    assert made.read(CHANNEL, 1, LAPTOP) == [Badge(PHONE, CHANNEL, 1)]
    assert made.tick(TIMEOUT) == [], "the read covered the laptop's message too"
    assert made.settled


def test_a_read_on_the_notified_device_withdraws_its_push() -> None:
    made = decisions()
    post(made, 1)
    assert made.read(CHANNEL, 1, PHONE) == [Withdraw(PHONE, CHANNEL)]


def test_a_read_short_of_the_push_leaves_it() -> None:
    made = decisions()
    post(made, 1)
    post(made, 2)
    assert made.read(CHANNEL, 1, LAPTOP) == []
    assert made.read(CHANNEL, 2, LAPTOP) == [Badge(PHONE, CHANNEL, 2)]


def test_a_push_is_remembered_for_a_while_only() -> None:
    made = decisions()
    post(made, 1, now=0.0)
    assert made.tick(REMEMBER) == []
    assert made.settled, "forgotten: the actor may go"
    assert made.read(CHANNEL, 1, LAPTOP) == []


def test_a_target_removed_withdraws_and_forgets_its_device() -> None:
    made = decisions()
    post(made, 1)
    assert made.set_target(PHONE, False) == [Withdraw(PHONE, CHANNEL)]
    assert made.settled
    assert post(made, 2) == []


def test_a_slot_remembers_a_bounded_number_of_messages_and_errs_towards_pushing() -> None:
    made = decisions(live=(PHONE,))
    for seq in range(1, MAX_WAITING + 11):
        post(made, seq, now=float(seq))
    made.acked(PHONE, CHANNEL, MAX_WAITING - 1)
    # Messages MAX_WAITING.. were kept as one entry at MAX_WAITING's time:
    # their time-out is that message's, earlier than theirs.
    assert made.wake_at == MAX_WAITING + TIMEOUT
    assert made.tick(MAX_WAITING + TIMEOUT) == [Push(PHONE, CHANNEL, MAX_WAITING + 10)]


# -- the model ----------------------------------------------------------------------------------


@define
class _Sent:
    seq: int
    at: float


@define
class Model:
    """The rules in their own words: which messages each device got live and
    when, the marks that cover them (acks, reads, pushes), the pushes not
    yet covered and when they were made."""

    live: set[int] = field(factory=set)
    targets: set[int] = field(factory=set)
    levels: dict[int, Notify] = field(factory=dict)
    # (device, channel) -> messages delivered live, allowed to push, in order
    got_live: dict[tuple[int, int], list[_Sent]] = field(factory=dict)
    acked: dict[tuple[int, int], int] = field(factory=dict)
    read: dict[int, int] = field(factory=dict)
    last_push: dict[tuple[int, int], _Sent] = field(factory=dict)
    # pushes no ack or read has covered, and not forgotten: (device, channel)
    outstanding: set[tuple[int, int]] = field(factory=set)

    def covered(self, key: tuple[int, int]) -> int:
        pushed = self.last_push.get(key)
        return max(self.acked.get(key, 0), self.read.get(key[1], 0), pushed.seq if pushed else 0)

    def waiting(self, key: tuple[int, int]) -> list[_Sent]:
        return [sent for sent in self.got_live.get(key, []) if sent.seq > self.covered(key)]

    def push(self, key: tuple[int, int], seq: int, now: float) -> Push:
        self.last_push[key] = _Sent(seq, now)
        self.outstanding.add(key)
        return Push(key[0], key[1], seq)

    def allowed(self, channel: int, mentioned: bool, now_ms: int) -> bool:
        notify = self.levels.get(channel)
        level = NotifyLevel.ALL if notify is None or (notify.until is not None and now_ms >= notify.until) else notify.level
        return level is NotifyLevel.ALL or (level is NotifyLevel.MENTIONS and mentioned)

    def wake_at(self) -> float | None:
        times = [waiting[0].at + TIMEOUT for key in self.got_live if (waiting := self.waiting(key))]
        times += [self.last_push[key].at + REMEMBER for key in self.outstanding]
        return min(times, default=None)


DEVICES = (PHONE, LAPTOP)
CHANNELS = (CHANNEL, QUIET)


class Decisions(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.made = PushDecisions(USER, TIMEOUT, REMEMBER)
        self.model = Model()
        self.now = 0.0
        self.seqs = dict.fromkeys(CHANNELS, 0)

    def check(self, effects: list[object], expected: list[object]) -> None:
        assert sorted(map(repr, effects)) == sorted(map(repr, expected))

    @rule(device=st.sampled_from(DEVICES), has=st.booleans())
    def set_target(self, device: int, has: bool) -> None:
        model = self.model
        expected: list[object] = []
        if has:
            model.targets.add(device)
        elif device in model.targets:
            model.targets.discard(device)
            expected = [Withdraw(*key) for key in model.outstanding if key[0] == device]
            model.outstanding = {key for key in model.outstanding if key[0] != device}
            for key in [key for key in model.got_live if key[0] == device]:
                # A device without a target has nothing waiting: forget what it got.
                model.got_live[key] = []
        self.check(self.made.set_target(device, has), expected)

    @rule(device=st.sampled_from(DEVICES), live=st.booleans())
    def set_live(self, device: int, live: bool) -> None:
        model = self.model
        expected: list[object] = []
        if live and device not in model.live:
            expected = [Withdraw(*key) for key in model.outstanding if key[0] == device]
        (model.live.add if live else model.live.discard)(device)
        self.check(self.made.set_live(device, live), expected)

    @rule(channel=st.sampled_from(CHANNELS), level=st.sampled_from(NotifyLevel), until=st.none() | st.integers(0, 100_000), clear=st.booleans())
    def set_level(self, channel: int, level: NotifyLevel, until: int | None, clear: bool) -> None:
        notify = None if clear else Notify(level, until)
        if notify is None:
            self.model.levels.pop(channel, None)
        else:
            self.model.levels[channel] = notify
        self.made.set_level(channel, notify)

    @precondition(lambda self: sum(self.seqs.values()) < 40)
    @rule(channel=st.sampled_from(CHANNELS), own=st.booleans(), mentioned=st.booleans())
    def post(self, channel: int, own: bool, mentioned: bool) -> None:
        model = self.model
        self.seqs[channel] += 1
        seq = self.seqs[channel]
        now_ms = int(self.now * 1000)
        expected: list[object] = []
        if not own and model.allowed(channel, mentioned, now_ms):
            for device in model.targets:
                key = (device, channel)
                if device in model.live:
                    model.got_live.setdefault(key, []).append(_Sent(seq, self.now))
                else:
                    expected.append(model.push(key, seq, self.now))
        mentions = frozenset({USER}) if mentioned else frozenset()
        effects = self.made.posted(channel, seq, USER if own else OTHER, mentions, self.now, now_ms)
        self.check(effects, expected)

    @rule(device=st.sampled_from(DEVICES), channel=st.sampled_from(CHANNELS), back=st.integers(0, 3))
    def ack(self, device: int, channel: int, back: int) -> None:
        model = self.model
        seq = max(0, self.seqs[channel] - back)
        key = (device, channel)
        expected: list[object] = []
        if key in model.outstanding and model.last_push[key].seq <= seq:
            model.outstanding.discard(key)
            expected = [Withdraw(device, channel)]
        if device in model.targets:
            model.acked[key] = max(model.acked.get(key, 0), seq)
        self.check(self.made.acked(device, channel, seq), expected)

    @rule(channel=st.sampled_from(CHANNELS), back=st.integers(0, 3), by=st.sampled_from(DEVICES))
    def read(self, channel: int, back: int, by: int) -> None:
        model = self.model
        seq = max(0, self.seqs[channel] - back)
        expected: list[object] = []
        for key in sorted(model.outstanding):
            if key[1] == channel and model.last_push[key].seq <= seq:
                model.outstanding.discard(key)
                expected.append(Withdraw(*key) if key[0] == by else Badge(key[0], channel, seq))
        model.read[channel] = max(model.read.get(channel, 0), seq)
        self.check(self.made.read(channel, seq, by), expected)

    @rule(seconds=st.sampled_from([0.0, 0.5, 3.0, TIMEOUT - 0.5, TIMEOUT, 30.0, REMEMBER]))
    def tick(self, seconds: float) -> None:
        model = self.model
        self.now += seconds
        for key in list(model.outstanding):
            if model.last_push[key].at + REMEMBER <= self.now:
                model.outstanding.discard(key)
        expected: list[object] = []
        for key in list(model.got_live):
            waiting = model.waiting(key)
            if key[0] in model.targets and waiting and waiting[0].at + TIMEOUT <= self.now:
                expected.append(model.push(key, waiting[-1].seq, self.now))
        self.check(self.made.tick(self.now), expected)

    @invariant()
    def it_wakes_when_the_model_says(self) -> None:
        assert self.made.wake_at == self.model.wake_at()

    @invariant()
    def it_may_go_only_with_nothing_pending(self) -> None:
        assert self.made.settled == (self.model.wake_at() is None)


Decisions.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
test_decisions_follow_the_rules = Decisions.TestCase


# -- the badge --------------------------------------------------------------------------------


def test_the_badge_is_loaded_once_then_kept_from_messages_and_reads() -> None:
    counts = UnreadCounts()
    counts.posted(CHANNEL, 9)
    assert not counts.loaded and counts.total == 0, "before the load the store holds it all"
    counts.load({CHANNEL: Unread(9, 4), QUIET: Unread(2, 2)})
    assert counts.total == 5
    counts.posted(CHANNEL, 10)
    counts.posted(QUIET, 3)
    assert counts.total == 7
    counts.read(CHANNEL, 10)
    assert counts.total == 1
    counts.posted(CHANNEL, 8)  # late
    counts.read(CHANNEL, 7)  # late
    assert counts.total == 1, "late notices change nothing"
    counts.posted(200, 4)  # a channel the user joined since
    assert counts.total == 5
