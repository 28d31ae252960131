"""Raw client sockets for the serving tests: idle ones, slow ones, requests written by hand, and reading what a server answers on them."""

from __future__ import annotations

import http.client
import json
import selectors
import socket
from dataclasses import dataclass
from typing import Any

WAIT_S = 30.0  # the longest any socket operation waits: a ceiling for what must happen, never asserted


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def answer(sock: socket.socket) -> Answer:
    """The response the server wrote on `sock` (raises if it closed without one)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def raw_answer(port: int, data: bytes) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers the server answers to `data`, a request written by hand (sent as is, on a
    connection of its own); fails when the server closes the connection without an answer."""
    with connect(port) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert b"\r\n\r\n" in received, f"no answer (the server closed the connection): {received!r}"
    head = received.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = [(line.split(":", 1)[0], line.split(":", 1)[1].strip()) for line in head[1:]]
    return status, headers


def closed(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (waits up to WAIT_S for it); what it still had to read is dropped."""
    try:
        while data := sock.recv(65536):
            del data
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def request_head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def trickle(socks: list[socket.socket], steps: int = 600, pause_s: float = 0.05) -> list[socket.socket]:
    """Send one more byte of an endless header to each socket until the server speaks or closes
    on every one (or `steps` rounds pass); the sockets it did, in the order given."""
    waiting = selectors.DefaultSelector()  # select() cannot watch descriptors above 1023
    for sock in socks:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        waiting.register(sock, selectors.EVENT_READ)
    done: set[socket.socket] = set()
    for _ in range(steps):
        for key, _events in waiting.select(pause_s):
            waiting.unregister(key.fileobj)
            done.add(key.fileobj)  # type: ignore[arg-type]
        if len(done) == len(socks):
            break
        for key in waiting.get_map().values():
            try:
                key.fileobj.send(b"a")  # type: ignore[union-attr]
            except OSError:
                pass  # closed: the selector says so next round
    waiting.close()
    return [s for s in socks if s in done]
