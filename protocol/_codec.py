"""MessagePack in and out, with the strictness the wire promises.

A frame is one msgpack map with string keys. Everything a peer can make us
allocate is bounded before it reaches Python code: the message size by the
transport, and here the nesting depth and the number of containers, so a
1 MiB message cannot expand into a million empty lists. Strings must be valid
UTF-8 and extension types (timestamps included) are refused: no field of the
protocol uses them, and rejecting them keeps decoding a pure data operation.
"""

from __future__ import annotations

from typing import Any

import msgpack

from ._errors import FrameError

#: Deepest nesting of arrays and maps in a frame (the frame's map is depth 1).
MAX_DEPTH = 32
#: Arrays and maps in one client frame. A request needs two (its map and one
#: id list); the rest is room for optional fields of later protocol versions.
MAX_CLIENT_CONTAINERS = 256


class _Builder:
    """Hooks for the C unpacker that count and measure containers as built.

    The unpacker builds bottom-up, so a container's depth is one more than its
    deepest child's; children were built (and measured) before their parent.
    Depths are kept by object id, which is stable because every measured
    container stays referenced by its parent until decoding ends.
    """

    def __init__(self, max_containers: int | None) -> None:
        self._left = max_containers
        self._depth: dict[int, int] = {}

    def _measure(self, container: list[Any] | dict[str, Any], children: Any) -> None:
        if self._left is not None:
            self._left -= 1
            if self._left < 0:
                raise FrameError("too many arrays and maps in one frame")
        depth = 1
        for child in children:
            below = self._depth.get(id(child))  # None for scalars
            if below is not None and below >= depth:
                depth = below + 1
        if depth > MAX_DEPTH:
            raise FrameError(f"frame nested deeper than {MAX_DEPTH}")
        self._depth[id(container)] = depth

    @staticmethod
    def ext_hook(code: int, _data: bytes) -> Any:
        # max_ext_len=0 already refuses every ext with a payload; this is for
        # the empty ones (fixext never is, ext8 with length 0 can be).
        raise FrameError(f"msgpack extension type {code} is not allowed")

    def list_hook(self, items: list[Any]) -> list[Any]:
        self._measure(items, items)
        return items

    def pairs_hook(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in pairs:
            # strict_map_key still lets bytes keys through; the wire says str.
            if type(key) is not str:
                raise FrameError("map keys must be strings")
            if key in mapping:
                raise FrameError(f"duplicate map key {key!r}")
            mapping[key] = value
        self._measure(mapping, mapping.values())
        return mapping


def unpack_frame(
    data: bytes, *, max_containers: int | None = MAX_CLIENT_CONTAINERS
) -> dict[str, Any]:
    """Decode one frame, or raise FrameError saying why it is not one.

    `max_containers` is None for frames from a trusted server, whose replies
    legitimately hold thousands of maps (a long `channels` list).
    """
    builder = _Builder(max_containers)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            list_hook=builder.list_hook,
            object_pairs_hook=builder.pairs_hook,
            max_ext_len=0,
            ext_hook=builder.ext_hook,
        )
    except FrameError:
        raise
    except UnicodeDecodeError as exc:
        raise FrameError("strings must be valid UTF-8") from exc
    except (ValueError, TypeError, msgpack.StackError) as exc:
        # msgpack reports truncated, trailing, oversized and undefined data
        # as ValueError subclasses; its exceptions carry no other meaning.
        raise FrameError(f"not msgpack: {str(exc) or type(exc).__name__}") from exc
    if not isinstance(value, dict):
        raise FrameError("a frame must be a msgpack map")
    return value


def pack_frame(fields: dict[str, Any]) -> bytes:
    """Encode one frame; str is sent as msgpack str and bytes as bin."""
    return msgpack.packb(fields, use_bin_type=True)
