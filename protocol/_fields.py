"""Typed reads of a decoded frame's fields: validation at the edge.

Every read either returns a value of the promised type and range or raises
FieldError with the code to answer. Absent and nil are the same for optional
fields; unknown fields are ignored, so later protocol versions may add them.

A frame is read strictly (the server reading a client, a conformance test) or
leniently (a client reading a server): the one difference is `known`, a
string from a set a later version may extend, which a lenient read keeps as
the plain string when it is not in this version's set.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

from ._errors import ErrorCode, FieldError

#: Ids, seqs and times are signed 63-bit on every store and client.
MAX_INT63 = (1 << 63) - 1

_E = TypeVar("_E", bound=enum.Enum)
_S = TypeVar("_S", bound=enum.StrEnum)


def is_int(value: object) -> bool:
    """True for msgpack integers; bool is an int subclass but never one here."""
    return type(value) is int


def bad(msg: str) -> FieldError:
    return FieldError(ErrorCode.BAD_REQUEST, msg)


class Fields:
    """A frame's map, read field by field."""

    __slots__ = ("_raw", "_lenient")

    def __init__(self, raw: Mapping[str, Any], *, lenient: bool = False) -> None:
        self._raw = raw
        self._lenient = lenient

    def __contains__(self, key: str) -> bool:
        """Present, possibly nil."""
        return key in self._raw

    def has(self, key: str) -> bool:
        """Present and not nil."""
        return self._raw.get(key) is not None

    def _get(self, key: str) -> Any:
        value = self._raw.get(key)
        if value is None:
            raise bad(f"missing field {key!r}")
        return value

    def integer(self, key: str, lo: int, hi: int = MAX_INT63) -> int:
        value = self._get(key)
        if not is_int(value):
            raise bad(f"field {key!r} must be an integer")
        if not lo <= value <= hi:
            raise bad(f"field {key!r} must be in {lo}..{hi}")
        return value

    def id(self, key: str) -> int:
        """A user, device or channel id: a positive 63-bit integer."""
        return self.integer(key, 1)

    def seq(self, key: str) -> int:
        """A position in a channel: 0 (before the first message) or a seq."""
        return self.integer(key, 0)

    def opt_int(self, key: str, lo: int, hi: int, default: int) -> int:
        return self.integer(key, lo, hi) if self.has(key) else default

    def text(self, key: str, lo: int = 0, hi: int | None = None) -> str:
        """A string of lo..hi characters (code points, not UTF-8 bytes)."""
        value = self._get(key)
        if type(value) is not str:
            raise bad(f"field {key!r} must be a string")
        if len(value) < lo or (hi is not None and len(value) > hi):
            bounds = f"at least {lo}" if hi is None else f"{lo}..{hi}"
            raise bad(f"field {key!r} must have {bounds} characters")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if type(value) is not bool:
            raise bad(f"field {key!r} must be a boolean")
        return value

    def enum(self, key: str, kind: type[_E]) -> _E:
        value = self._get(key)
        try:
            return kind(value)
        except ValueError:
            raise bad(f"field {key!r} has an unknown value") from None

    def known(self, key: str, kind: type[_S]) -> _S | str:
        """A member of `kind`, or in a lenient read any string `kind` does not know yet."""
        value = self._get(key)
        if type(value) is not str:
            raise bad(f"field {key!r} must be a string")
        try:
            return kind(value)
        except ValueError:
            if self._lenient:
                return value
            raise bad(f"field {key!r} has an unknown value") from None

    def ids(
        self, key: str, max_len: int | None = None, too_many: ErrorCode = ErrorCode.BAD_REQUEST
    ) -> frozenset[int]:
        """A list of at most `max_len` ids; duplicates count once.

        The length is checked before the elements so that an oversized list
        costs one comparison, not a walk.
        """
        value = self._get(key)
        if type(value) is not list:
            raise bad(f"field {key!r} must be a list of ids")
        if max_len is not None and len(value) > max_len:
            raise FieldError(too_many, f"field {key!r} holds more than {max_len} ids")
        if not all(is_int(item) and 1 <= item <= MAX_INT63 for item in value):
            raise bad(f"field {key!r} must hold positive 63-bit integers")
        return frozenset(value)

    def maps(self, key: str) -> list[Fields]:
        """A list of maps, each to be read in turn."""
        items = self._get(key)
        if type(items) is not list or not all(type(item) is dict for item in items):
            raise bad(f"field {key!r} must hold maps")
        return [Fields(item, lenient=self._lenient) for item in items]
