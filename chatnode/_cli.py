"""chatnode: run and operate a chat node.

    chatnode serve [--host H] [--port P] [--tls-cert PEM --tls-key PEM] [--web-root DIR | --no-web]
                   [--store PATH | --cql HOST:PORT,... --keyspace K]
                   [--vapid-private-key PEM --vapid-subject URL] [--fcm-service-account JSON]
                   [--apns-key P8 --apns-key-id ID --apns-team-id ID --apns-topic BUNDLE] [--push-previews]
    chatnode schema --cql HOST:PORT,... --keyspace K [--replication-factor N]
    chatnode status [--cql ... | --store ...]

A CQL cluster may need `--cql-username NAME --cql-password-file PATH` and
`--cql-tls-ca PEM [--cql-tls-cert PEM [--cql-tls-key PEM]]`.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import trio

from actors import Node, NodeConfig, server_tls_context
from protocol import Limits
from storage import Store, StoreError
from storage.config import StoreConfig, StoreConfigError, open_store

from ._push_args import PushSettingsError, add_push_arguments, push_config_from_args
from ._store_args import add_store_arguments, store_config_from_args


#: serve's flags that override a field of Limits, by field name.
LIMIT_FLAGS = ("max_body_chars", "max_group_members", "max_message_bytes", "send_rate", "send_burst", "heartbeat")


@contextmanager
def _driver_quiet() -> Iterator[None]:
    """Silence the CQL driver while the store opens.

    It logs every failed connection attempt with a traceback; a store that
    cannot be opened is reported once, in one line, from its StoreError.
    Later, its warnings (a host down, a host back) are the operator's news.
    """
    driver = logging.getLogger("cassandra")
    level = driver.level
    driver.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        driver.setLevel(level)


def _driver_silent() -> None:
    """Silence the CQL driver for the rest of a one-shot command.

    The command reports a failure once, from its StoreError. The driver would
    only repeat it, and at exit its reactor may warn that its thread did not
    join in time, after the store was shut down as it should be.
    """
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)


async def _open(store_config: StoreConfig, *, create_schema: bool = True) -> Store:
    with _driver_quiet():
        return await open_store(store_config, create_schema=create_schema)


def _store_config(args: argparse.Namespace) -> StoreConfig:
    """The store the flags name; flags that do not go together are a usage error."""
    try:
        return store_config_from_args(args)
    except ValueError as exc:
        args.parser.error(str(exc))


def _store_failure(exc: StoreError) -> str:
    """The one line an operator reads: a setting to fix, or a store to bring back."""
    what = "store settings" if isinstance(exc, StoreConfigError) else "store unavailable"
    return f"chatnode: {what}: {exc}"


def _limits(args: argparse.Namespace) -> Limits:
    overrides = {name: getattr(args, name) for name in LIMIT_FLAGS if getattr(args, name) is not None}
    return attrs.evolve(Limits(), **overrides)


#: Allocations between young-generation collections. A node holds thousands
#: of connections whose objects live long; the default (700) makes the cyclic
#: collector walk them so often that, at 7,000 connections, it took 62 % of
#: the event loop in chatbench's idle scenario (docs/benchmarks.rst).
GC_YOUNG_THRESHOLD = 50_000


def _tune_gc() -> None:
    """Exempt what start-up built from collection, and collect the young less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


