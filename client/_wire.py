"""Frames on the wire: msgpack bytes to typed replies and events, and back.

This is the client's only edge with the network's data, so every field is
checked here: nothing behind it ever sees an untyped map from the node except
an `Ok`'s result fields, which the request that asked for them parses (with
the same checks) in `_requests`. Sans-IO: no trio in this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgpack  # type: ignore[import-untyped]
from attrs import frozen

from ._errors import ProtocolError
from ._events import (
    ByeEvent,
    ChannelEvent,
    PresenceEvent,
    ReceiptEvent,
    ServerEvent,
    TypingEvent,
)
from ._values import ChannelInfo, ChannelKind, Device, Message, PresenceInfo

T = TypeVar("T")

Fields = Mapping[str, Any]


@frozen
class Ok:
    """A success reply; `fields` are the result fields, for the request with this `id` to parse."""

    id: int
    fields: Fields


@frozen
class Err:
    """An error reply to the request with this `id`."""

    id: int
    code: str
    msg: str
    retry: int | None


Reply = Ok | Err


def encode(frame: Mapping[str, object]) -> bytes:
    data: bytes = msgpack.packb(frame, use_bin_type=True)
    return data


def decode(data: bytes) -> Reply | ServerEvent | None:
    """One server frame, typed.

    None for an event type newer than this client: the protocol may add event
    types, and a client skips the ones it does not know.
    """
    try:
        frame = msgpack.unpackb(data, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ProtocolError(f"frame is not MessagePack: {exc}") from exc
    if not isinstance(frame, dict):
        raise ProtocolError(f"frame is not a map: {type(frame).__name__}")
    kind = get_str(frame, "t")
    if kind == "ok":
        return Ok(get_int(frame, "id"), frame)
    if kind == "err":
        return Err(get_int(frame, "id"), get_str(frame, "code"), get_str(frame, "msg"), get_opt_int(frame, "retry"))
    if "id" in frame:
        raise ProtocolError(f"a {kind!r} frame with an id is neither a reply nor an event")
    parse = _EVENTS.get(kind)
    return None if parse is None else parse(frame)


# -- field access: each raises ProtocolError naming the field ----------------


def get_int(m: Fields, key: str) -> int:
    value = m.get(key)
    # bool is an int subclass; the wire keeps them apart, so must we.
    if type(value) is not int:
        raise ProtocolError(f"field {key!r} must be an integer, got {value!r}")
    return value


def get_opt_int(m: Fields, key: str) -> int | None:
    return None if m.get(key) is None else get_int(m, key)


def get_str(m: Fields, key: str) -> str:
    value = m.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} must be a string, got {value!r}")
    return value


def get_bool(m: Fields, key: str) -> bool:
    value = m.get(key)
    if not isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be a boolean, got {value!r}")
    return value


def get_seconds(m: Fields, key: str) -> float:
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProtocolError(f"field {key!r} must be a positive number, got {value!r}")
    return float(value)


def get_ints(m: Fields, key: str) -> tuple[int, ...]:
    value = m.get(key)
    if not isinstance(value, list) or any(type(v) is not int for v in value):
        raise ProtocolError(f"field {key!r} must be a list of integers, got {value!r}")
    return tuple(value)


def get_maps(m: Fields, key: str, parse: Callable[[Fields], T]) -> tuple[T, ...]:
    value = m.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProtocolError(f"field {key!r} must be a list of maps, got {value!r}")
    return tuple(parse(v) for v in value)


def get_kind(m: Fields, key: str) -> ChannelKind:
    value = get_str(m, key)
    try:
        return ChannelKind(value)
    except ValueError:
        raise ProtocolError(f"field {key!r} is not a channel kind: {value!r}") from None


# -- values -------------------------------------------------------------------


def message(m: Fields) -> Message:
    return Message(
        channel=get_int(m, "channel"),
        seq=get_int(m, "seq"),
        sender=get_int(m, "sender"),
        device=get_int(m, "device"),
        body=get_str(m, "body"),
        ts=get_int(m, "ts"),
        cid=get_str(m, "cid"),
    )


def channel_info(m: Fields) -> ChannelInfo:
    return ChannelInfo(
        channel=get_int(m, "channel"),
        kind=get_kind(m, "kind"),
        name=get_str(m, "name"),
        members=get_ints(m, "members"),
        last=get_int(m, "last"),
        read=get_int(m, "read"),
    )


def device(m: Fields) -> Device:
    return Device(device=get_int(m, "device"), name=get_str(m, "name"), last=get_int(m, "last"))


def presence_info(m: Fields) -> PresenceInfo:
    return PresenceInfo(user=get_int(m, "user"), online=get_bool(m, "online"), last=get_int(m, "last"))


def _channel_event(m: Fields) -> ChannelEvent:
    return ChannelEvent(
        channel=get_int(m, "channel"),
        kind=get_kind(m, "kind"),
        name=get_str(m, "name"),
        members=get_ints(m, "members"),
    )


def _receipt_event(m: Fields) -> ReceiptEvent:
    return ReceiptEvent(channel=get_int(m, "channel"), user=get_int(m, "user"), seq=get_int(m, "seq"))


def _typing_event(m: Fields) -> TypingEvent:
    return TypingEvent(channel=get_int(m, "channel"), user=get_int(m, "user"))


def _presence_event(m: Fields) -> PresenceEvent:
    return PresenceEvent(user=get_int(m, "user"), online=get_bool(m, "online"), last=get_int(m, "last"))


def _bye_event(m: Fields) -> ByeEvent:
    return ByeEvent(reason=get_str(m, "reason"), retry=get_opt_int(m, "retry"))


_EVENTS: dict[str, Callable[[Fields], ServerEvent]] = {
    "msg": message,
    "channel": _channel_event,
    "receipt": _receipt_event,
    "typing": _typing_event,
    "presence": _presence_event,
    "bye": _bye_event,
}
