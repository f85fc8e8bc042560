"""push: offline recipients with Web Push targets, pushed through a local push service.

Each recipient device registers a Web Push target (a subscription at the
bench's own push service: TLS and HTTP/2 on 127.0.0.1, its CA given to the
node with --push-ca) and disconnects; each has a sender of its own in a
direct channel. Then, on a node started for this scenario with a VAPID key:

    rounds  every sender sends one message; the round ends when the push
            service has every recipient's push (or round_timeout). Measured:
            pushes/s, pushes per second of node CPU ("per core"), and the
            time from each send's `ok` to its push's arrival
    outage  the push service stops answering (every request hangs) for
            `outage` seconds while each sender sends `outage_messages`:
            the node's RSS over the outage, and the sends' own latency
            (message delivery must not wait on push)

The push service only records arrivals (no VAPID check, no decryption:
tests/push does that); it is in the bench's process, the node in its own.
There is no baseline server: echo has no push.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import trio
import trustme
from attrs import define, field, frozen
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypercorn.config import Config
from hypercorn.trio import serve

from client import Connection, PushTarget

from ._abuse import NodeStarter, SubRunKind
from ._accounts import Account
from ._drivers import SETTLE, Context
from ._params import Params, Push
from ._procfs import CpuUse, read_cpu, rss_bytes
from ._report import MetricDef, Side
from ._servers import PEER_LIMIT_FLAGS, SEND_LIMIT_FLAGS, Node
from ._stats import cdf_ms, latency_summary

#: Devices registering targets, and senders connecting, at once.
CONNECTING = 64
#: Seconds between two looks at the node's RSS during the outage.
WATCH_EVERY = 0.1
MIB = 2**20

PUSH_METRICS = (
    MetricDef("pushes_per_s", "pushes/s", "", "higher"),
    MetricDef("pushes_per_core_s", "pushes/s per core", "", "higher"),
    MetricDef("latency_p50", "ok to push p50", "ms", "lower"),
    MetricDef("latency_p99", "ok to push p99", "ms", "lower"),
    MetricDef("latency_max", "ok to push max", "ms", "lower"),
    MetricDef("send_p99", "send p99", "ms", "lower"),
    MetricDef("outage_send_p99", "send p99, push service down", "ms", "lower"),
    MetricDef("outage_rss_growth_mb", "node RSS growth, push service down", "MiB", "lower"),
)


@define
class PushService:
    """The local push service: POST /push/N is recipient N's subscription; it answers 201, or hangs while `down`."""

    arrivals: list[array] = field(factory=list)  # per recipient: time.monotonic_ns() of each push
    down: bool = False
    _resumed: trio.Event = field(factory=trio.Event)
    _arrived: trio.Event = field(factory=trio.Event)

    def stop_answering(self) -> None:
        self.down, self._resumed = True, trio.Event()

    def answer_again(self) -> None:
        self.down = False
        self._resumed.set()

    async def wait_for(self, counts: Sequence[int], timeout: float) -> bool:
        """Until recipient i has `counts[i]` pushes, each; False if `timeout` came first."""
        with trio.move_on_after(timeout):
            while any(len(got) < want for got, want in zip(self.arrivals, counts, strict=True)):
                await self._arrived.wait()
            return True
        return False

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            # hypercorn then serves without lifespan events, which this service needs none of.
            raise ValueError(f"no {scope['type']} here")
        while (await receive()).get("more_body"):
            pass
        arrived = time.monotonic_ns()
        if self.down:
            await self._resumed.wait()
        index = int(scope["path"].rpartition("/")[2])
        self.arrivals[index].append(arrived)
        self._arrived.set()
        self._arrived = trio.Event()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"location", b"/m")]})
        await send({"type": "http.response.body", "body": b""})


