"""Where a server's time goes during a measured window: py-spy, attached from outside.

py-spy (``pip install py-spy``; a tool, not a dependency of the project)
samples the server's Python stacks without touching the process, so a
profiled run stays close to an unprofiled one. Each window leaves the raw
collapsed stacks (NAME.collapsed, for flamegraph.pl or speedscope) and a
digest of them (NAME.txt): the seconds sampled per thread (py-spy leaves out
time a thread is idle, and the digest sets apart the waits it does not
recognise: trio's epoll wait, an idle worker thread), then, over the event
loop's busy samples, the packages and lines it was executing and which of
our own functions the time was spent under (the innermost frame from
actors/, runtime/, storage/ or client/ on each stack), and the busiest lines
of the other threads (the store's).

A busy sample is not necessarily CPU: a thread waiting for the GIL, or in a
syscall py-spy does not know as a wait, counts as busy. Lines that release
the GIL (a socket send, handing a job to a worker thread) are where such
waits show up.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RATE = 250  # samples per second
TOP = 15
OURS = ("actors", "runtime", "storage", "client")
#: Leaf functions in which a thread is waiting for work, not doing any.
WAITS = frozenset({"EpollIOManager.get_events", "WorkerThread._work"})

_THREAD = re.compile(r"^thread \((?P<tid>0x[0-9a-f]+|\d+)\)(?::\s*(?P<name>.*))?$")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


class Profiler:
    def __init__(self, py_spy: str, out: Path) -> None:
        if shutil.which(py_spy) is None:
            raise FileNotFoundError(f"{py_spy} not found: pip install py-spy, or give --py-spy PATH")
        self._py_spy = py_spy
        self._out = out

    @contextmanager
    def record(self, pid: int, name: str) -> Iterator[None]:
        """Sample `pid` for as long as the block runs; write NAME.collapsed and NAME.txt."""
        self._out.mkdir(parents=True, exist_ok=True)
        raw = self._out / f"{name}.collapsed"
        with open(self._out / f"{name}.py-spy.log", "w") as log:
            process = subprocess.Popen(
                [self._py_spy, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
                 "--threads", "--nonblocking", "--output", str(raw)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if raw.exists():
            (self._out / f"{name}.txt").write_text(summarize(raw.read_text(), pid))


def _area(path: str) -> str:
    head = path.split("/", 1)[0]
    return "python stdlib" if head.endswith(".py") or head.startswith("<") else head


def summarize(collapsed: str, pid: int) -> str:
    """A readable digest of py-spy's raw output (one `stack count` per line)."""
    threads: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for row in collapsed.splitlines():
        stack, _, count_text = row.rpartition(" ")
        frames = stack.split(";")
        thread = _THREAD.match(frames[0])
        parsed = [m for m in (_FRAME.match(f) for f in frames[1:]) if m is not None]
        if thread is None or not count_text.isdigit() or not parsed:
            continue
        count = int(count_text)
        leaf = parsed[-1]
        is_loop = thread["tid"] == str(pid)
        role = "event loop (main thread)" if is_loop else "other threads (store, driver)"
        waiting = leaf["function"] in WAITS
        threads[f"{role}, {'waiting for work' if waiting else 'busy'}"] += count
        if waiting:
            continue
        where = f"{leaf['function']} ({leaf['path']}:{leaf['line']})"
        if not is_loop:
            others[where] += count
            continue
        areas[_area(leaf["path"])] += count
        lines[where] += count
        own = next((m for m in reversed(parsed) if _area(m["path"]) in OURS), None)
        ours["(no frame of ours)" if own is None else f"{own['function']} ({own['path']})"] += count
    loop_busy = sum(areas.values())
    out = [f"py-spy: {sum(threads.values())} samples at {RATE}/s per thread"]

    def table(title: str, counter: Counter[str], base: int) -> None:
        out.extend(["", title])
        out.extend(f"  {100 * value / max(base, 1):5.1f}%  {key}" for key, value in counter.most_common(TOP))

    out.extend(["", "seconds sampled per thread:"])
    out.extend(f"  {value / RATE:7.2f} s  {key}" for key, value in sorted(threads.items()))
    table("event loop busy, by package executing (self):", areas, loop_busy)
    table("event loop busy, busiest lines (self):", lines, loop_busy)
    table("event loop busy, under which function of ours (innermost frame of ours):", ours, loop_busy)
    table("other threads busy, busiest lines (self):", others, sum(others.values()))
    return "\n".join(out) + "\n"
