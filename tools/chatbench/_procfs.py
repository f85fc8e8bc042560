"""What a process costs, read from /proc: resident memory and CPU time.

The node and the baseline server run in processes of their own, so their
cost is read from outside, the same way for both, with nothing loaded into
them. Linux only, like the deployment.
"""

from __future__ import annotations

import os
import time

from attrs import frozen

_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def _status_bytes(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"process {pid} reports no {key} (a zombie?)")


def rss_bytes(pid: int) -> int:
    """Resident set size now."""
    return _status_bytes(pid, "VmRSS:")


def peak_rss_bytes(pid: int) -> int:
    """The largest resident set size the process has had (the kernel's high-water mark)."""
    return _status_bytes(pid, "VmHWM:")


def process_cpu(pid: int) -> float:
    """CPU seconds of the whole process, exited threads included (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat.read().rpartition(")")[2].split()
    # utime and stime are fields 14 and 15 of stat(5); 'state' (field 3) is fields[0].
    return (int(fields[11]) + int(fields[12])) * _TICK


def thread_cpu(pid: int, tid: int | None = None) -> float:
    """CPU seconds of one thread (the main thread by default), to the nanosecond.

    The main thread of a Trio process is its event loop: near 1.0 CPU second
    per second means the loop is saturated, whatever other threads do.
    """
    with open(f"/proc/{pid}/task/{pid if tid is None else tid}/schedstat") as schedstat:
        return int(schedstat.read().split()[0]) / 1e9


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores: everyone's use, ours and others'."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) * _TICK, total * _TICK


@frozen
class CpuReading:
    at: float  # time.monotonic()
    process: float
    loop: float


def read_cpu(pid: int) -> CpuReading:
    return CpuReading(time.monotonic(), process_cpu(pid), thread_cpu(pid))


@frozen
class CpuUse:
    """CPU used between two readings, as a share of one core (1.0 = a core busy all along)."""

    process: float
    loop: float
    seconds: float

    @classmethod
    def between(cls, before: CpuReading, after: CpuReading) -> CpuUse:
        wall = after.at - before.at
        return cls(
            process=(after.process - before.process) / wall,
            loop=(after.loop - before.loop) / wall,
            seconds=wall,
        )
