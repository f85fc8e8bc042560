"""ScyllaCluster: the driver's Cluster and Session, the schema, the prepared statements.

Blocking and loop-agnostic on purpose: connecting and preparing happen once,
in a thread (`ScyllaStore.open`) or in a CLI, and one ScyllaCluster then serves
any number of ScyllaStores and `trio.run()`s.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement, tuple_factory

from ._cql_schema import ADDED_COLUMNS, QUORUM_LEVELS, schema_statements
from ._errors import StoreError
from ._trio_cql import translate

# Each quorum level maps to the serial level whose Paxos rounds intersect
# with it. LOCAL_*: linearizable within one datacenter only, so a multi-DC
# deployment that moves channels across DCs wants QUORUM.
_SERIAL_FOR = {
    level: ConsistencyLevel.LOCAL_SERIAL if level.startswith("LOCAL_") else ConsistencyLevel.SERIAL
    for level in QUORUM_LEVELS
}

# The protocol version scylla-driver's own CI covers; ScyllaDB and Cassandra
# 4+/5 both speak it.
_PROTOCOL_VERSION = 4

# Seconds between attempts to reach a node that went down, doubling up to
# the maximum. The driver's default grows to 600 s: a node whose cluster
# came back after a minute's outage would go on answering `unavailable`
# for minutes more.
_RECONNECT_DELAY = 1.0
_RECONNECT_MAX_DELAY = 10.0


class ScyllaCluster:
    """A connected driver session on one keyspace, with every statement prepared."""

    def __init__(
        self,
        cluster: Cluster,
        session: Session,
        keyspace: str,
        schema: Sequence[str],
    ) -> None:
        self._cluster = cluster
        self.session = session
        self.keyspace = keyspace
        self._schema = schema
        # None until the keyspace exists (see create_schema).
        self._statements: Statements | None = None

    @classmethod
    def connect(
        cls,
        contact_points: Sequence[tuple[str, int]],
        keyspace: str,
        *,
        consistency: str = "LOCAL_QUORUM",
        local_dc: str = "datacenter1",
        replication_factor: int = 3,
        create_schema: bool = False,
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> ScyllaCluster:
        """Connect, and prepare the statements if the schema exists.

        `username` and `password` log in (the cluster's PasswordAuthenticator);
        `ssl_context` wraps every connection in TLS (storage.config builds
        one that checks the node's certificate and host name).

        Raises Unavailable (one line) when no contact point answers within
        `connect_timeout`; the driver's threads are stopped again then, so a
        failed start does not keep the process alive.
        """
        schema = schema_statements(keyspace, local_dc, replication_factor)
        if consistency not in _SERIAL_FOR:
            raise ValueError(f"consistency {consistency!r} is not one of {sorted(_SERIAL_FOR)}")
        ports = {port for _, port in contact_points}
        if len(ports) != 1:
            # The driver reaches every node it discovers on one port.
            raise ValueError(f"contact points need one common port, got {sorted(ports)}")
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
            consistency_level=ConsistencyLevel.name_to_value[consistency],
            serial_consistency_level=_SERIAL_FOR[consistency],
            request_timeout=request_timeout,
            row_factory=tuple_factory,
        )
        where = ", ".join(f"{host}:{port}" for host, port in contact_points)
        try:
            # Resolves the contact points: fails here for unknown host names.
            cluster = Cluster(
                contact_points=[host for host, _ in contact_points],
                port=ports.pop(),
                protocol_version=_PROTOCOL_VERSION,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                connect_timeout=connect_timeout,
                control_connection_timeout=connect_timeout,
                reconnection_policy=ExponentialReconnectionPolicy(_RECONNECT_DELAY, _RECONNECT_MAX_DELAY),
                auth_provider=None if username is None else PlainTextAuthProvider(username, password),
                ssl_context=ssl_context,
            )
        except Exception as exc:
            error = translate(exc)
            raise type(error)(f"cannot use the CQL cluster at {where}: {error}") from exc
        try:
            session = cluster.connect()
            connected = cls(cluster, session, keyspace, schema)
            if create_schema:
                connected.create_schema()
            elif keyspace in cluster.metadata.keyspaces:
                connected._use_keyspace()
        except BaseException as exc:
            cluster.shutdown()
            if not isinstance(exc, Exception):
                raise
            error = exc if isinstance(exc, StoreError) else translate(exc)
            raise type(error)(f"cannot use the CQL cluster at {where}: {error}") from exc
        return connected

    def create_schema(self) -> None:
        """Create the keyspace, tables and columns where missing; idempotent."""
        try:
            for cql in self._schema:
                self.session.execute(cql)
            # The driver's metadata follows every schema change it made.
            tables = self._cluster.metadata.keyspaces[self.keyspace].tables
            for table, column, cql_type in ADDED_COLUMNS:
                if column not in tables[table].columns:
                    self.session.execute(f"ALTER TABLE {self.keyspace}.{table} ADD {column} {cql_type}")
        except Exception as exc:
            raise translate(exc) from exc
        self._use_keyspace()

    def _use_keyspace(self) -> None:
        try:
            self.session.set_keyspace(self.keyspace)
        except Exception as exc:
            raise translate(exc) from exc
        self._statements = Statements(self.session)

    @property
    def statements(self) -> Statements:
        if self._statements is None:
            raise StoreError(
                f"keyspace {self.keyspace} does not exist; create it with `chatnode schema`"
            )
        return self._statements

    def shutdown(self) -> None:
        """Close every connection and stop the driver's threads."""
        self._cluster.shutdown()


class Statements:
    """Every statement ScyllaStore runs, prepared once per cluster connection."""

    def __init__(self, session: Session) -> None:
        """Prepare on `session`, whose keyspace is set to the store's."""

        def prepare(cql: str, *, idempotent: bool = True) -> PreparedStatement:
            try:
                statement = session.prepare(cql)
            except Exception as exc:
                error = translate(exc)
                raise type(error)(f"{error} (is the schema current? `chatnode schema`)") from exc
            # Idempotent: safe for the driver to retry or speculate. True for
            # every plain write here: upserts, deletes and writes with an
            # explicit timestamp. Never for LWTs.
            statement.is_idempotent = idempotent
            return statement

        def lwt(cql: str) -> PreparedStatement:
            return prepare(cql, idempotent=False)

        # -- accounts
        self.claim_username = lwt(
            "INSERT INTO users_by_name (username, user, password_hash, created)"
            " VALUES (?, ?, ?, ?) IF NOT EXISTS"
        )
        self.insert_user = prepare(
            "INSERT INTO users (user, username, password_hash, created) VALUES (?, ?, ?, ?)"
        )
        self.user_by_name = prepare(
            "SELECT user, username, password_hash, created FROM users_by_name WHERE username = ?"
        )
        self.user = prepare(
            "SELECT user, username, password_hash, created FROM users WHERE user = ?"
        )
        self.set_password_hash = prepare("UPDATE users SET password_hash = ? WHERE user = ?")
        self.set_password_hash_by_name = lwt(
            "UPDATE users_by_name SET password_hash = ? WHERE username = ? IF user = ?"
        )
        # -- devices, tokens, activity
        self.insert_device = prepare(
            "INSERT INTO devices (user, device, name, created, token_hash) VALUES (?, ?, ?, ?, ?)"
        )
        self.device_active = prepare(
            "UPDATE devices USING TIMESTAMP ? SET last_active = ? WHERE user = ? AND device = ?"
        )
        self.device = prepare(
            "SELECT device, name, created, last_active, token_hash FROM devices"
            " WHERE user = ? AND device = ?"
        )
        self.devices = prepare(
            "SELECT device, name, created, last_active, token_hash FROM devices WHERE user = ?"
        )
        self.device_count = prepare("SELECT count(created) FROM devices WHERE user = ?")
        self.delete_device = prepare("DELETE FROM devices WHERE user = ? AND device = ?")
        self.insert_token = prepare(
            "INSERT INTO tokens (token_hash, user, device) VALUES (?, ?, ?)"
        )
        self.token = prepare("SELECT user, device FROM tokens WHERE token_hash = ?")
        self.delete_token = prepare("DELETE FROM tokens WHERE token_hash = ?")
        self.user_active = prepare(
            "UPDATE user_activity USING TIMESTAMP ? SET last_active = ? WHERE user = ?"
        )
        self.user_activity = prepare("SELECT last_active FROM user_activity WHERE user = ?")
        # -- push targets
        self.insert_push_target = prepare(
            "INSERT INTO push_targets (user, device, kind, endpoint, fields, registered, preview, preview_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
        )
        self.delete_push_target = prepare(
            "DELETE FROM push_targets WHERE user = ? AND device = ?"
        )
        self.remove_push_target = prepare(
            "DELETE FROM push_targets USING TIMESTAMP ? WHERE user = ? AND device = ?"
        )
        # writetime(endpoint): the registration time of a row written before
        # the registered column existed.
        self.push_targets = prepare(
            "SELECT device, kind, endpoint, fields, registered, preview, preview_key, writetime(endpoint)"
            " FROM push_targets WHERE user = ?"
        )
        # -- notify levels
        self.insert_notify = prepare(
            "INSERT INTO notify_levels (user, channel, level, until) VALUES (?, ?, ?, ?)"
        )
        self.delete_notify = prepare("DELETE FROM notify_levels WHERE user = ? AND channel = ?")
        self.notify_levels = prepare("SELECT channel, level, until FROM notify_levels WHERE user = ?")
        # -- channels
        self.claim_direct_pair = lwt(
            "INSERT INTO direct_pairs (low, high, channel, created) VALUES (?, ?, ?, ?)"
            " IF NOT EXISTS"
        )
        self.direct_pair = prepare(
            "SELECT channel, created FROM direct_pairs WHERE low = ? AND high = ?"
        )
        self.insert_channel = prepare(
            "INSERT INTO channels (channel, kind, name, created) VALUES (?, ?, ?, ?)"
        )
        self.channel = prepare("SELECT kind, name, created FROM channels WHERE channel = ?")
        self.insert_member = prepare(
            "INSERT INTO channel_members (channel, user) VALUES (?, ?)"
        )
        self.delete_member = prepare(
            "DELETE FROM channel_members WHERE channel = ? AND user = ?"
        )
        self.members = prepare("SELECT user FROM channel_members WHERE channel = ?")
        self.insert_user_channel = prepare(
            "INSERT INTO user_channels (user, channel) VALUES (?, ?)"
        )
        self.delete_user_channel = prepare(
            "DELETE FROM user_channels WHERE user = ? AND channel = ?"
        )
        self.user_channels = prepare(
            "SELECT channel FROM user_channels WHERE user = ? AND channel > ?"
        )
        # -- sequence heads (see _scylla_messages for the fencing scheme)
        self.head = prepare(
            "SELECT epoch, last, writetime(last) FROM channel_heads WHERE channel = ?"
        )
        self.claim_new_head = lwt(
            "UPDATE channel_heads SET epoch = 1 WHERE channel = ? IF epoch = null"
        )
        self.bump_epoch = lwt(
            "UPDATE channel_heads SET epoch = ? WHERE channel = ? IF epoch = ?"
        )
        self.epochs = prepare("SELECT channel, epoch FROM channel_heads WHERE channel IN ?")
        self.advance_head = prepare(
            "UPDATE channel_heads USING TIMESTAMP ? SET last = ? WHERE channel = ?"
        )
        # -- messages
        self.insert_body = prepare(
            "INSERT INTO message_bodies (channel, seq, body) VALUES (?, ?, ?) USING TIMESTAMP ?"
        )
        self.insert_message = prepare(
            "INSERT INTO messages (channel, bucket, seq, sender, device, ts, cid, big, body, size)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
        )
        self.insert_dedup = prepare(
            "INSERT INTO dedup (sender, cid, channel, seq, ts) VALUES (?, ?, ?, ?, ?)"
            " USING TIMESTAMP ?"
        )
        self.tail = prepare(
            "SELECT seq, writetime(sender), sender, cid, ts FROM messages"
            " WHERE channel = ? AND bucket = ? AND seq > ? ORDER BY seq DESC"
        )
        self.range_up = prepare(
            "SELECT seq, sender, device, ts, cid, big, body, size FROM messages"
            " WHERE channel = ? AND bucket = ? AND seq > ? AND seq <= ? LIMIT ?"
        )
        self.range_down = prepare(
            "SELECT seq, sender, device, ts, cid, big, body, size FROM messages"
            " WHERE channel = ? AND bucket = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        )
        self.body = prepare("SELECT body FROM message_bodies WHERE channel = ? AND seq = ?")
        self.origin = prepare(
            "SELECT sender, cid FROM messages WHERE channel = ? AND bucket = ? AND seq = ?"
        )
        self.dedups = prepare(
            "SELECT cid, channel, seq, ts FROM dedup WHERE sender = ? AND cid IN ?"
        )
        # -- read markers
        self.advance_marker = prepare(
            "UPDATE read_markers USING TIMESTAMP ? SET seq = ? WHERE user = ? AND channel = ?"
        )
        self.markers = prepare("SELECT channel, seq FROM read_markers WHERE user = ?")
        # -- blocks
        self.insert_block = prepare("INSERT INTO blocks (user, blocked) VALUES (?, ?)")
        self.delete_block = prepare("DELETE FROM blocks WHERE user = ? AND blocked = ?")
        self.blocked = prepare("SELECT blocked FROM blocks WHERE user = ?")
        self.block = prepare("SELECT user FROM blocks WHERE user = ? AND blocked = ?")
        # -- nodes
        self.insert_node = prepare(
            "INSERT INTO nodes (node, address, started) VALUES (?, ?, ?) USING TTL ?"
        )
        self.nodes = prepare("SELECT node, address, started FROM nodes")
        self.delete_node = prepare("DELETE FROM nodes WHERE node = ?")