@frozen
class Lab:
    """The files the node is started with: a VAPID key, and the CA of the push service's certificate."""

    directory: Path
    ca: trustme.CA

    @classmethod
    def create(cls, directory: Path) -> Lab:
        ca = trustme.CA()
        key = ec.generate_private_key(ec.SECP256R1())
        (directory / "vapid.pem").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        ca.cert_pem.write_to_path(str(directory / "ca.pem"))
        leaf = ca.issue_cert("127.0.0.1")
        leaf.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
        return cls(directory, ca)

    def node_flags(self) -> list[str]:
        return [
            "--vapid-private-key", str(self.directory / "vapid.pem"), "--vapid-subject", "mailto:bench@chat.example",
            "--push-allow-host", "127.0.0.1", "--push-ca", str(self.directory / "ca.pem"),
            *SEND_LIMIT_FLAGS, *PEER_LIMIT_FLAGS,
        ]  # fmt: skip

    def serving_config(self) -> Config:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.certfile, config.keyfile = str(self.directory / "cert.pem"), str(self.directory / "key.pem")
        config.alpn_protocols = ["h2", "http/1.1"]
        config.accesslog = config.errorlog = None
        return config


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _subscription(base_url: str, index: int) -> PushTarget:
    """A browser's subscription, as far as the node can tell: a P-256 point and an auth secret."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return PushTarget.webpush(f"{base_url}/push/{index}", _b64url(point), _b64url(os.urandom(16)))


def run_push(ctx: Context, nodes: NodeStarter, params: Params, accounts: Sequence[Account]) -> Side:
    assert isinstance(params, Push)
    senders, recipients = accounts[: params.recipients], accounts[params.recipients :]
    with tempfile.TemporaryDirectory(prefix="chatbench-push-") as directory:
        lab = Lab.create(Path(directory))
        ctx.bar.phase(f"{ctx.name}: starting a node with Web Push")
        with nodes(ctx.name, lab.node_flags()) as node:
            if node.pid is None:
                raise RuntimeError("push measures the node's CPU and memory: it runs on a node the bench starts")
            side = trio.run(_measured, ctx, node, lab, params, senders, recipients)
            node.check_alive()
    return side


@define
class _Run:
    """What the rounds and the outage recorded."""

    latency: list[int] = field(factory=list)  # ns, ok to push
    sends: list[int] = field(factory=list)  # ns, each measured send's round trip
    outage_sends: list[int] = field(factory=list)
    missing: int = 0  # pushes not in within round_timeout
    early: int = 0  # pushes that arrived before their send's ok did (counted as 0 ns)
    errors: int = 0


async def _measured(
    ctx: Context, node: Node, lab: Lab, params: Push, senders: Sequence[Account], recipients: Sequence[Account]
) -> Side:
    service = PushService([array("q") for _ in recipients])
    record = _Run()
    context = ssl.create_default_context()
    lab.ca.configure_trust(context)
    async with trio.open_nursery() as nursery:
        [base_url] = await nursery.start(serve, service, lab.serving_config())
        base_url = base_url.replace("http://", "https://")
        ctx.bar.phase(f"{ctx.name}: {len(recipients):,} devices registering Web Push targets")
        await _each(recipients, lambda index, conn: conn.push(_subscription(base_url, index)), node.url)
        await trio.sleep(SETTLE)  # their sessions detach: the devices are offline
        ctx.bar.phase(f"{ctx.name}: connecting {len(senders):,} senders")
        links: list[tuple[Connection, int]] = []
        async with _connected(senders, node.url) as conns:
            for conn, recipient in zip(conns, recipients, strict=True):
                links.append((conn, await conn.direct(recipient.user)))
            for _ in range(params.warmup_rounds):
                await _round(service, links, params, _Run())
            ctx.bar.phase(f"{ctx.name}: {params.rounds} rounds of {len(links):,} pushes")
            cpu_before, began = read_cpu(node.pid), time.monotonic()
            for _ in range(params.rounds):
                await _round(service, links, params, record)
            wall = time.monotonic() - began
            cpu = CpuUse.between(cpu_before, read_cpu(node.pid))
            ctx.bar.phase(f"{ctx.name}: the push service down for {params.outage:g} s")
            service.stop_answering()
            rss_before = rss_bytes(node.pid)
            peak = await _outage(node, links, params, record)
            service.answer_again()
            rss_after = rss_bytes(node.pid)
        nursery.cancel_scope.cancel()
    latency = np.array(record.latency, dtype=np.float64)
    summary = latency_summary(latency)
    pushes = len(record.latency)
    return Side(
        metrics={
            "pushes_per_s": pushes / wall,
            "pushes_per_core_s": pushes / (cpu.process * cpu.seconds),
            **{f"latency_{k}": summary[k] for k in ("p50", "p99", "max") if k in summary},
            "send_p99": latency_summary(np.array(record.sends, dtype=np.float64)).get("p99", float("nan")),
            "outage_send_p99": latency_summary(np.array(record.outage_sends, dtype=np.float64)).get("p99", float("nan")),
            "outage_rss_growth_mb": (peak - rss_before) / MIB,
        },
        resources={
            "server_cpu_pct": 100 * cpu.process,
            "server_loop_cpu_pct": 100 * cpu.loop,
            "server_cpu_s": cpu.process * cpu.seconds,
            "window_s": wall,
            "outage_rss_before_mb": rss_before / MIB,
            "outage_rss_peak_mb": peak / MIB,
            "outage_rss_after_mb": rss_after / MIB,
        },
        counts={
            "pushes": pushes,
            "missing": record.missing,
            "early": record.early,
            "errors": record.errors,
            "outage_sent": len(record.outage_sends),
        },
        cdf_ms=cdf_ms(latency),
    )


async def _round(service: PushService, links: Sequence[tuple[Connection, int]], params: Push, record: _Run) -> None:
    """Every sender sends one message; wait for every push; record ok-to-push times."""
    expected = [len(got) + 1 for got in service.arrivals]
    oks = [0] * len(links)

    async def send(index: int) -> None:
        conn, channel = links[index]
        began = time.monotonic_ns()
        try:
            await conn.send(channel, "x" * params.body)
        except Exception:
            record.errors += 1
            return
        oks[index] = time.monotonic_ns()
        record.sends.append(oks[index] - began)

    async with trio.open_nursery() as nursery:
        for index in range(len(links)):
            nursery.start_soon(send, index)
    await service.wait_for(expected, params.round_timeout)
    for index, (got, want) in enumerate(zip(service.arrivals, expected, strict=True)):
        if len(got) < want or not oks[index]:
            record.missing += 1
            continue
        took = got[want - 1] - oks[index]
        record.early += took < 0
        record.latency.append(max(0, took))
    # A push that came after its round's time-out must not be taken for the next round's.
    for got, want in zip(service.arrivals, expected, strict=True):
        del got[want:]


async def _outage(node: Node, links: Sequence[tuple[Connection, int]], params: Push, record: _Run) -> int:
    """Each sender sends `outage_messages` over `outage` seconds; the node's peak RSS meanwhile."""
    assert node.pid is not None
    peak = rss_bytes(node.pid)
    interval = params.outage / params.outage_messages

    async def sender(conn: Connection, channel: int) -> None:
        for _ in range(params.outage_messages):
            began = time.monotonic_ns()
            try:
                await conn.send(channel, "x" * params.body)
            except Exception:
                record.errors += 1
            else:
                record.outage_sends.append(time.monotonic_ns() - began)
            await trio.sleep(interval)

    async with trio.open_nursery() as nursery:
        for conn, channel in links:
            nursery.start_soon(sender, conn, channel)
        end = trio.current_time() + params.outage
        while trio.current_time() < end:
            peak = max(peak, rss_bytes(node.pid))
            await trio.sleep(WATCH_EVERY)
    return max(peak, rss_bytes(node.pid))


