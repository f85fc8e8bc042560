"""The committed web client (web/dist) is what its sources build to.

`make run` serves web/dist without Node, so the built files are committed;
this test rebuilds them into a temporary directory and compares byte for
byte, so a change to web/app that was not rebuilt fails here.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from .npm import ensure_node_modules, node_binary

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_committed_dist_is_a_fresh_build(tmp_path: Path) -> None:
    fresh = tmp_path / "dist"
    ensure_node_modules()  # esbuild
    subprocess.run(
        [node_binary(), "web/build.mjs", "--out", str(fresh)], cwd=ROOT, check=True, capture_output=True, timeout=300
    )
    committed, built = _tree(ROOT / "web" / "dist"), _tree(fresh)
    differing = sorted(name for name in committed.keys() | built.keys() if committed.get(name) != built.get(name))
    assert not differing, f"web/dist is not the build of web/app (run `node web/build.mjs`): {differing}"
    assert any(name.startswith("assets/app-") and name.endswith(".js") for name in built)
