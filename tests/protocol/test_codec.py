"""The frame grammar: what decodes, and what is unsupported data (close 1003)."""

from __future__ import annotations

import msgpack
import pytest

from protocol import AuthResult, Close, Err, ErrorCode, Limits, Ok, ProtocolSession, Violation
from protocol import FrameError
from protocol._codec import MAX_CLIENT_CONTAINERS, MAX_DEPTH, MAX_MAP_KEYS, Bounds, unpack_frame
from protocol._codec import _Builder as Builder

from .conftest import pack


def nested(depth: int) -> object:
    """`depth` arrays, one inside the other."""
    value: object = None
    for _ in range(depth):
        value = [value]
    return value


def answer(data: bytes) -> list[object]:
    return list(ProtocolSession(now=0.0).receive_bytes(data, 1.0))


def is_unsupported(outputs: list[object]) -> bool:
    return (
        len(outputs) == 2
        and isinstance(outputs[0], Err)
        and outputs[0].id is None
        and outputs[1] == Close(Violation.UNSUPPORTED_DATA)
    )


def test_a_ping_with_extra_fields_of_every_msgpack_kind_decodes() -> None:
    extra = {"f": 1.5, "b": b"\x00\xff", "n": None, "l": [True, -3, "x"], "m": {"k": [1]}}
    assert answer(pack({"t": "ping", "id": 1, **extra})) == [Ok(1)]


def test_nesting_up_to_the_depth_limit_decodes() -> None:
    # The frame's map is one level; MAX_DEPTH - 1 arrays fit inside it.
    assert answer(pack({"t": "ping", "id": 1, "x": nested(MAX_DEPTH - 1)})) == [Ok(1)]


def test_nesting_deeper_is_unsupported() -> None:
    assert is_unsupported(answer(pack({"t": "ping", "id": 1, "x": nested(MAX_DEPTH)})))


def test_nesting_deeper_than_msgpacks_own_stack_is_unsupported() -> None:
    # Written by hand, the packer refuses to build it: {"t": "ping", "id": 1, "x": [[[...]]]}.
    data = b"\x83\xa1t\xa4ping\xa2id\x01\xa1x" + b"\x91" * 2000 + b"\xc0"
    assert is_unsupported(answer(data))


def test_containers_up_to_the_limit_decode() -> None:
    # The map, one array, and empty arrays in it.
    fits = [[] for _ in range(MAX_CLIENT_CONTAINERS - 2)]
    assert answer(pack({"t": "ping", "id": 1, "x": fits})) == [Ok(1)]


def test_more_containers_are_unsupported() -> None:
    # A 1 MiB message could otherwise expand into a million Python lists.
    too_many = [[] for _ in range(MAX_CLIENT_CONTAINERS - 1)]
    assert is_unsupported(answer(pack({"t": "ping", "id": 1, "x": too_many})))


def test_a_server_frame_may_hold_any_number_of_containers() -> None:
    many = {"t": "ok", "id": 1, "x": [{} for _ in range(10 * MAX_CLIENT_CONTAINERS)]}
    assert unpack_frame(pack(many), max_containers=None) == many


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("never used byte", b"\xc1"),
        ("truncated", pack({"t": "ping", "id": 1})[:-1]),
        ("trailing bytes", pack({"t": "ping", "id": 1}) + b"\xc0"),
        ("two frames", pack({"t": "ping", "id": 1}) * 2),
        ("array", pack([{"t": "ping", "id": 1}])),
        ("nil", pack(None)),
        ("string", pack("ping")),
        ("integer key", b"\x81\x01\x02"),
        ("binary key", pack({b"t": "ping", "id": 1})),
        ("binary key deep inside", pack({"t": "ping", "id": 1, "x": [{b"k": 1}]})),
        ("array key", b"\x81\x91\x01\x01"),
        ("duplicate key", b"\x82\xa1t\xa4ping\xa1t\xa4ping"),
        ("invalid UTF-8", b"\x82\xa1t\xa4ping\xa2id\xa2\xff\xfe"),
        ("lone surrogate", b"\x81\xa1t\xa3\xed\xa0\x80"),
        ("ext type", pack({"t": "ping", "id": 1, "x": msgpack.ExtType(5, b"data")})),
        ("empty ext type", pack({"t": "ping", "id": 1, "x": msgpack.ExtType(5, b"")})),
        ("timestamp", pack({"t": "ping", "id": 1, "x": msgpack.Timestamp(1, 0)})),
        ("claims a huge array", b"\x81\xa1x\xdd\xff\xff\xff\xff"),
    ],
)
def test_data_that_is_not_a_frame_is_unsupported(name: str, data: bytes) -> None:
    assert is_unsupported(answer(data))


