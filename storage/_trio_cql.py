"""Await the CQL driver from Trio without a thread per query.

The driver runs its own I/O thread; `execute_async` returns a ResponseFuture
whose callbacks run on that thread. The callback only hands a wake-up to Trio
with `TrioToken.run_sync_soon`, and the waiting task then takes the result
from the (by then finished, so non-blocking) future. The token is fetched per
call, so one driver session serves any number of successive `trio.run()`s.

Concurrency without tasks: `send` puts a statement on the wire at once and
returns a `Pending`; a caller sends all the statements it can before awaiting
any, so they travel together, and no nursery is needed for it.

Every driver failure leaves this module as a `StoreError`: callers above the
Store never see a driver exception.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import trio
from cassandra import CoordinationFailure, OperationTimedOut, Timeout, UnresolvableContactPoints
from cassandra import Unavailable as DriverUnavailable
from cassandra.cluster import NoHostAvailable, ResultSet, Session
from cassandra.connection import ConnectionException
from cassandra.protocol import RequestExecutionException as ServerRefused
from cassandra.protocol import ServerError
from cassandra.query import BatchStatement, BatchType, Statement

from ._errors import StoreError, Unavailable

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
    UnresolvableContactPoints,  # DNS
)


def translate(exc: BaseException) -> StoreError:
    """The Store's error for a driver failure, with one line saying what failed."""
    error = Unavailable if isinstance(exc, _TRANSIENT) else StoreError
    return error(f"cql: {one_line(exc)}")


def one_line(exc: BaseException) -> str:
    """A driver exception as one readable line."""
    if isinstance(exc, UnresolvableContactPoints):
        return "no contact point resolves to an address"
    if isinstance(exc, NoHostAvailable) and isinstance(exc.errors, dict) and exc.errors:
        # The driver's repr of {host: exception} is long and nested.
        hosts = "; ".join(f"{host}: {one_line(why)}" for host, why in exc.errors.items())
        return f"no host available ({hosts})"
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and "Last error: " in text:
        return text.rsplit("Last error: ", 1)[1]  # the driver wraps the socket error
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Pending:
    """One statement on the wire; `await result()` for its answer.

    Cancellation-safe: a cancelled waiter leaves; the query finishes on its
    own and its late wake-up finds nobody waiting (or no Trio run at all).
    """

    __slots__ = ("_done", "_future", "_token", "_waiter")

    def __init__(
        self,
        session: Session,
        statement: Statement,
        params: Sequence[object] | None,
        paging_state: bytes | None,
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._done = False
        # Invariant: set only while a task sleeps in result(); touched only
        # on the Trio thread.
        self._waiter: trio.lowlevel.Task | None = None
        try:
            self._future = session.execute_async(statement, params, paging_state=paging_state)
            # If the answer is in already, this calls _wake right here.
            self._future.add_callbacks(self._wake, self._wake)
        except Exception as exc:
            raise translate(exc) from exc

    def _wake(self, _: object) -> None:
        # Runs on the driver's I/O thread: must not block, must not raise.
        try:
            self._token.run_sync_soon(self._finish)
        except trio.RunFinishedError:
            pass  # the run that sent it is gone; nobody is waiting

    def _finish(self) -> None:
        self._done = True
        if self._waiter is not None:
            trio.lowlevel.reschedule(self._waiter)
            self._waiter = None

    async def result(self) -> ResultSet:
        """The answer's first page (never iterate past `current_rows`: that
        would fetch the next page synchronously on the event loop)."""
        if self._waiter is not None:
            raise RuntimeError("a Pending has one waiter at a time")
        if self._done:
            await trio.lowlevel.checkpoint()
        else:
            self._waiter = trio.lowlevel.current_task()

            def abort(_: object) -> trio.lowlevel.Abort:
                self._waiter = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        try:
            # Non-blocking: the callbacks fire only after the future is final.
            return self._future.result()
        except Exception as exc:
            raise translate(exc) from exc


def new_batch() -> BatchStatement:
    """An unlogged batch: one statement for many rows, atomic per partition only.

    Rows of one partition land as one mutation; rows of several (at most ten,
    Cassandra's warning) are separate mutations sent together, which saves
    the driver's ~0.5 ms of CPU per statement and nothing else.
    """
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    batch.is_idempotent = True
    return batch


def send(
    session: Session,
    statement: Statement,
    params: Sequence[object] | None = None,
    *,
    paging_state: bytes | None = None,
) -> Pending:
    """Put a statement on the wire now; await `.result()` for its answer."""
    return Pending(session, statement, params, paging_state)


async def execute(
    session: Session,
    statement: Statement,
    params: Sequence[object] | None = None,
    *,
    paging_state: bytes | None = None,
) -> ResultSet:
    """Run one statement and wait for its first page."""
    return await send(session, statement, params, paging_state=paging_state).result()


async def execute_all(
    session: Session, statements: Iterable[tuple[Statement, Sequence[object] | None]]
) -> list[ResultSet]:
    """Run many statements, at most FANOUT on the wire at once; results in order.

    The first failure is raised at once; statements already sent finish
    unobserved.
    """
    results: list[ResultSet] = []
    window: deque[Pending] = deque()
    for statement, params in statements:
        if len(window) == FANOUT:
            results.append(await window.popleft().result())
        window.append(send(session, statement, params))
    while window:
        results.append(await window.popleft().result())
    return results


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
