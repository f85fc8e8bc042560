"""The golden vectors in tests/vectors/: the package reads and writes exactly them.

Both directions, from the bytes in the files: a vector's bytes are what
`encode` makes of its typed value, and reading them in the role that
receives them (the server's session for a request, the client's decoder for
a reply or an event) gives that value back. The files are also exactly what
`python -m tools.golden_vectors` writes now, so the wire cannot change
without a diff of them.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from protocol import (
    ByeEvent,
    ByeReason,
    Dispatch,
    Err,
    ErrorCode,
    Limits,
    Ok,
    PingRequest,
    decode_server_frame,
    encode,
)
from protocol._events import EVENT_TYPES
from protocol._requests import REQUEST_TYPES
from protocol._replies import Result
from tools import golden_vectors

from .roles import as_parsed, server_reads

VECTORS = golden_vectors.vectors()
BY_NAME = {vector.name: vector for vector in VECTORS}
ENTRIES: dict[str, dict[str, Any]] = {
    entry["name"]: entry
    for name in golden_vectors.render()
    for entry in json.loads((golden_vectors.VECTORS_DIR / name).read_text(encoding="utf-8"))
}
LIMITS = Limits()
NAMES = [vector.name for vector in VECTORS]


def test_the_files_are_what_the_script_writes_now() -> None:
    for name, text in golden_vectors.render().items():
        checked_in = (golden_vectors.VECTORS_DIR / name).read_text(encoding="utf-8")
        assert checked_in == text, f"tests/vectors/{name} is stale: run python -m tools.golden_vectors"


def test_each_vector_has_one_name() -> None:
    assert len(set(NAMES)) == len(NAMES) == len(ENTRIES)


@pytest.mark.parametrize("name", NAMES)
def test_the_typed_value_encodes_to_exactly_the_vectors_bytes(name: str) -> None:
    assert encode(BY_NAME[name].value).hex() == ENTRIES[name]["hex"]


@pytest.mark.parametrize("name", NAMES)
def test_the_vectors_bytes_decode_to_its_map_and_its_typed_value(name: str) -> None:
    vector, entry = BY_NAME[name], ENTRIES[name]
    data = bytes.fromhex(entry["hex"])
    assert msgpack.unpackb(data, raw=False) == entry["frame"]
    value = vector.value
    if entry["direction"] == golden_vectors.CLIENT:
        out = server_reads(data, value.PHASE, LIMITS)
        assert out == (Ok(value.id) if isinstance(value, PingRequest) else Dispatch(as_parsed(value, LIMITS)))
        return
    assert entry["direction"] == golden_vectors.SERVER
    request = None if "reply_to" not in entry else BY_NAME[entry["reply_to"]].value
    in_flight = {} if request is None else {request.id: request}
    for lenient in (False, True):
        assert decode_server_frame(data, in_flight.get, lenient=lenient) == value


# -- what the set covers ---------------------------------------------------------


def frames(direction: str) -> list[dict[str, Any]]:
    return [entry["frame"] for entry in ENTRIES.values() if entry["direction"] == direction]


def integers(value: Any) -> set[int]:
    if isinstance(value, dict):
        return set().union(*map(integers, value.values()))
    if isinstance(value, list):
        return set().union(*map(integers, value))
    return {value} if type(value) is int else set()


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def test_every_request_reply_and_event_type_is_there() -> None:
    assert {frame["t"] for frame in frames(golden_vectors.CLIENT)} == set(REQUEST_TYPES)
    results = {type(vector.value.result) for vector in VECTORS if isinstance(vector.value, Ok)}
    assert results == {*Result.__args__, type(None)}
    server_types = {frame["t"] for frame in frames(golden_vectors.SERVER)}
    assert server_types == {"ok", "err", *EVENT_TYPES}


def test_every_error_code_and_bye_reason_is_there() -> None:
    assert {vector.value.code for vector in VECTORS if isinstance(vector.value, Err)} == set(ErrorCode)
    assert {vector.value.reason for vector in VECTORS if isinstance(vector.value, ByeEvent)} == set(ByeReason)


@pytest.mark.parametrize("direction", [golden_vectors.CLIENT, golden_vectors.SERVER])
def test_each_direction_carries_the_ids_four_byte_characters_and_the_longest_body(direction: str) -> None:
    found = frames(direction)
    assert {1, 2**53 + 1, 2**63 - 1} <= integers(found)
    assert {frame["id"] for frame in found if "id" in frame} >= {1, 2**53 + 1, 2**63 - 1}, "as request ids"
    texts = strings(found)
    # Beyond the Basic Multilingual Plane: four bytes of UTF-8, a surrogate pair in UTF-16.
    assert any(ord(char) > 0xFFFF for text in texts for char in text), "a four-byte character"
    assert any(len(text) == LIMITS.max_body_chars for text in texts), "a body at the limit"
