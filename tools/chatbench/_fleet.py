"""The load-generating processes, and how the bench steers them.

The load never runs in the node's process, nor in the bench's own: a few
worker processes (spawned, not forked, so none inherits the parent's state)
each run one job at a time under their own `trio.run`. A job goes through
phases; at each boundary it reports to the bench and waits to be told to
proceed, so that every worker starts the measured part at the same instant
(`time.monotonic_ns`, one clock for every process on the machine) and the
bench can read the node's counters in between.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection as Pipe
from typing import Any, Protocol

import trio
from attrs import frozen

#: Seconds a worker may go without a word (a report or progress) before the
#: bench gives up on it. A set-up of thousands of connections may take many
#: minutes on a loaded machine, but it reports progress all along.
STALL_TIMEOUT = 300.0
PROGRESS_EVERY = 0.25
GC_YOUNG_THRESHOLD = 50_000  # as bin/chatnode


class WorkerFailed(RuntimeError):
    """A job raised, or a worker process died; carries the worker's traceback."""


@frozen
class Report:
    worker: int
    phase: str
    data: Any


@frozen
class Progress:
    worker: int
    count: int


@frozen
class Done:
    worker: int
    result: Any


@frozen
class Failed:
    worker: int
    error: str


@frozen
class Proceed:
    at_ns: int
    data: Any = None


class Control:
    """A job's line to the bench, inside a worker."""

    def __init__(self, pipe: Pipe, worker: int) -> None:
        self._pipe = pipe
        self.worker = worker

    def report(self, phase: str, data: Any = None) -> None:
        self._pipe.send(Report(self.worker, phase, data))

    def progress(self, count: int) -> None:
        self._pipe.send(Progress(self.worker, count))

    async def proceed(self) -> Proceed:
        """Wait for the bench's go-ahead; it names the instant at which to go on."""
        message = await trio.to_thread.run_sync(self._pipe.recv)
        if not isinstance(message, Proceed):
            raise RuntimeError(f"expected Proceed, got {message!r}")
        return message

    async def report_progress(self, count: Callable[[], int]) -> None:
        """Report `count()` every PROGRESS_EVERY seconds until cancelled."""
        while True:
            self.progress(count())
            await trio.sleep(PROGRESS_EVERY)


class Job(Protocol):
    async def run(self, ctl: Control) -> Any: ...


async def sleep_until_ns(at_ns: int) -> None:
    await trio.sleep(max(0.0, (at_ns - time.monotonic_ns()) / 1e9))


def _worker_main(pipe: Pipe, worker: int) -> None:
    # The bench stops us; a Ctrl-C at the terminal reaches the bench too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Thousands of long-lived connections: collect the young generation as
    # seldom as the node and the baseline do, or the load generator's own
    # collector becomes the limit of the idle and storm set-ups.
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    while True:
        job = pipe.recv()
        if job is None:
            return
        try:
            result = trio.run(job.run, Control(pipe, worker))
        except Exception:
            pipe.send(Failed(worker, traceback.format_exc()))
        else:
            pipe.send(Done(worker, result))


class Fleet:
    """`size` worker processes, started once and given one job each at a time."""

    def __init__(self, size: int, on_progress: Callable[[int], None]) -> None:
        self.size = size
        self._on_progress = on_progress
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._pipes: list[Pipe] = []
        self._active: list[int] = []
        self._inbox: dict[int, list[Report | Done]] = {}
        self._counts: dict[int, int] = {}
        self._heard: dict[int, float] = {}  # when each worker last sent anything (monotonic)

    def __enter__(self) -> Fleet:
        self._start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def submit(self, jobs: Sequence[Job]) -> None:
        """Give jobs[i] to worker i; fewer jobs than workers leaves the rest idle."""
        if len(jobs) > self.size:
            raise ValueError(f"{len(jobs)} jobs for {self.size} workers")
        self._active = list(range(len(jobs)))
        self._inbox = {i: [] for i in self._active}
        self._counts = {}
        self._heard = {i: time.monotonic() for i in self._active}
        for index, job in enumerate(jobs):
            self._pipes[index].send(job)

    def collect(self, phase: str, deadline: float | None = None) -> list[Any]:
        """Every active worker's report of `phase`, in worker order; WorkerFailed after `deadline` (monotonic)."""
        return [self._next(index, Report, phase, deadline).data for index in self._active]  # type: ignore[union-attr]

    def proceed(self, at_ns: int, data: Any = None) -> None:
        for index in self._active:
            self._pipes[index].send(Proceed(at_ns, data))

    def results(self, deadline: float | None = None) -> list[Any]:
        return [self._next(index, Done, None, deadline).result for index in self._active]  # type: ignore[union-attr]

    def pump_until(self, at_ns: int) -> None:
        """Handle the workers' messages (progress, failures) until `at_ns`."""
        while (left := (at_ns - time.monotonic_ns()) / 1e9) > 0:
            self._pump(min(left, 0.1))

    def recover(self) -> None:
        """After a failed job: replace every worker, since some may still be inside it (and never read a stop)."""
        self._stop(grace=0.0)
        self._start()

    # -- inside ---------------------------------------------------------------

    def _start(self) -> None:
        for index in range(self.size):
            parent, child = self._context.Pipe()
            process = self._context.Process(target=_worker_main, args=(child, index), name=f"chatbench-worker-{index}")
            process.start()
            child.close()
            self._processes.append(process)
            self._pipes.append(parent)

    def _stop(self, grace: float = 5.0) -> None:
        for pipe in self._pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for process in self._processes:
            process.join(timeout=grace)
            if process.is_alive():
                process.kill()
                process.join()
        for pipe in self._pipes:
            pipe.close()
        self._processes, self._pipes, self._active = [], [], []

    def _next(self, index: int, kind: type, phase: str | None, deadline: float | None) -> Report | Done:
        while True:
            inbox = self._inbox[index]
            if inbox:
                message = inbox.pop(0)
                if not isinstance(message, kind) or (isinstance(message, Report) and message.phase != phase):
                    raise WorkerFailed(f"worker {index}: expected {kind.__name__} {phase or ''}, got {message!r}")
                return message
            now = time.monotonic()
            if now - self._heard[index] > STALL_TIMEOUT:
                raise WorkerFailed(f"worker {index}: silent for {STALL_TIMEOUT:.0f} s waiting for {kind.__name__} {phase or ''}")
            if deadline is not None and now > deadline:
                raise WorkerFailed(f"worker {index}: past the time limit waiting for {kind.__name__} {phase or ''}")
            self._pump(0.1)

    def _pump(self, timeout: float) -> None:
        pipes = {self._pipes[i]: i for i in self._active}
        sentinels = {self._processes[i].sentinel: i for i in self._active}
        ready = multiprocessing.connection.wait([*pipes, *sentinels], timeout)
        for item in ready:
            if item in pipes:
                self._receive(pipes[item])  # type: ignore[index]
        for item in ready:
            if item in sentinels and not self._pipes[sentinels[item]].poll():  # type: ignore[index]
                index = sentinels[item]  # type: ignore[index]
                raise WorkerFailed(f"worker {index} died with exit code {self._processes[index].exitcode}")

    def _receive(self, index: int) -> None:
        while self._pipes[index].poll():
            message = self._pipes[index].recv()
            self._heard[index] = time.monotonic()
            if isinstance(message, Progress):
                self._counts[index] = message.count
                self._on_progress(sum(self._counts.values()))
            elif isinstance(message, Failed):
                raise WorkerFailed(f"worker {index} failed:\n{message.error}")
            else:
                self._inbox[index].append(message)
