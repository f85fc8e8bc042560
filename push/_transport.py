"""One httpx client per provider, whose connections go only to public addresses.

The check is made where the connection is made: the host is resolved, every
address it resolves to must be public (`public_address`), and the socket is
opened to one of those very addresses, so a DNS answer that changes between
the check and the connect (rebinding) cannot slip a private address in. TLS
still verifies the certificate against the host name. Hosts in
`PushConfig.allowed_hosts` are connected to as they are. Proxies from the
environment are ignored: they would make the dialled address someone else's
choice.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Protocol

import httpcore
import httpx
import trio

from ._api import Notification, PushKind
from ._config import PushConfig
from ._outcome import Outcome
from ._safety import public_address


class Sender(Protocol):
    """A provider's client: builds its requests and reads its answers."""

    name: str
    kinds: frozenset[PushKind]
    http1: bool  # False for APNs, which speaks HTTP/2 only

    async def send(self, client: httpx.AsyncClient, notification: Notification) -> Outcome: ...


class UnsafeAddress(Exception):
    """A host resolved to an address the pusher does not call (loopback, private, metadata...)."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's Trio backend, dialling only addresses that `public_address` accepts."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self._inner = httpcore.TrioBackend()
        self._allowed = allowed_hosts

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host in self._allowed:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [address for address in addresses if not public_address(address)]
        if refused or not addresses:
            raise UnsafeAddress(f"{host} resolves to {', '.join(refused) or 'nothing'}, which is not public")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeAddress("the pusher does not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool that dials through `GuardedBackend`.

    httpx takes no network backend of its own, so the pool it builds is
    replaced by one built with the same settings and ours.
    """

    def __init__(self, config: PushConfig, http1: bool, limits: httpx.Limits) -> None:
        verify = True if config.tls is None else config.tls
        super().__init__(verify=verify, trust_env=False, http1=http1, http2=True, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=True,
            network_backend=GuardedBackend(config.allowed_hosts),
        )


@asynccontextmanager
async def open_client(config: PushConfig, sender: Sender) -> AsyncIterator[httpx.AsyncClient]:
    """The provider's one client: HTTP/2, a pool as large as the lane's concurrency, no redirects."""
    limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
    transport = _GuardedTransport(config, sender.http1, limits)
    timeout = httpx.Timeout(config.timeout)
    client = httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
    async with client:
        yield client


#: The most of a provider's answer body that is read (their error bodies are a few hundred bytes).
MAX_ANSWER = 64 * 1024


async def exchange(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], content: bytes
) -> tuple[int, httpx.Headers, bytes]:
    """POST `content` to `url`; the status, headers and at most MAX_ANSWER bytes of the body.

    A Web Push endpoint is anyone's server: its answer is read only as far as
    the bound, so it cannot make the node hold a large body.
    """
    async with client.stream("POST", url, headers=headers, content=content) as response:
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk[: MAX_ANSWER - len(body)]
            if len(body) >= MAX_ANSWER:
                break
        return response.status_code, response.headers, bytes(body)
