"""Through the real uvicorn server, as `leadrelay serve` configures it (leadrelay.serving): header
limits, slow and idle clients, the connection cap. Every refusal is an answer with the service's
error shape, never a dropped connection."""

from __future__ import annotations

import functools
import json
import re
import socket
import threading
import uuid
from typing import Callable

import httpx
import pytest

from leadrelay.sandbox.live import LiveServer
from tests.support.sockets import WAIT_S, answer, closed, connect, request_head, trickle

SHORT_S = 0.5  # the timeouts of these tests' servers, where a test waits for one to pass


@pytest.fixture
def serve(serve: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    """The shared `serve` (tests/conftest.py) with the demo and the worker off: these tests are about serving."""
    return functools.partial(serve, demo=False, worker=False)


def beacon(lead: str = "L-1") -> bytes:
    event = {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": lead}}
    return json.dumps({"events": [event]}).encode()


def post_head(length: int) -> bytes:
    return request_head("POST", "/lr/e", {"Content-Type": "text/plain", "Content-Length": str(length)})


def test_headers_larger_than_the_limit_get_431(serve: Callable[..., LiveServer]) -> None:
    server = serve(max_header_bytes=4096)
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz", headers={"X-Pad": "a" * 3500}).status_code == 200
        refused = client.get("/healthz", headers={"X-Pad": "a" * 4200})
        assert refused.status_code == 431
        assert refused.json() == {
            "error": {"code": "headers_too_large", "message": "the request's headers are larger than 4096 bytes"}
        }
        assert refused.headers["connection"] == "close"
    # One megabyte, sent in one go: answered, not reset, though most of it was never read.
    sock = connect(server.port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    assert answer(sock).status == 431
    sock.close()


def test_a_header_streamed_past_the_limit_gets_431_before_it_ends(serve: Callable[..., LiveServer]) -> None:
    server = serve(max_header_bytes=4096)
    sock = connect(server.port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(1024):  # up to 64 MB in 64 KB writes, never ending the header, until the server refuses
            sock.sendall(b"a" * 65536)
    except OSError:
        pass
    got = answer(sock)
    assert got.status == 431 and got.json()["error"]["code"] == "headers_too_large"
    sock.close()


def test_too_many_headers_get_431(serve: Callable[..., LiveServer]) -> None:
    server = serve(max_headers=20)
    with httpx.Client(base_url=server.url) as client:
        # httpx adds Host, Accept, Accept-Encoding, Connection and User-Agent: 20 in all.
        assert client.get("/healthz", headers={f"X-{i}": "1" for i in range(15)}).status_code == 200
        refused = client.get("/healthz", headers={f"X-{i}": "1" for i in range(16)})
        assert refused.status_code == 431
        assert refused.json()["error"] == {"code": "too_many_headers", "message": "a request may have at most 20 headers"}
    sock = connect(server.port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000)) + b"\r\n")
    assert answer(sock).status == 431
    sock.close()


def test_idle_sockets_are_closed_after_the_header_timeout(serve: Callable[..., LiveServer]) -> None:
    server = serve(header_timeout_s=SHORT_S)
    socks = [connect(server.port) for _ in range(20)]
    assert all(closed(sock) for sock in socks)
    for sock in socks:
        sock.close()
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").status_code == 200


def test_slowloris_sockets_get_408_after_the_header_timeout(serve: Callable[..., LiveServer]) -> None:
    server = serve(header_timeout_s=SHORT_S)
    socks = [connect(server.port) for _ in range(20)]
    assert trickle(socks) == socks
    for sock in socks:
        got = answer(sock)
        assert got.status == 408
        assert got.json()["error"] == {
            "code": "request_timeout",
            "message": f"the request's headers did not all arrive within {SHORT_S:g} s",
        }
        assert closed(sock)
        sock.close()


def test_a_kept_alive_connection_is_closed_after_keep_alive_s(serve: Callable[..., LiveServer]) -> None:
    server = serve(keep_alive_s=SHORT_S, header_timeout_s=60)
    sock = connect(server.port)
    for _ in range(3):
        sock.sendall(request_head("GET", "/healthz"))
        assert answer(sock).status == 200
    assert closed(sock)
    sock.close()


def test_a_body_shorter_than_its_content_length_gets_408(serve: Callable[..., LiveServer]) -> None:
    server = serve(body_timeout_s=SHORT_S)
    body = beacon()
    sock = connect(server.port)
    sock.sendall(post_head(len(body) + 10) + body)
    got = answer(sock)
    assert got.status == 408
    assert got.json()["error"] == {
        "code": "request_timeout",
        "message": f"the request's body did not all arrive within {SHORT_S:g} s (is Content-Length larger than the body?)",
    }
    assert closed(sock)
    sock.close()
    assert server.app.state.service.store.list_events(10) == []


def test_chunked_trailers_past_the_limit_get_413(serve: Callable[..., LiveServer]) -> None:
    server = serve()
    body = beacon()
    sock = connect(server.port)
    head = request_head("POST", "/lr/e", {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"})
    sock.sendall(head + b"%x\r\n%s\r\n0\r\nX-Trailer: " % (len(body), body))
    try:
        for _ in range(64):  # 4 MB of one trailer, until the server refuses
            sock.sendall(b"a" * 65536)
    except OSError:
        pass
    got = answer(sock)
    assert got.status == 413 and got.json()["error"]["code"] == "body_too_large"
    sock.close()


def test_over_the_connection_cap_a_request_gets_503(serve: Callable[..., LiveServer]) -> None:
    server = serve(max_connections=4, body_timeout_s=60)
    busy = [connect(server.port) for _ in range(4)]
    for sock in busy:
        sock.sendall(post_head(100) + b'{"events": ')  # a request under way on each
    with httpx.Client(base_url=server.url) as client:
        refused = client.get("/healthz")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == {
        "code": "too_many_connections",
        "message": "the server is at its limit of 4 connections and every other one has a request under way; retry later",
    }
    busy.pop().close()
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").status_code == 200  # room again
    for sock in busy:
        sock.close()


def test_at_the_cap_idle_and_slow_sockets_make_room_for_real_requests(serve: Callable[..., LiveServer]) -> None:
    server = serve(max_connections=10, header_timeout_s=60, keep_alive_s=60)
    stop = threading.Event()
    opened: list[socket.socket] = []

    def attack() -> None:  # 300 sockets, idle or trickling a header, opened while the real client works
        for n in range(300):
            if stop.is_set():
                break
            sock = connect(server.port)
            if n % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            opened.append(sock)

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    try:
        with httpx.Client(base_url=server.url) as kept_alive:
            for n in range(30):
                posted = kept_alive.post("/lr/e", content=beacon(f"K-{n}"), headers={"Content-Type": "text/plain"})
                assert posted.status_code == 200
                fresh = connect(server.port)
                fresh.sendall(request_head("GET", "/healthz"))
                assert answer(fresh).status == 200
                fresh.close()
    finally:
        stop.set()
        attacker.join(WAIT_S)
        for sock in opened:
            sock.close()


def test_a_request_that_is_not_http_gets_400_in_the_error_shape(serve: Callable[..., LiveServer]) -> None:
    server = serve()
    for raw, message in (
        (b"GARBAGE\r\n\r\n", "invalid HTTP request: Invalid method encountered"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", "invalid HTTP request: Invalid header token"),
    ):
        sock = connect(server.port)
        sock.sendall(raw)
        got = answer(sock)
        sock.close()
        assert got.status == 400
        assert got.json() == {"error": {"code": "bad_request", "message": message}}


class Recording:
    """A transport that records each write, as the kernel would see each send()."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_a_response_head_leaves_with_its_body_in_one_write() -> None:
    import asyncio

    from leadrelay.serving import OneSend

    async def scenario() -> tuple[list[bytes], list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        whole = Recording()
        sent = OneSend(whole, loop)  # type: ignore[arg-type]
        sent.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        sent.write(b"{}")
        streamed = Recording()
        later = OneSend(streamed, loop)  # type: ignore[arg-type]
        later.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        assert streamed.writes == []  # held for the body a moment...
        await asyncio.sleep(0)
        heads_alone = list(streamed.writes)  # ...but not past the loop's next turn: a stream's head does not wait
        later.write(b"2\r\n{}\r\n")
        closing = Recording()
        shut = OneSend(closing, loop)  # type: ignore[arg-type]
        shut.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        shut.close()  # a head held when the connection closes is written first
        return whole.writes + streamed.writes[1:], heads_alone, closing.writes

    writes, heads_alone, closing = asyncio.run(scenario())
    assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"2\r\n{}\r\n"]
    assert heads_alone == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    assert closing == [b"HTTP/1.1 204 No Content\r\n\r\n"]


def read_answers(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """`count` answers read off one connection, each its status and body (by its Content-Length)."""
    data, answers = b"", []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536) or pytest.fail(f"the server closed the connection after {len(answers)} answers")
        head, data = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(data) < length:
            data += sock.recv(65536) or pytest.fail("the server closed the connection in a body")
        answers.append((int(head.split(b" ")[1]), data[:length]))
        data = data[length:]
    return answers


def test_pipelined_requests_are_answered_whole_and_in_order(serve: Callable[..., LiveServer]) -> None:
    server = serve()
    with connect(server.port) as sock:
        first, second = beacon("L-1"), beacon("L-2")
        sock.sendall(post_head(len(first)) + first + request_head("GET", "/healthz") + post_head(len(second)) + second)
        answers = read_answers(sock, 3)
    assert [status for status, _ in answers] == [200, 200, 200]
    bodies = [json.loads(body) for _, body in answers]
    assert [bodies[0]["results"][0]["status"], bodies[2]["results"][0]["status"]] == ["accepted", "accepted"]
    assert "status" in bodies[1] and "results" not in bodies[1]  # the health check's answer came second
