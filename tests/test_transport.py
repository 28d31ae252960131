"""The worker's HTTP client: a pooled connection the vendor dropped while it was idle is never used again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from leadrelay.config import load_settings
from leadrelay.transport import Backend
from leadrelay.worker import new_client


async def test_a_connection_the_vendor_closed_while_idle_is_replaced_not_used(tmp_path: Path) -> None:
    connections = 0
    closed = asyncio.Event()

    async def answer_once_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # as a vendor's keep-alive timeout does, between two deliveries
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(answer_once_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/x.db")
    client = new_client(settings, 1)
    try:
        assert isinstance(client._transport._pool._network_backend, Backend)  # type: ignore[attr-defined]
        first = await client.post(f"http://127.0.0.1:{port}/track/lead", content=b"{}")
        await closed.wait()
        await asyncio.sleep(0.05)  # the end of the connection reaches the client's socket
        second = await client.post(f"http://127.0.0.1:{port}/track/lead", content=b"{}")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert (first.status_code, second.status_code) == (200, 200)
    assert connections == 2  # the dropped connection was noticed before the second request, which got a new one


def test_the_kept_socket_is_polled_as_httpcore_polls_it() -> None:
    import socket

    from leadrelay.transport import readable

    a, b = socket.socketpair()
    try:
        assert readable(a) is False
        b.sendall(b"x")
        assert readable(a) is True
    finally:
        a.close()
        b.close()
    assert readable(a) is True  # a socket that is gone reads as "readable": the pool drops the connection
    assert readable(None) is True
