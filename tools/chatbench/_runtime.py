"""The `runtime` scenario: the actor runtime's own micro-benchmark, `tools.runtime_benchmark.main`.

It runs in a process of its own: it may pin itself to a core and it
measures its own memory, neither of which should touch the bench. What it
prints is kept as it is; its exit status says whether its targets were met.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection as Pipe

from attrs import frozen


@frozen
class RuntimeReport:
    argv: tuple[str, ...]
    exit_status: int
    output: str


def _child(argv: list[str], pipe: Pipe) -> None:
    from .. import runtime_benchmark

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = runtime_benchmark.main(argv)
    pipe.send((status, buffer.getvalue()))


def run_runtime(argv: Sequence[str]) -> RuntimeReport:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(list(argv), child), name="chatbench-runtime")
    process.start()
    child.close()
    try:
        status, output = parent.recv()
    except EOFError:
        process.join()
        return RuntimeReport(tuple(argv), process.exitcode or 1, "runtime benchmark died before reporting")
    process.join()
    return RuntimeReport(tuple(argv), int(status), output)
