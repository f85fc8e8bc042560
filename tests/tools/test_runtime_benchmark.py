"""The benchmark entry point that `bin/chatbench` calls keeps working (no timing asserted)."""

from __future__ import annotations

import pytest

from tools import runtime_benchmark


def test_main_prints_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    runtime_benchmark.main(["--scale", "0.001", "--runs", "1"])
    out = capsys.readouterr().out
    for name in (
        "tell to one actor",
        "ask round trips, one asker",
        "ask round trips, 16 askers",
        "bare Trio task round trips",
        "registry activation",
        "idle registry actor",
        "idle Trio task + memory channel",
    ):
        assert name in out