# -- lengths bounded in C, before any hook of ours runs -----------------------------


def authenticated_answer(data: bytes, limits: Limits | None = None) -> list[object]:
    """What an authenticated session (1 MiB messages) answers `data` with."""
    session = ProtocolSession(now=0.0, limits=limits or Limits())
    [dispatch] = session.receive_bytes(pack({"t": "auth", "id": 1, "token": "t0ken"}), 0.0)
    session.answer(dispatch.request, Ok(1, AuthResult(41, 42, heartbeat=5)))
    return list(session.receive_bytes(data, 1.0))


BOUNDS = Bounds.for_limits(Limits())


def test_a_map_of_max_map_keys_decodes_and_one_more_key_is_unsupported() -> None:
    fits = {f"k{i}": i for i in range(MAX_MAP_KEYS - 2)}
    assert answer(pack({"t": "ping", "id": 1, **fits})) == [Ok(1)]
    assert is_unsupported(answer(pack({"t": "ping", "id": 1, **fits, "one": 1})))


def test_a_map_claiming_more_keys_than_allowed_runs_no_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 1 MiB ping holding a 160,000-key map: refused at the map's header,
    so not one pair reaches our Python code (which used to walk them all)."""
    calls: list[int] = []
    pairs_hook = Builder.pairs_hook

    def counting(self: Builder, pairs: list[tuple[object, object]]) -> dict[str, object]:
        calls.append(len(pairs))
        return pairs_hook(self, pairs)

    monkeypatch.setattr(Builder, "pairs_hook", counting)
    huge = pack({"t": "ping", "id": 1, "x": {str(i): i for i in range(160_000)}})
    assert len(huge) > 1 << 20
    with pytest.raises(FrameError, match="exceeds max_map_len"):
        unpack_frame(huge, bounds=BOUNDS)
    assert calls == []


def test_an_array_longer_than_any_request_needs_is_unsupported() -> None:
    assert answer(pack({"t": "ping", "id": 1, "x": [0] * BOUNDS.array})) == [Ok(1)]
    assert is_unsupported(answer(pack({"t": "ping", "id": 1, "x": [0] * (BOUNDS.array + 1)})))


def test_the_longest_array_follows_the_limits() -> None:
    limits = Limits(max_presence_users=5000)
    assert Bounds.for_limits(limits).array == 10_000
    users = list(range(1, 5001))
    [out] = authenticated_answer(pack({"t": "presence", "id": 2, "users": users}), limits)
    assert not isinstance(out, Err), out


def test_a_list_a_little_too_long_still_gets_its_error_code() -> None:
    [out] = authenticated_answer(pack({"t": "presence", "id": 2, "users": list(range(1, 1002))}))
    assert isinstance(out, Err) and out.code is ErrorCode.BAD_REQUEST


def test_entries_over_the_frame_budget_are_unsupported_though_each_array_fits() -> None:
    # Two arrays of the longest length: each passes msgpack's check, but
    # their entries together would have the hooks walk thousands of items.
    two = [[0] * BOUNDS.array for _ in range(2)]
    assert 2 * BOUNDS.array > BOUNDS.entries
    assert is_unsupported(authenticated_answer(pack({"t": "ping", "id": 1, "x": two})))
