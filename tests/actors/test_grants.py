"""Per-device grants and connection caps, on a clock the test moves by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors._grants import ConnectionsCapped, DeviceGrant, UserGrants
from protocol import Limits

LIMITS = Limits(send_rate=20.0, send_burst=100, max_connections_per_device=4, max_connections_per_user=16)


def admitted(grants: UserGrants, device: int, connected: list[int], now: float = 0.0) -> DeviceGrant:
    grant = grants.admit(device, connected, now)
    assert isinstance(grant, DeviceGrant), grant
    connected.append(device)
    return grant


def test_every_connection_of_a_device_gets_the_same_grant_and_spends_one_bucket() -> None:
    grants, connected = UserGrants(LIMITS), []
    shared = [admitted(grants, 7, connected) for _ in range(4)]
    assert all(grant is shared[0] for grant in shared)
    # 4 connections, 100 sends each at the same instant: the burst, once.
    outcomes = [grant.take_send(0.0) for _ in range(100) for grant in shared]
    assert outcomes.count(None) == 100
    assert set(outcomes) - {None} == {50}  # 20 sends a second: the next token in 50 ms


def test_devices_of_one_user_have_buckets_of_their_own() -> None:
    grants, connected = UserGrants(LIMITS), []
    phone, laptop = admitted(grants, 1, connected), admitted(grants, 2, connected)
    assert phone is not laptop
    while phone.take_send(0.0) is None:
        pass
    assert laptop.take_send(0.0) is None


def test_the_fifth_connection_of_a_device_is_refused_and_another_device_is_not() -> None:
    grants, connected = UserGrants(LIMITS), []
    for _ in range(4):
        admitted(grants, 7, connected)
    assert grants.admit(7, connected, 0.0) == ConnectionsCapped("device", 4, retry_ms=5000)
    admitted(grants, 8, connected)


def test_the_seventeenth_connection_of_a_user_is_refused_whatever_its_device() -> None:
    grants, connected = UserGrants(LIMITS), []
    for device in range(1, 17):
        admitted(grants, device, connected)
    assert grants.admit(17, connected, 0.0) == ConnectionsCapped("user", 16, retry_ms=5000)
    assert grants.admit(1, connected, 0.0) == ConnectionsCapped("user", 16, retry_ms=5000)


def test_a_connection_gone_frees_its_slot() -> None:
    grants, connected = UserGrants(LIMITS), []
    for _ in range(4):
        admitted(grants, 7, connected)
    connected.remove(7)
    admitted(grants, 7, connected)


def test_reconnecting_buys_no_tokens_while_the_bucket_refills() -> None:
    grants, connected = UserGrants(LIMITS), []
    grant = admitted(grants, 7, connected)
    while grant.take_send(0.0) is None:
        pass
    connected.clear()  # its only connection closed
    again = admitted(grants, 7, connected, now=1.0)
    assert again is grant
    assert [again.take_send(1.0) for _ in range(21)].count(None) == 20  # one second's refill, no more


def test_a_settled_grant_of_a_device_gone_is_forgotten() -> None:
    grants, connected = UserGrants(LIMITS), []
    grant = admitted(grants, 7, connected)
    grant.take_send(0.0)
    connected.clear()
    admitted(grants, 8, connected, now=0.01)
    assert admitted(grants, 7, connected, now=0.02) is grant  # still refilling: kept
    connected.remove(7)
    admitted(grants, 8, connected, now=10.0)  # refilled by now: forgotten
    assert admitted(grants, 7, connected, now=10.0) is not grant


@given(
    connections=st.integers(min_value=1, max_value=16),
    attempts=st.lists(st.integers(min_value=0, max_value=15), max_size=400),
    span=st.floats(min_value=0.0, max_value=5.0),
)
def test_sends_of_a_device_never_exceed_one_bucket_however_many_connections(
    connections: int, attempts: list[int], span: float
) -> None:
    limits = Limits(send_rate=20.0, send_burst=100, max_connections_per_device=16)
    grants, connected = UserGrants(limits), []
    held = [admitted(grants, 7, connected) for _ in range(connections)]
    taken = 0
    for step, which in enumerate(attempts):
        now = span * step / max(1, len(attempts))
        taken += held[which % connections].take_send(now) is None
    assert taken <= limits.send_burst + limits.send_rate * span + 1e-6
