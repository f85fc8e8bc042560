"""Durable state: one Store API, on ScyllaDB or on an embedded SQLite file."""

from ._api import Store
from ._credentials import ScryptCost, hash_password, new_token, password_cost, token_hash, verify_password
from ._embedded import EmbeddedStore
from ._errors import Conflict, Fenced, StoreError, Unavailable, UsernameTaken
from ._scylla import ScyllaStore
from ._scylla_cluster import ScyllaCluster
from ._values import (
    Activity,
    Channel,
    Dedup,
    Device,
    Draft,
    Message,
    NodeRecord,
    Notify,
    PushTarget,
    SeqLease,
    Unread,
    User,
)

__all__ = [
    "Activity",
    "Channel",
    "Conflict",
    "Dedup",
    "Device",
    "Draft",
    "EmbeddedStore",
    "Fenced",
    "Message",
    "NodeRecord",
    "Notify",
    "PushTarget",
    "ScryptCost",
    "ScyllaCluster",
    "ScyllaStore",
    "SeqLease",
    "Store",
    "StoreError",
    "Unavailable",
    "Unread",
    "User",
    "UsernameTaken",
    "hash_password",
    "new_token",
    "password_cost",
    "token_hash",
    "verify_password",
]
