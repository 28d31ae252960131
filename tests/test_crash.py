"""Crash: SIGKILL a real `leadrelay serve` while events arrive and are delivered; restart; nothing acknowledged is lost.

At-least-once: after the restart every acknowledged event reaches every fake
vendor; an event can reach a vendor twice only if its request was in flight when
the process died (bounded by what one worker holds at once). The test prints
how many repeats there were.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx

from leadrelay.worker import PREFETCH
from tests.fakes import Vendors
from tests.support.keys import SERVER, SERVER_KEY
from tests.support.live import free_port

EVENTS = 3000
BATCH = 20
CONCURRENCY = 8
WAIT_S = 180.0  # a ceiling for what must happen, never asserted as a duration


def envelope(n: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": {
            "leadId": f"crash-{n}",
            "currency": "USD",
            "value": 10,
            "lead": {"firstName": "Load", "email": f"load{n}@example.com"},
        },
        "click_ids": {"dub": f"dub{n}", "pimms": f"pimms{n}"},
    }


class Server:
    """`leadrelay serve` in a subprocess on a fixed port and database."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "leadrelay", "serve", "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._up, "the server to start", timeout=30)

    def _up(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
    return value


class Load(threading.Thread):
    """Posts the events in batches, as the site's backend (its server key vouches for the click ids);
    a batch is retried until the server answers it (like the snippet does)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: set[int] = set()
        self.errors = 0

    def run(self) -> None:
        with httpx.Client(timeout=10, headers=SERVER) as client:
            for start in range(0, EVENTS, BATCH):
                numbers = range(start, min(start + BATCH, EVENTS))
                batch = [envelope(n) for n in numbers]
                while True:
                    try:
                        response = client.post(f"{self.url}/lr/e", json={"events": batch})
                    except httpx.HTTPError:
                        self.errors += 1
                        time.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        break
                    self.errors += 1
                    time.sleep(0.05)
                for n, result in zip(numbers, response.json()["results"]):
                    assert result["status"] in ("accepted", "duplicate"), result
                    self.acknowledged.add(n)


def repeats(keys: list[str]) -> int:
    return sum(count - 1 for count in collections.Counter(keys).values())


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with Vendors() as vendors:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
        env.update(vendors.env())
        env.update(
            {
                "LEADRELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'crash.db'}",
                "LEADRELAY_SERVER_KEYS": SERVER_KEY,
                "LEADRELAY_DEMO": "false",
                "LEADRELAY_DELIVERY_TIMEOUT_S": "5",
                "LEADRELAY_DELIVERY_LEASE_S": "6",
                "LEADRELAY_DELIVERY_POLL_S": "0.05",
                "LEADRELAY_DELIVERY_CONCURRENCY": str(CONCURRENCY),
                "LEADRELAY_RETRY_BASE_S": "0.1",
                "LEADRELAY_RETRY_MAX_DELAY_S": "1",
                "LEADRELAY_RATE_LIMIT_PER_IP": "1000000/minute",  # the test sends from one address at full speed
            }
        )
        server = Server(env, free_port(), tmp_path / "server.log")
        server.start()
        load = Load(server.url)
        try:
            load.start()
            # Kill in the middle: events still arriving, deliveries under way at every vendor.
            wait_until(
                lambda: len(load.acknowledged) >= EVENTS // 3 and min(v.count for v in (vendors.dub, vendors.pimms, vendors.reshape)) >= 100,
                "the load to be well under way",
            )
            server.kill()
            acknowledged_at_kill = len(load.acknowledged)
            delivered_at_kill = {name: getattr(vendors, name).count for name in ("dub", "pimms", "reshape")}
            server.start()
            load.join(timeout=WAIT_S)
            assert not load.is_alive()
            assert load.acknowledged == set(range(EVENTS))

            expected = {f"load{n}@example.com" for n in range(EVENTS)}
            keys: dict[str, Callable[[], list[str]]] = {
                "dub": lambda: [b["customerExternalId"] for b in vendors.dub.accepted],
                "pimms": lambda: [b["externalId"] for b in vendors.pimms.accepted],
                "reshape": lambda: [b["user"]["email"][0] for b in vendors.reshape.accepted],
            }
            for name, received in keys.items():
                wait_until(lambda: set(received()) >= expected, f"every acknowledged event at {name}")
            wait_until(lambda: server_settled(server.url), "the server to record every delivery")
        finally:
            server.stop()

        counts = {name: repeats(received()) for name, received in keys.items()}
        print(
            f"\nSIGKILL after {acknowledged_at_kill} acknowledged events and {delivered_at_kill} requests per vendor; "
            f"after the restart every one of the {EVENTS} events reached every vendor; repeats per vendor: {counts} "
            f"(load retries: {load.errors})"
        )
        for name, received in keys.items():
            assert set(received()) == expected
        # Only what was in flight can be repeated: at most what one worker held for a destination.
        for name, count in counts.items():
            assert count <= PREFETCH * CONCURRENCY, (name, count)


def server_settled(url: str) -> bool:
    """Every delivery recorded: delivered, or deduplicated (a request in flight at the kill, which Dub and
    PIMMS had recorded, is answered `link: null` when it is sent again)."""
    health = httpx.get(f"{url}/healthz", timeout=5).json()
    final = ("delivered", "deduplicated")
    return all(
        set(d["deliveries"]) <= set(final) and sum(d["deliveries"].get(state, 0) for state in final) == EVENTS
        for d in health["destinations"].values()
        if d["state"] == "on"
    )
