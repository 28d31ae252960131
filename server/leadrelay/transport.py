"""The worker's HTTP transport: httpx's own, over streams that tell cheaply whether an idle connection was dropped.

Before every request it sends, and after every answer, httpcore's pool asks each idle pooled
connection whether its socket is readable (a vendor that closed it). Over anyio, each question
builds the stream's whole table of attributes, asking the kernel for the peer's address on the
way, to find the socket; here the socket is kept from the connect, and the same poll is made on it.
That is the same check, at a fraction of the cost (encode/httpcore#928 is the upstream report).
"""

from __future__ import annotations

import select
import socket
import ssl
import typing

import httpcore
import httpx


def check_idle_cheaply(client: httpx.AsyncClient) -> None:
    """Make the connections of `client`'s own transport with `Backend` (its proxies' transports, from the
    environment, are left as they are).

    httpx passes no network backend to httpcore's pool: it is set on the pool httpx made. If a later
    httpx or httpcore names them otherwise, nothing is changed and the client is httpx's as it was."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = Backend()


class Backend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, its streams wrapped in `Stream`."""

    def __init__(self) -> None:
        self._anyio = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return Stream(await self._anyio.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return Stream(await self._anyio.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._anyio.sleep(seconds)


class Stream(httpcore.AsyncNetworkStream):
    """A connection's stream that keeps its socket, to poll it directly when asked whether it is readable."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, sock: socket.socket | None = None) -> None:
        self._stream = stream
        self._socket = sock if sock is not None else stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        # TLS runs over the same socket: the bytes waiting on it are what is readable.
        return Stream(await self._stream.start_tls(ssl_context, server_hostname, timeout), self._socket)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return readable(self._socket)
        return self._stream.get_extra_info(info)


def readable(sock: socket.socket | None) -> bool:
    """Whether reading `sock` would return at once (data, or the end of a dropped connection): httpcore's check.
    A socket that is gone counts as readable, as it does there."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))
