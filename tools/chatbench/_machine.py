"""The machine a run was measured on, recorded with its numbers.

Absolute times on a shared 2-core machine drift from run to run, so a
result keeps what explains it: the cores, the load average before and
after, the library versions, and how long an fsync takes on the disk the
embedded store writes to (each acknowledged message waits for one).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PACKAGES = ("trio", "trio-websocket", "wsproto", "msgpack", "attrs", "scylla-driver")
FSYNCS = 50


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def fsync_ms(directory: Path) -> dict[str, float]:
    """p50 and p99 of a small write + fsync in `directory`, in ms."""
    directory.mkdir(parents=True, exist_ok=True)
    samples = []
    fd, path = tempfile.mkstemp(dir=directory, prefix=".fsync-probe-")
    try:
        for _ in range(FSYNCS):
            began = time.perf_counter()
            os.write(fd, b"x" * 128)
            os.fsync(fd)
            samples.append(time.perf_counter() - began)
    finally:
        os.close(fd)
        os.unlink(path)
    p50, p99 = np.percentile(samples, [50, 99]) * 1e3
    return {"p50": float(p50), "p99": float(p99)}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def describe(store_directory: Path) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "load_average_start": os.getloadavg()[0],
        "fsync_ms": fsync_ms(store_directory),
    }


def summary_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cores']} cores ({machine['cpu']}), python {machine['python']}, "
        f"trio {machine['packages']['trio']}, trio-websocket {machine['packages']['trio-websocket']}, "
        f"load average {machine['load_average_start']:.2f}, fsync p50 {machine['fsync_ms']['p50']:.2f} ms"
    )
