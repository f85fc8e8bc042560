"""The complete example of docs/client.rst, as printed there, against a `chatnode serve` process.

The program is read out of the document, not copied into the test, so the
documentation cannot drift from a program that works. Only its URL is
pointed at the node under test, and the URL it has must be where a plain
`chatnode serve` (`make run`) listens.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import trio

from chatnode import build_parser
from client import Connection

from ..node.people import PASSWORD
from .chatnode import REPO, environment, serving

DOCS = REPO / "docs" / "client.rst"
URL_LINE = re.compile(r'^URL = "(?P<url>[^"]*)"$', re.MULTILINE)


def complete_example() -> str:
    """The literal block that follows the "A complete example" heading."""
    lines = DOCS.read_text().splitlines()
    heading = lines.index("A complete example")
    intro = next(i for i in range(heading, len(lines)) if lines[i].endswith("::"))
    block = []
    for line in lines[intro + 1 :]:
        if line and not line[0].isspace():
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def default_url() -> str:
    """Where `chatnode serve` listens without flags, from its own argument parser."""
    args = build_parser().parse_args(["serve"])
    return f"ws://{args.host}:{args.port}/v1"


async def run_example(program: Path, cwd: Path) -> str:
    """Run it as a user would (its own interpreter, nothing imported from the tests); its stdout."""
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, str(program)], cwd=cwd, env=environment(), capture_stdout=True, capture_stderr=True, check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def conversation(url: str) -> list[tuple[str, str]]:
    """The direct channel of alice and bob as stored: (sender's name, body) in seq order."""
    async with Connection.open(url) as conn:
        credentials = await conn.login("alice", PASSWORD, "checking")
        alice = (await conn.auth(credentials.token)).user
        bob = await conn.lookup("bob")
        page = await conn.sync(await conn.direct(bob), 0)
    names = {alice: "alice", bob: "bob"}
    return [(names[m.sender], m.body) for m in page.messages]


async def test_the_documented_example_talks_to_a_chatnode_process(tmp_path: Path) -> None:
    code = complete_example()
    documented = URL_LINE.search(code)
    assert documented is not None, "the example names its node in one URL = line"
    assert documented["url"] == default_url(), "the example talks to a node started without flags"
    assert PASSWORD in code, "the example's password, which conversation() logs in with"

    async with serving(["--port", "0", "--store", str(tmp_path / "chat.db")], cwd=tmp_path) as node:
        program = tmp_path / "example.py"
        program.write_text(URL_LINE.sub(f'URL = "{node.url}"', code))
        assert await run_example(program, tmp_path) == "bob got #1: hi bob\n"
        assert await conversation(node.url) == [("alice", "hi bob"), ("bob", "hi alice")]

        # "a second run: the accounts exist already": it works again.
        assert re.fullmatch(r"bob got #\d+: hi bob\n", await run_example(program, tmp_path))
        assert await conversation(node.url) == [("alice", "hi bob"), ("bob", "hi alice")] * 2
