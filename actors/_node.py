"""One chat node: the supervision tree of one process.

    node (rest_for_one)
    ├── activity   devices' last activity, written behind in batches
    ├── timers     delayed messages (presence deadlines)
    ├── users      registry of UserActors
    ├── channels   registry of ChannelActors
    ├── push       the providers' clients, bounded queues, retries (the `push` package)
    ├── gateway    one listener: WebSocket `/v1`, the web client's files
    │   └── sessions   one DeviceSession per connection, in that connection's task
    └── membership this node's expiring row in the store (`chatnode status`)

rest_for_one because each child needs the ones before it: if the users
registry had to restart, channels and sessions holding refs into it restart
with it, while a gateway restart leaves the registries alone. The store is
opened before the tree and closed after it: failing to open it is a start-up
error, not a crash to retry.

Once running, a store outage is no crash anywhere in the tree: each request
that needs the store is answered `unavailable` (a channel that cannot load
its row fails its activation, which the registry does not count), the
membership row and the activity log retry on their own, and whatever needs
no store (ping, typing in active channels, delivery to online devices)
goes on. Nothing restarts, so no connection is dropped for it, and the node
serves again by itself as soon as the store answers.
"""

from __future__ import annotations

import base64

import logging
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio
from attrs import field, frozen

from push import Notification, PushConfig, Pusher
from runtime import ChildSpec, IdGenerator, Registry, Strategy, Supervisor, Timers
from storage import NodeRecord, Store
from protocol import CLOSE_GRACE, Limits

from ._accounts import AccountPolicy, Accounts
from ._activity import ActivityLog
from ._channel import ChannelActor
from ._gateway import Gateway
from ._handlers import Handlers
from ._mail import Post
from ._membership import Membership
from ._push import forget_gone_target
from ._push_decisions import PushPolicy
from ._services import DEFAULT_PAGE_READS, Services, registry_id
from ._user import UserActor
from ._web import RESOURCE, HttpLimits

log = logging.getLogger(__name__)


#: The web client a node serves unless told otherwise: `web/dist` of the
#: checkout this package runs from (`make run`, an editable install). An
#: install elsewhere has none there, and says so to every HTTP request.
DEFAULT_WEB_ROOT = Path(__file__).resolve().parents[1] / "web" / "dist"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@frozen(kw_only=True)
class NodeConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port
    node_id: int = 1  # unique in the cluster: it is part of every id this node makes
    limits: Limits = field(factory=Limits)
    #: Connections at once; lowered at start to what the open files limit
    #: (raised to its hard limit) leaves after a reserve (`_admission.py`).
    max_connections: int = 100_000
    #: Connections from one peer address (an IPv6 /64) in their handshake,
    #: and not yet authenticated (those in their handshake included); more
    #: are answered HTTP 503 before any handshake. A thousand devices
    #: reconnecting behind one NAT fit in the second; a slowloris from one
    #: address stops at the first.
    max_handshakes_per_ip: int = 64
    max_unauthenticated_per_ip: int = 256
    #: Seconds a new connection has to finish its handshakes, TLS and WebSocket together.
    handshake_timeout: float = 10.0
    #: Serve `wss://` with this context (`server_tls_context`); None: plain `ws://`.
    tls: ssl.SSLContext | None = None
    #: The web client's files, served to plain HTTP requests on the same port
    #: (a directory that does not exist: 404 saying it is not built); None:
    #: no files at all (`--no-web`).
    web_root: Path | None = DEFAULT_WEB_ROOT
    #: What one plain HTTP connection may cost (head size, requests, write time).
    http: HttpLimits = field(factory=HttpLimits)
    #: Seconds a closing connection has to get its `bye` and close handshake
    #: through before it is aborted (a peer that does not read never would).
    close_grace: float = CLOSE_GRACE
    #: `sync`/`history` requests of one connection read at once (more wait,
    #: and the connection's reader with them), and of the whole node.
    page_reads_per_connection: int = 2
    page_reads: int = DEFAULT_PAGE_READS
    #: How long a request waits for a user or channel actor.
    ask_timeout: float = 10.0
    #: Seconds SIGTERM waits for in-flight sends before closing anyway.
    drain_timeout: float = 10.0
    #: What `bye` (draining) asks clients to wait before reconnecting, in ms.
    drain_retry_ms: int = 1000
    #: Throttles, KDF queues, the scrypt cost and the device cap.
    accounts: AccountPolicy = field(factory=AccountPolicy)
    #: Seconds between a user actor's looks in the store for revoked devices
    #: among its live sessions (revocations the direct notice did not bring).
    revocation_check: float = 30.0
    user_idle_after: float = 60.0
    channel_idle_after: float = 300.0
    mailbox_size: int = 1024
    #: Bytes of post bodies queued for one channel at most (a body may be
    #: ~400 KB, so 1,024 posts could hold 400 MB); a sender waits for room.
    channel_mailbox_bytes: int = 8 * 1024 * 1024
    #: Push providers and their bounds; none configured by default, and then
    #: every `push` target is refused.
    push: PushConfig = field(factory=PushConfig)
    #: Seconds a connected device has to `ack` a message before it is pushed anyway.
    push_ack_timeout: float = 10.0
    #: Seconds a user's actor remembers having notified a device (for the
    #: badge update a read elsewhere sends it); the actor stays that long.
    push_remember: float = 3600.0


