"""The TypeScript SDK (web/sdk): its `node --test` suites, the live one against a real node.

The sans-IO suites and the golden vectors need no network; the live suite
drives two and more SDK clients over real WebSockets against a node this
module starts (embedded store; the node suite covers the stores), whose URL
it passes in CHAT_NODE_URL. A failing suite fails here with Node's output.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

from protocol import Limits

from actors import Node

from ..conftest import OpenStore
from ..node.conftest import node_config, running_node
from .npm import WEB, ensure_node_modules, node_binary

SDK = WEB / "sdk"
#: The node of the live suite: a 1 s heartbeat and 2 s of silence before a
#: device counts as gone, so that presence and idle ends show within seconds.
LIVE_LIMITS = Limits(heartbeat=1, idle_heartbeats=2)


@pytest.fixture(scope="module")
def built() -> Path:
    """The SDK and its tests compiled (tsc) into web/sdk/build: the core alone
    first, typed against ECMAScript only (no DOM, no Node), then with the tests."""
    ensure_node_modules()
    tsc = [node_binary(), str(WEB / "node_modules" / "typescript" / "bin" / "tsc")]
    for config in (["-p", "tsconfig.json", "--noEmit"], ["-p", "tsconfig.test.json"]):
        done = subprocess.run([*tsc, *config], cwd=SDK, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"tsc {' '.join(config)} failed:\n{done.stdout}{done.stderr}"
    return SDK / "build"


def _suite(build: Path, folder: str) -> list[str]:
    files = sorted(str(path) for path in (build / folder).glob("*.test.js"))
    assert files, f"no compiled tests in {build / folder}"
    return files


async def _node_test(files: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    # A test that hangs (a send resent forever, say) fails after a minute, with the output so far.
    command = [node_binary(), "--experimental-websocket", "--test", "--test-timeout=60000", "--test-reporter=spec", *files]
    done = await trio.run_process(
        command,
        cwd=SDK,
        env={**os.environ, **(env or {})},
        capture_stdout=True,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return done.returncode, done.stdout.decode("utf-8", "replace")


async def test_sans_io_suites_and_golden_vectors_pass(built: Path) -> None:
    code, output = await _node_test(_suite(built, "test"))
    assert code == 0, output
    assert "ℹ fail 0" in output, output


@pytest.mark.parametrize("open_store", ["embedded"], indirect=True)
async def test_live_suite_against_a_real_node(built: Path, open_store: OpenStore) -> None:
    async with running_node(open_store, limits=LIVE_LIMITS) as node:
        code, output = await _node_test(_suite(built, "live"), {"CHAT_NODE_URL": node.url})
    assert code == 0, output
    assert "ℹ fail 0" in output, output


@pytest.mark.parametrize("open_store", ["embedded"], indirect=True)
async def test_a_draining_node_s_retry_is_the_floor_of_the_reconnect_wait(built: Path, open_store: OpenStore) -> None:
    script = [node_binary(), "--experimental-websocket", str(built / "live" / "drain.js")]
    async with open_store() as store, trio.open_nursery() as nursery:
        node = await nursery.start(Node(node_config(limits=LIVE_LIMITS, drain_retry_ms=3000), store).run)
        process = await trio.lowlevel.open_process(
            [*script, node.url, "drained", "correct horse battery"],
            cwd=SDK,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        output = b""
        with trio.fail_after(60):
            while b"ready\n" not in output:
                chunk = await process.stdout.receive_some()
                assert chunk, f"the client ended before it was ready:\n{output.decode()}"
                output += chunk
            await node.drain()
            while chunk := await process.stdout.receive_some():
                output += chunk
            code = await process.wait()
    assert code == 0, output.decode()
    bye, disconnected = json.loads(output.decode().strip().splitlines()[-1])
    assert bye == {"type": "bye", "reason": "draining", "retry": 3000}
    assert disconnected["type"] == "disconnected"
    assert disconnected["delay"] == 3000 + 0.5 * 500, "the node's retry, then the jitter on top"
