"""Await the CQL driver from Trio without a thread per query.

The driver runs its own I/O thread; `execute_async` returns a ResponseFuture
whose callbacks run on that thread. The callback only hands a wake-up to Trio
with `TrioToken.run_sync_soon`, and the waiting task then takes the result
from the (by then finished, so non-blocking) future. The token is fetched per
call, so one driver session serves any number of successive `trio.run()`s.

Every driver failure leaves this module as a `StoreError`: callers above the
Store never see a driver exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import trio
from cassandra import CoordinationFailure, OperationTimedOut, Timeout
from cassandra import Unavailable as DriverUnavailable
from cassandra.cluster import NoHostAvailable, ResultSet, Session
from cassandra.connection import ConnectionException
from cassandra.protocol import RequestExecutionException as ServerRefused
from cassandra.protocol import ServerError
from cassandra.query import Statement

from ._errors import StoreError, Unavailable

T = TypeVar("T")

# Statements one Store call keeps in flight at once (e.g. a big group's
# member rows): enough to hide latency, few enough not to flood a node.
FANOUT = 64

# Failures that say "the cluster cannot answer right now", as opposed to a
# statement the cluster rejects (a bug or a schema mismatch).
_TRANSIENT: tuple[type[BaseException], ...] = (
    DriverUnavailable,  # too few replicas alive for the consistency level
    Timeout,  # ReadTimeout, WriteTimeout (also CAS contention)
    CoordinationFailure,  # replicas answered with a failure
    OperationTimedOut,  # the driver's own client-side deadline
    NoHostAvailable,
    ConnectionException,
    OSError,
    ServerRefused,  # overloaded, bootstrapping
    ServerError,
)


def translate(exc: BaseException) -> StoreError:
    """The Store's error for a driver failure, with one line saying what failed."""
    error = Unavailable if isinstance(exc, _TRANSIENT) else StoreError
    return error(f"cql: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, NoHostAvailable) and isinstance(exc.errors, dict) and exc.errors:
        # The driver's repr of {host: exception} is long and nested.
        hosts = "; ".join(f"{host}: {_one_line(why)}" for host, why in exc.errors.items())
        return f"no host available ({hosts})"
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and "Last error: " in text:
        return text.rsplit("Last error: ", 1)[1]  # the driver wraps the socket error
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def execute(
    session: Session,
    statement: Statement,
    params: Sequence[object] | None = None,
    *,
    paging_state: bytes | None = None,
) -> ResultSet:
    """Run one statement; the result holds only its first page (see `paging_state`).

    Cancellation-safe: a cancelled caller leaves; the query finishes on its
    own and its late wake-up finds nobody waiting (or no Trio run at all).
    Never iterate the returned ResultSet past `current_rows`: that would fetch
    the next page synchronously on the event loop.
    """
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: object) -> None:
        # Runs on the driver's I/O thread (or right here, if the answer is
        # already in): must not block, must not raise.
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass  # the run that asked is gone; nobody is waiting

    try:
        future = session.execute_async(statement, params, paging_state=paging_state)
        future.add_callbacks(wake, wake)
    except Exception as exc:
        raise translate(exc) from exc
    await done.wait()
    try:
        # Non-blocking: the callbacks fire only after the future is final.
        return future.result()
    except Exception as exc:
        raise translate(exc) from exc


async def fetch(
    session: Session, statement: Statement, *, page_rows: int, want: int | None = None
) -> list[tuple[Any, ...]]:
    """All rows of `statement` (or the first `want`), one awaited page at a time.

    `page_rows` bounds what one response carries (and so the driver's memory
    per request); a large partition is read in many small awaits, never in one
    blocking sweep.
    """
    statement.fetch_size = page_rows if want is None else max(1, min(page_rows, want))
    rows: list[tuple[Any, ...]] = []
    paging_state: bytes | None = None
    while want is None or len(rows) < want:
        result = await execute(session, statement, paging_state=paging_state)
        rows.extend(result.current_rows)
        paging_state = result.paging_state
        if paging_state is None:
            break
    return rows if want is None else rows[:want]


async def gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls concurrently (at most FANOUT at a time); their results in order.

    A failure cancels the rest and is raised as the one StoreError it is, not
    as an exception group; Cancelled and any other exception pass unchanged.
    """
    results: list[T | None] = [None] * len(calls)
    limiter = trio.CapacityLimiter(FANOUT)

    async def run(index: int, call: Callable[[], Awaitable[T]]) -> None:
        async with limiter:
            results[index] = await call()

    try:
        async with trio.open_nursery() as nursery:
            for index, call in enumerate(calls):
                nursery.start_soon(run, index, call)
    except BaseExceptionGroup as group:
        errors, rest = group.split(StoreError)
        if errors is None or rest is not None:
            raise
        raise _first_leaf(errors)  # keeps its own __cause__, the driver's error
    return results  # type: ignore[return-value]  # every slot was filled


def _first_leaf(group: BaseExceptionGroup[StoreError]) -> StoreError:
    error: StoreError | BaseExceptionGroup[StoreError] = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
