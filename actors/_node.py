"""One chat node: the supervision tree of one process.

    node (rest_for_one)
    ├── activity   devices' last activity, written behind in batches
    ├── timers     delayed messages (presence deadlines)
    ├── users      registry of UserActors
    ├── channels   registry of ChannelActors
    ├── gateway    WebSocket listener
    │   └── sessions   one DeviceSession per connection, in that connection's task
    └── membership this node's expiring row in the store (`chatnode status`)

rest_for_one because each child needs the ones before it: if the users
registry had to restart, channels and sessions holding refs into it restart
with it, while a gateway restart leaves the registries alone. The store is
opened before the tree and closed after it: nothing in the tree can work
without it, and failing to open it is a start-up error, not a crash to retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio
from attrs import field, frozen

from runtime import ChildSpec, IdGenerator, Registry, Strategy, Supervisor, Timers
from storage import NodeRecord, Store
from protocol import Limits

from ._accounts import AccountPolicy, Accounts
from ._activity import ActivityLog
from ._channel import ChannelActor
from ._gateway import RESOURCE, Gateway
from ._handlers import Handlers
from ._membership import Membership
from ._services import Services, registry_id
from ._user import UserActor

log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@frozen(kw_only=True)
class NodeConfig:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port
    node_id: int = 1  # unique in the cluster: it is part of every id this node makes
    limits: Limits = field(factory=Limits)
    #: Frames queued for one device before it counts as a slow consumer.
    outbound_queue: int = 1024
    max_connections: int = 100_000
    #: Seconds a new connection has to finish its WebSocket handshake.
    handshake_timeout: float = 10.0
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
            idle_after=config.channel_idle_after,
        )
        timers = Timers()
        activity = ActivityLog(store)
        self.services = Services(
            store=store,
            limits=config.limits,
            clock_ms=clock_ms,
            users=users,
            channels=channels,
            timers=timers,
            activity=activity,
            ask_timeout=config.ask_timeout,
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
            outbound_queue=config.outbound_queue,
            handshake_timeout=config.handshake_timeout,
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

    def _user(self, key: object) -> UserActor:
        return UserActor(registry_id(key), self.services, revocation_check=self.config.revocation_check)

    def _channel(self, key: object) -> ChannelActor:
        return ChannelActor(registry_id(key), self.services)

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.gateway.port}{RESOURCE}"

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
