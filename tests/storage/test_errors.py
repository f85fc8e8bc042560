"""A failure shared by a batch reaches each caller as an exception of its own."""

from __future__ import annotations

from storage import Unavailable
from storage._errors import own_copy


def test_each_caller_gets_a_copy_with_the_same_type_message_and_the_shared_cause() -> None:
    shared = Unavailable("cql: OperationTimedOut")
    first, second = own_copy(shared), own_copy(shared)
    assert first is not second and first is not shared
    for copy in (first, second):
        assert type(copy) is Unavailable
        assert str(copy) == "cql: OperationTimedOut"
        assert copy.__cause__ is shared
