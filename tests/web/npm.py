"""The npm side of the web tests: `web/node_modules` installed from the lockfile, and Node itself.

One place for it (the SDK's test module uses it; any web test that needs
the packages may): `npm ci` runs when `web/node_modules` is missing or older
than `web/package-lock.json`, which is how npm records the install it made
(its `node_modules/.package-lock.json`). A missing Node or npm, or a failed
install, fails with one line saying what to do.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
#: Node 20 is the oldest the SDK and its tests run on (WebSocket behind a flag).
MIN_NODE = 20


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("the web tests need Node.js 20+ and npm (Debian: apt-get install -y nodejs npm)", pytrace=False)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE:
        pytest.fail(f"the web tests need Node.js {MIN_NODE}+, found {version}", pytrace=False)
    return node


def _stale() -> bool:
    installed = WEB / "node_modules" / ".package-lock.json"
    return not installed.exists() or installed.stat().st_mtime < (WEB / "package-lock.json").stat().st_mtime


def ensure_node_modules() -> None:
    """`npm ci` in web/ unless its node_modules is the install of the current lockfile."""
    node_binary()
    if not _stale():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the web tests need npm beside Node.js (Debian: apt-get install -y npm)", pytrace=False)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci in web/ failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
