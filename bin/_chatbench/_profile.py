"""Where a server's CPU goes during a measured window: py-spy, attached from outside.

py-spy (``pip install py-spy``; a tool, not a dependency of the project)
samples the server's Python stacks without touching the process, so the
numbers of a profiled run stay close to an unprofiled one. Each window
leaves two files: the raw collapsed stacks (for flamegraph.pl or
speedscope) and a summary of them: the share of samples per thread, per
package the event loop was executing in, the busiest lines, and which of
our own functions the time was spent under (the innermost frame from
actors/, runtime/, storage/ or client/ on each stack).
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
TOP = 20
OURS = ("actors", "runtime", "storage", "client")

_THREAD = re.compile(r"^thread \((0x[0-9a-f]+|\d+)\)")
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
    if head.endswith(".py") or head.startswith("<"):
        return "python stdlib"
    return head


def summarize(collapsed: str, pid: int) -> str:
    """A readable digest of py-spy's raw output (one `stack count` per line)."""
    threads: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    loop_total = 0
    for row in collapsed.splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = _THREAD.match(frames[0])
        is_loop = thread is not None and thread.group(1) == str(pid)
        threads["event loop (main thread)" if is_loop else "other threads (store, driver, scrypt)"] += count
        if not is_loop:
            continue
        loop_total += count
        parsed = [m for m in (_FRAME.match(f) for f in frames[1:]) if m is not None]
        if not parsed:
            continue
        leaf = parsed[-1]
        areas[_area(leaf["path"])] += count
        lines[f"{leaf['function']} ({leaf['path']}:{leaf['line']})"] += count
        own = next((m for m in reversed(parsed) if _area(m["path"]) in OURS), None)
        ours["(no frame of ours)" if own is None else f"{own['function']} ({own['path']})"] += count
    total = sum(threads.values())
    out = [f"py-spy samples: {total} at {RATE}/s"]

    def table(title: str, counter: Counter[str], base: int) -> None:
        out.append("")
        out.append(title)
        for key, value in counter.most_common(TOP):
            out.append(f"  {100 * value / max(base, 1):5.1f}%  {key}")

    table("by thread (share of all samples):", threads, total)
    table("event loop, by package executing (self time):", areas, loop_total)
    table("event loop, busiest lines (self time):", lines, loop_total)
    table("event loop, under which function of ours (innermost frame of ours, inclusive):", ours, loop_total)
    return "\n".join(out) + "\n"