def channel_mail_bytes(message: object) -> int:
    """What a channel's mail holds in memory: a post, its body; the rest is
    small, and bounded by the mailbox's message count."""
    return sys.getsizeof(message.request.body) if isinstance(message, Post) else 0


class Node:
    def __init__(self, config: NodeConfig, store: Store, *, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.config = config
        users = Registry(
            "users",
            self._user,
            mailbox_size=config.mailbox_size,
            idle_after=config.user_idle_after,
        )
        channels = Registry(
            "channels",
            self._channel,
            mailbox_size=config.mailbox_size,
            mailbox_bytes=config.channel_mailbox_bytes,
            mail_cost=channel_mail_bytes,
            idle_after=config.channel_idle_after,
        )
        timers = Timers()
        activity = ActivityLog(store)
        self.pusher = Pusher(config.push, self._target_gone)
        self.services = Services(
            store=store,
            limits=config.limits,
            clock_ms=clock_ms,
            users=users,
            channels=channels,
            timers=timers,
            activity=activity,
            ask_timeout=config.ask_timeout,
            pusher=self.pusher,
            push_policy=PushPolicy(
                ack_timeout=config.push_ack_timeout, remember=config.push_remember, previews=config.push.previews
            ),
            page_reads=trio.CapacityLimiter(config.page_reads),
        )
        ids = IdGenerator(config.node_id, clock_ms)
        accounts = Accounts(store, activity, ids, clock_ms, self.services.security, config.accounts)
        self.gateway = Gateway(
            self.services,
            accounts,
            Handlers(self.services, accounts, ids),
            host=config.host,
            port=config.port,
            max_connections=config.max_connections,
            max_handshakes_per_ip=config.max_handshakes_per_ip,
            max_unauthenticated_per_ip=config.max_unauthenticated_per_ip,
            handshake_timeout=config.handshake_timeout,
            tls=config.tls,
            close_grace=config.close_grace,
            page_reads=config.page_reads_per_connection,
            web_root=config.web_root,
            vapid_key=None if config.push.vapid is None else base64.urlsafe_b64encode(config.push.vapid.public_key).rstrip(b"="),
            http=config.http,
        )
        self._started = clock_ms()
        self._tree = Supervisor(
            "node",
            Strategy.REST_FOR_ONE,
            [
                ChildSpec("activity", activity.run),
                ChildSpec("timers", timers.run),
                ChildSpec("users", users.run),
                ChildSpec("channels", channels.run),
                ChildSpec("push", self._run_push),
                ChildSpec("gateway", self.gateway.run, shutdown=config.drain_timeout),
                ChildSpec("membership", self._run_membership),
            ],
        )

    async def _run_membership(self, *, task_status: trio.TaskStatus[Membership] = trio.TASK_STATUS_IGNORED) -> None:
        # Started after the gateway, so the row names the port it really got.
        record = NodeRecord(
            node=self.config.node_id,
            address=f"{self.config.host}:{self.gateway.port}",
            started=self._started,
        )
        await Membership(self.services.store, record).run(task_status=task_status)

    async def _run_push(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The providers' workers; on a node with none configured, nothing but this child."""
        await self.pusher.run(task_status=task_status)
        await trio.sleep_forever()

    async def _target_gone(self, notification: Notification) -> None:
        await forget_gone_target(self.services, notification)

    def _user(self, key: object) -> UserActor:
        return UserActor(registry_id(key), self.services, revocation_check=self.config.revocation_check)

    def _channel(self, key: object) -> ChannelActor:
        return ChannelActor(registry_id(key), self.services)

    @property
    def url(self) -> str:
        scheme = "ws" if self.config.tls is None else "wss"
        return f"{scheme}://{self.config.host}:{self.gateway.port}{RESOURCE}"

    async def run(self, *, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the tree; `started` once the node listens. Returns after `drain()`."""
        await self._tree.run(task_status=_Relay(task_status, self))  # type: ignore[arg-type]

    async def drain(self) -> None:
        """Graceful stop: no new connections, sends finish, `bye` to every device."""
        log.info("draining %d connections", self.gateway.connections)
        await self.gateway.drain(self.config.drain_retry_ms, self.config.drain_timeout)
        self._tree.request_stop()


class _Relay:
    """Hands the node (not the supervisor) to whoever started it."""

    def __init__(self, inner: trio.TaskStatus[Node], node: Node) -> None:
        self._inner = inner
        self._node = node

    def started(self, _value: object = None) -> None:
        self._inner.started(self._node)
