"""The wire's two packages, `protocol` and `client`, show exactly what their `__init__` lists.

The checks every package passes are in `tests/test_exports.py`; what is
particular to these two is checked here: the client re-exports
the protocol's values under the protocol's names (one object, two import
paths, so that an app needs one import) and nothing else foreign, imports
nothing of the server, and docs/client.rst names only public names, bare
ones included.
"""

from __future__ import annotations

import builtins
import re
import subprocess
import sys
from pathlib import Path

import client
import protocol

from .. import exports

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "client")
DOCUMENTS = (REPO / "docs" / "client.rst", REPO / "docs" / "protocol.rst")
#: The server's packages: a client must run where none of them is installed.
SERVER = ("actors", "runtime", "storage")

#: What a client hands an app that is the protocol's own: values, events, codes.
REEXPORTED = {
    "AuthResult",
    "ByeEvent",
    "ByeReason",
    "ChannelEvent",
    "ChannelInfo",
    "ChannelKind",
    "DeviceInfo",
    "ErrorCode",
    "LoginResult",
    "Message",
    "NotifyLevel",
    "PageResult",
    "PresenceEvent",
    "PushKind",
    "PushTarget",
    "ReceiptEvent",
    "SendResult",
    "TypingEvent",
    "UserPresence",
}


def test_nothing_private_is_listed_and_nothing_foreign_but_the_protocols_values() -> None:
    assert exports.private_exports(protocol) == []
    assert exports.private_exports(client) == [
        f"client.{name} is protocol's, exported again" for name in client.__all__ if name in REEXPORTED
    ]
    assert REEXPORTED <= set(client.__all__)
    for name in REEXPORTED:
        assert getattr(client, name) is getattr(protocol, name), f"client.{name} is not the protocol's"


def test_the_client_loads_nothing_of_the_server() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, client; print(' '.join(sorted(sys.modules)))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "protocol" in loaded
    assert [name for name in loaded if name.partition(".")[0] in SERVER] == []


def test_the_docs_name_only_public_names() -> None:
    assert exports.unknown_doc_references(DOCUMENTS, PACKAGES) == []


# A capitalised name in a ``literal`` of docs/client.rst, with its attributes:
# ``ChatClient.connect``, ``ChatError(code, msg, retry)``; not one after a dot
# (``trio.Cancelled``), which belongs to that other module.
_SPAN = re.compile(r"``(.+?)``", re.DOTALL)
_BARE = re.compile(r"(?<![\w.])[A-Z]\w*(?:\.\w+)*")
#: Words in the literals that are not code of this package.
NOT_CODE = {"MiB"}


def bare_names_not_public(text: str) -> list[str]:
    problems = []
    for span in _SPAN.finditer(text):
        for found in _BARE.finditer(span.group(1)):
            head, *attributes = found.group().split(".")
            if head in NOT_CODE or hasattr(builtins, head):
                continue
            value: object = getattr(client, head) if head in client.__all__ else None
            for attribute in attributes:
                value = None if attribute.startswith("_") else getattr(value, attribute, None)
            if value is None:
                problems.append(found.group())
    return problems


def test_the_client_guide_names_only_public_names_of_the_client() -> None:
    assert bare_names_not_public((REPO / "docs" / "client.rst").read_text()) == []


def test_the_bare_name_check_sees_what_is_not_public() -> None:
    text = "``ChatClient.connect`` ``trio.Cancelled`` ``None`` ``Sent`` ``ChatClient._open`` ``Connection.nothing``"
    assert bare_names_not_public(text) == ["Sent", "ChatClient._open", "Connection.nothing"]
