"""`chatnode serve --tls-cert --tls-key`: a real process serving wss://, real TLS clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import ChatClient, ClientOptions, Connection, ConnectionLost, PasswordAuth

from ..node.people import PASSWORD
from ..tls import self_signed
from .chatnode import LISTENING, run, serving


async def test_serve_with_a_certificate_listens_on_wss_and_serves_tls_clients_only(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    store = tmp_path / "chat.db"
    args = ["--port", "0", "--store", str(store), "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key)]
    async with serving(args, cwd=tmp_path) as node:
        (line,) = node.stdout.lines
        assert LISTENING.fullmatch(line) and node.url.startswith("wss://127.0.0.1:"), line
        trusting = certificate.client_context()
        async with Connection.open(node.url, ssl_context=trusting) as conn:
            bob = await conn.register("bob", PASSWORD)
            await conn.register("alice", PASSWORD)
        # trio-websocket's client reports a failed TLS handshake by never
        # finishing its own: ConnectionLost comes at the connect time-out.
        with pytest.raises(ConnectionLost):
            async with Connection.open(node.url, connect_timeout=3):  # the system's CAs: not this certificate
                pass
        with pytest.raises(ConnectionLost):
            async with Connection.open(node.url.replace("wss://", "ws://", 1), connect_timeout=5):
                pass
        options = ClientOptions(ssl_context=trusting)
        async with ChatClient.connect(node.url, PasswordAuth("alice", PASSWORD, "laptop"), options=options) as alice:
            channel = await alice.direct(bob)
            sent = await alice.send(channel, "hello over TLS")
            page = await alice.sync(channel, 0)
        assert [(m.seq, m.body) for m in page.messages] == [(sent.seq, "hello over TLS")]


@pytest.mark.parametrize("missing", ["--tls-key", "a file"])
async def test_serve_with_an_incomplete_certificate_is_a_one_line_error(missing: str, tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    key = [] if missing == "--tls-key" else ["--tls-key", str(tmp_path / "no-such-key.pem")]
    done = await run("serve", "--port", "0", "--store", str(tmp_path / "chat.db"), "--tls-cert", str(certificate.cert), *key, cwd=tmp_path)
    assert done.status == 2, done
    (line,) = done.stderr.splitlines()
    assert line.startswith("chatnode: ") and ("TLS" in line or "--tls-key" in line), line
    assert not (tmp_path / "chat.db").exists(), "refused before the store was opened"
