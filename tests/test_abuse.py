"""Abuse, all at once, through a real server: a flood of invalid events, slowloris sockets,
oversized headers and bodies that never end, while a real visitor's beacons keep being accepted.

Everything comes from 127.0.0.1, so the server trusts X-Forwarded-For (as behind a proxy) and
the flood and the visitor each say where they come from: the rate limits then stop the flood's
addresses, not the visitor's."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections import Counter
from typing import Any, Callable, Iterator

import httpx
import pytest

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.sandbox.live import LiveServer
from tests.support.sockets import WAIT_S, answer, connect, request_head, trickle

VISITOR_BEACONS = 60


def envelope(lead: str, **payload: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": lead, **payload}}


class Attack(threading.Thread):
    """Runs `step` until stopped (or `rounds` times); counts what the server answered."""

    def __init__(self, step: Callable[[int], str], stop: threading.Event, rounds: int) -> None:
        super().__init__(daemon=True)
        self.step, self.stop, self.rounds = step, stop, rounds
        self.outcomes: Counter[str] = Counter()

    def run(self) -> None:
        for n in range(self.rounds):  # one at least, however soon the visitor is done
            try:
                self.outcomes[self.step(n)] += 1
            except OSError as exc:  # what a refused abuser may see; counted, never a visitor's fate
                self.outcomes[type(exc).__name__] += 1
            if self.stop.is_set():
                return


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    settings = make_settings(
        demo=False, worker=False, max_connections=40, header_timeout_s=1, body_timeout_s=1, trust_proxy_headers=True
    )
    with LiveServer(create_app(settings), settings=settings) as live:
        yield live


def test_a_visitor_is_served_through_a_flood_of_abuse(server: LiveServer) -> None:
    port = server.port
    flood = httpx.Client(base_url=server.url, timeout=WAIT_S)

    def invalid_events(n: int) -> str:
        bad = [envelope(f"bad-{n}", value="not a number"), {"id": f"x{n}", "dialect": "nope"}]
        body = json.dumps({"events": bad}) if n % 3 else '{"events": [ not json'
        headers = {"Content-Type": "text/plain", "X-Forwarded-For": f"203.0.113.{n % 8}"}
        return str(flood.post("/lr/e", content=body, headers=headers).status_code)

    def slowloris(n: int) -> str:
        socks = [connect(port) for _ in range(25)]
        answered = trickle(socks, steps=200)
        for sock in socks:
            sock.close()
        return f"{len(answered)}/25 slowloris sockets answered or closed by the server"

    def oversized_header(n: int) -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
            try:
                sock.sendall(b"POST /lr/e HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * (1 << 20) + b"\r\n\r\n")
            except OSError:
                pass
            return str(answer(sock).status)

    def endless_body(n: int) -> str:
        with connect(port) as sock:
            sock.sendall(request_head("POST", "/lr/e", {"Content-Type": "text/plain", "Content-Length": "5000"}) + b'{"ev')
            return str(answer(sock).status)

    stop = threading.Event()
    attacks = [
        Attack(invalid_events, stop, rounds=5000),
        Attack(slowloris, stop, rounds=200),
        Attack(slowloris, stop, rounds=200),
        Attack(oversized_header, stop, rounds=2000),
        Attack(endless_body, stop, rounds=2000),
        Attack(endless_body, stop, rounds=2000),
    ]
    for attack in attacks:
        attack.start()
    accepted: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=WAIT_S) as visitor:
            for n in range(VISITOR_BEACONS):
                event = envelope(f"visitor-{n}", currency="USD", value=n)
                body = json.dumps({"events": [event]})
                headers = {"Content-Type": "text/plain", "X-Forwarded-For": "198.51.100.7"}
                response = visitor.post("/lr/e", content=body, headers=headers)
                assert response.status_code == 200, response.text
                assert response.json()["results"] == [{"id": event["id"], "status": "accepted", "event": event["payload"]}]
                accepted.append(event["id"])
    finally:
        stop.set()
        for attack in attacks:
            attack.join(WAIT_S)
        flood.close()
    stored = {e.id for e in server.app.state.service.store.list_events(1000) if e.id in set(accepted)}
    assert stored == set(accepted)
    outcomes = sum((attack.outcomes for attack in attacks), Counter())
    print("abusers got:", dict(outcomes))
    assert not [status for status in outcomes if status.startswith("5") and status != "503"]  # no server error
    assert outcomes.keys() & {"422", "400"} and outcomes.keys() & {"431"} and outcomes.keys() & {"408"}
