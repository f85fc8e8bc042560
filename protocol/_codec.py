"""MessagePack in and out, with the strictness the wire promises.

A frame is one msgpack map with string keys. Everything a peer can make us
allocate or compute is bounded before it reaches Python code: the message
size by the transport; the length of every string, array and map by
msgpack's own C unpacker, as each header is read (`Bounds`); and what is
left for our hooks (the nesting depth, the number of containers, the
entries in them all) by counts the hooks check before they look at a single
child. So a 1 MiB message can neither expand into a million empty lists nor
make us walk a map of 160,000 keys. Strings must be valid UTF-8 and extension
types (timestamps included) are refused: no field of the protocol uses them,
and rejecting them keeps decoding a pure data operation.
"""

from __future__ import annotations

import functools
from typing import Any

import msgpack
from attrs import frozen

from ._errors import FrameError
from ._limits import Limits

#: Deepest nesting of arrays and maps in a frame (the frame's map is depth 1).
MAX_DEPTH = 32
#: Arrays and maps in one client frame. A request needs two (its map and one
#: id list); the rest is room for optional fields of later protocol versions.
MAX_CLIENT_CONTAINERS = 256
#: Keys in one map of a client frame: a request has `t`, `id`, at most eight
#: fields and sixteen push provider fields.
MAX_MAP_KEYS = 64
#: Entries a client frame may hold besides its longest id list: its fields,
#: and room for optional ones of later versions.
SPARE_ENTRIES = 1024


@frozen
class Bounds:
    """How much one frame from a peer we do not trust may hold.

    `array`, `map`, `string` and `binary` are lengths msgpack's C unpacker
    checks at each header, so an oversized one costs no allocation and runs
    no hook. `entries` bounds the items of all arrays and maps of the frame
    together; with `MAX_CLIENT_CONTAINERS` it caps the Python work of the
    hooks, which look at every child of every container, at a few thousand
    steps per frame.

    They refuse only what is no request at all: an id list a little longer
    than its field allows still reaches validation (and gets its error
    code), and so does a body one character too long.
    """

    array: int
    map: int
    string: int
    binary: int
    entries: int

    @classmethod
    @functools.cache
    def for_limits(cls, limits: Limits) -> Bounds:
        """The bounds of a client frame under `limits`.

        Arrays: twice the longest id list a request may carry. Strings and
        binary values: the message size, as any field's own limit is for
        validation to answer.
        """
        array = 2 * max(limits.max_presence_users, limits.max_group_members)
        return cls(
            array=array,
            map=MAX_MAP_KEYS,
            string=limits.max_message_bytes,
            binary=limits.max_message_bytes,
            entries=array + SPARE_ENTRIES,
        )


class _Builder:
    """Hooks for the C unpacker that count and measure containers as built.

    The unpacker builds bottom-up, so a container's depth is one more than its
    deepest child's; children were built (and measured) before their parent.
    Depths are kept by object id, which is stable because every measured
    container stays referenced by its parent until decoding ends.
    """

    def __init__(self, max_containers: int | None, max_entries: int | None) -> None:
        self._left = max_containers
        self._entries = max_entries
        self._depth: dict[int, int] = {}

    def _count(self, entries: int) -> None:
        # Before any child is looked at: this is what bounds the hooks' work.
        if self._left is not None:
            self._left -= 1
            if self._left < 0:
                raise FrameError("too many arrays and maps in one frame")
        if self._entries is not None:
            self._entries -= entries
            if self._entries < 0:
                raise FrameError("too many entries in one frame")

    def _measure(self, container: list[Any] | dict[str, Any], children: Any) -> None:
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
        self._count(len(items))
        self._measure(items, items)
        return items

    def pairs_hook(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        self._count(len(pairs))
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
    data: bytes, *, max_containers: int | None = MAX_CLIENT_CONTAINERS, bounds: Bounds | None = None
) -> dict[str, Any]:
    """Decode one frame, or raise FrameError saying why it is not one.

    `max_containers` is None for frames from a trusted server, whose replies
    legitimately hold thousands of maps (a long `channels` list). `bounds`
    are for frames from a peer we do not trust (the server's session passes
    them); without them lengths are bounded only by the message's size.
    """
    builder = _Builder(max_containers, None if bounds is None else bounds.entries)
    lengths = {} if bounds is None else {
        "max_str_len": bounds.string,
        "max_bin_len": bounds.binary,
        "max_array_len": bounds.array,
        "max_map_len": bounds.map,
    }
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
            **lengths,
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