async def _stop_on_second_signal(
    signals: AsyncIterator[int],
    node_scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A second SIGTERM or SIGINT during the drain stops the node at once.

    Hands over its own cancel scope: the drain's end cancels the watch.
    """
    with trio.CancelScope() as watch:
        task_status.started(watch)
        async for signum in signals:
            print(f"chatnode: {signal.Signals(signum).name} again, stopping now", flush=True)
            node_scope.cancel()
            return


async def serve(config: NodeConfig, store_config: StoreConfig) -> None:
    """Run a node until SIGTERM or SIGINT, then drain it."""
    store = await _open(store_config)
    try:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                node = await nursery.start(Node(config, store).run)
                _tune_gc()
                print(f"chatnode: node {config.node_id} listening on {node.url}, store {store_config.describe()}", flush=True)
                async for signum in signals:
                    print(f"chatnode: {signal.Signals(signum).name}, draining", flush=True)
                    break
                watch = await nursery.start(_stop_on_second_signal, signals, nursery.cancel_scope)
                await node.drain()
                watch.cancel()
    finally:
        await store.aclose()
    print("chatnode: stopped", flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    store_config = _store_config(args)
    if (args.tls_cert is None) != (args.tls_key is None):
        print("chatnode: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = None
    if args.tls_cert is not None:
        try:
            tls = server_tls_context(args.tls_cert, args.tls_key)
        except OSError as exc:
            print(f"chatnode: cannot use the TLS certificate and key: {exc}", file=sys.stderr)
            return 2
    try:
        push = push_config_from_args(args)
    except PushSettingsError as exc:
        print(f"chatnode: push settings: {exc}", file=sys.stderr)
        return 2
    config = NodeConfig(
        host=args.host,
        port=args.port,
        node_id=args.node_id,
        limits=_limits(args),
        drain_timeout=args.drain_timeout,
        max_handshakes_per_ip=args.max_handshakes_per_ip,
        max_unauthenticated_per_ip=args.max_unauthenticated_per_ip,
        tls=tls,
        web_root=None if args.no_web else args.web_root,
        push=push,
        push_ack_timeout=args.push_ack_timeout,
    )
    try:
        trio.run(serve, config, store_config)
    except KeyboardInterrupt:
        return 130
    except (StoreError, OSError, BaseExceptionGroup) as exc:
        # Start-up failures come out of nurseries wrapped in groups; an
        # operator wants the one line that says what is wrong.
        cause = next((leaf for leaf in _leaves(exc) if isinstance(leaf, StoreError | OSError)), None)
        if cause is None:
            raise
        line = _store_failure(cause) if isinstance(cause, StoreError) else f"chatnode: cannot listen: {cause}"
        print(line, file=sys.stderr)
        return 2
    return 0


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def cmd_schema(args: argparse.Namespace) -> int:
    store_config = _store_config(args)
    _driver_silent()

    async def create() -> None:
        store = await _open(store_config, create_schema=True)
        await store.aclose()

    try:
        trio.run(create)
    except StoreError as exc:
        print(_store_failure(exc), file=sys.stderr)
        return 2
    print(f"chatnode: schema ready in {store_config.describe()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    store_config = _store_config(args)
    _driver_silent()

    async def status() -> None:
        store = await _open(store_config, create_schema=False)  # looking must not create a keyspace
        try:
            nodes = await store.live_nodes()
        finally:
            await store.aclose()
        print(f"store: {store_config.describe()}")
        print(f"live nodes: {len(nodes)}")
        for node in nodes:
            print(f"  node {node.node} at {node.address}, up since {node.started} ms")

    try:
        trio.run(status)
    except StoreError as exc:
        print(_store_failure(exc), file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatnode", description="Run and operate a chat node.")
    parser.add_argument("--log-level", default=os.environ.get("CHAT_LOG_LEVEL", "INFO"))
    commands = parser.add_subparsers(dest="command", required=True)

    # No abbreviations: `--cql-password SECRET` must be refused, not taken
    # for `--cql-password-file` and then shown in an error naming that "file".
    serve = commands.add_parser("serve", help="run a chat node", allow_abbrev=False)
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="listen port (default 8765; 0 picks one)")
    serve.add_argument("--node-id", type=int, default=1, help="this node's id, unique in the cluster (0..1023)")
    serve.add_argument("--drain-timeout", type=float, default=10.0, help="seconds SIGTERM waits for in-flight sends")
    serve.add_argument("--tls-cert", help="PEM certificate chain: serve wss:// (with --tls-key)")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    node_defaults = attrs.fields(NodeConfig)
    web = serve.add_mutually_exclusive_group()
    web.add_argument(
        "--web-root",
        type=Path,
        metavar="DIR",
        default=node_defaults.web_root.default,
        help="the web client's files, served on the same port (default: web/dist of this checkout)",
    )
    web.add_argument("--no-web", action="store_true", help="serve no web client: only the chat's WebSocket")
    serve.add_argument(
        "--max-handshakes-per-ip",
        type=int,
        default=node_defaults.max_handshakes_per_ip.default,
        help="connections in their handshake per address (default %(default)s)",
    )
    serve.add_argument(
        "--max-unauthenticated-per-ip",
        type=int,
        default=node_defaults.max_unauthenticated_per_ip.default,
        help="connections not yet authenticated per address (default %(default)s)",
    )
    serve.add_argument("--max-body-chars", type=int)
    serve.add_argument("--max-group-members", type=int)
    serve.add_argument("--max-message-bytes", type=int, help="largest WebSocket message (default 1 MiB)")
    serve.add_argument("--send-rate", type=float, help="sends per second per device")
    serve.add_argument("--send-burst", type=int, help="send burst per device")
    serve.add_argument("--heartbeat", type=int, help="seconds between client pings")
    add_store_arguments(serve)
    add_push_arguments(serve)
    serve.set_defaults(run=cmd_serve, parser=serve)

    schema = commands.add_parser("schema", help="create the keyspace and tables", allow_abbrev=False)
    add_store_arguments(schema)
    schema.set_defaults(run=cmd_schema, parser=schema)

    status = commands.add_parser("status", help="show the live nodes", allow_abbrev=False)
    add_store_arguments(status)
    status.set_defaults(run=cmd_status, parser=status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.run(args)