async def _each(accounts: Sequence[Account], act: Callable[[int, Connection], Any], url: str) -> None:
    """`act(index, connection)` on a connection of each account's device, CONNECTING at once."""
    limit = trio.CapacityLimiter(CONNECTING)

    async def one(index: int, account: Account) -> None:
        async with limit, Connection.open(url) as conn:
            await conn.auth(account.token)
            await act(index, conn)

    async with trio.open_nursery() as nursery:
        for index, account in enumerate(accounts):
            nursery.start_soon(one, index, account)


@asynccontextmanager
async def _connected(accounts: Sequence[Account], url: str) -> AsyncIterator[list[Connection]]:
    """Authenticated connections of these accounts' devices, open for the block.

    Each is held by a task of its own: a thousand connections nested in one
    task's context managers would nest a thousand cancel scopes.
    """
    conns: list[Connection | None] = [None] * len(accounts)
    limit = trio.CapacityLimiter(CONNECTING)
    opened, release = trio.Event(), trio.Event()
    left = len(accounts)

    async def hold(index: int, account: Account) -> None:
        nonlocal left
        async with AsyncExitStack() as stack:
            async with limit:  # connecting and authenticating, not holding
                conn = await stack.enter_async_context(Connection.open(url))
                await conn.auth(account.token)
            conns[index] = conn
            left -= 1
            if not left:
                opened.set()
            await release.wait()

    async with trio.open_nursery() as nursery:
        for index, account in enumerate(accounts):
            nursery.start_soon(hold, index, account)
        if accounts:
            await opened.wait()
        yield [conn for conn in conns if conn is not None]
        release.set()


PUSH = SubRunKind("push", "pu", PUSH_METRICS, lambda params: 2 * params.recipients, run_push)
