"""/healthz and /readyz: what they say, and each readiness check failing on its own (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Callable, Iterator

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.store import Finish, SqlStore
from tests.support.arrivals import accepted
from tests.test_erasure import croct

Make = Callable[..., Settings]
ON = {"dub_api_key": "dub_probe_key", "pimms_api_key": "pimms_probe_key"}


@pytest.fixture
def probe(both_stores: SqlStore, make_settings: Make) -> Iterator[Callable[..., TestClient]]:
    """A client of an app (no worker) on the test's store: probe(**settings)."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = make_settings(worker=False, **{**ON, **overrides})
        client = TestClient(create_app(settings, both_stores))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_healthz_counts_each_destinations_deliveries_and_their_wait(probe: Callable[..., TestClient], both_stores: SqlStore, clock: Any) -> None:
    client = probe()
    store = both_stores
    store.write_intake([accepted(croct(f"h{i}@example.com"), ["dub", "pimms"]) for i in range(3)])
    [claim, *_] = store.claim("w", limit=1, lease_s=30, destinations=["dub"])
    store.finish_many("w", [Finish(claim, "delivered", 200, None)])
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["status"] == "ok"
    dub, pimms = body["destinations"]["dub"], body["destinations"]["pimms"]
    assert dub["deliveries"] == {"pending": 2, "delivered": 1} and pimms["deliveries"] == {"pending": 3}
    assert dub["healthy"] is True and dub["state"] == "on"
    assert abs(dub["oldest_waiting_s"] - (time.time() - clock.now)) < 60  # scheduled at the store's (fake) time
    assert "oldest_waiting_s" not in body["destinations"]["reshape"]
    assert body["destinations"]["reshape"]["state"].startswith("off")


def test_readyz_is_ready_with_every_check_passing(probe: Callable[..., TestClient], both_stores: SqlStore, clock: Any) -> None:
    client = probe()
    clock.now = time.time()
    both_stores.write_intake([accepted(croct("r@example.com"), ["dub"])])
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ready"] is True and body["failed"] == []
    assert body["checks"]["store"] == {"ok": True} and body["checks"]["credentials"] == {"ok": True}
    assert body["checks"]["backlog"]["ok"] is True and body["checks"]["backlog"]["max_overdue_s"] == 900


def test_readyz_fails_when_a_vendor_refused_the_credentials(probe: Callable[..., TestClient], both_stores: SqlStore) -> None:
    client = probe()
    both_stores.set_health("pimms", False, 500, "HTTP 500 oops")  # a vendor's own failure is not a credentials one
    assert client.get("/readyz").status_code == 200
    both_stores.set_health("dub", False, 401, "HTTP 401 unauthorized: invalid API key")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["failed"] == ["credentials"]
    assert body["checks"]["credentials"] == {"ok": False, "refused": {"dub": "HTTP 401 unauthorized: invalid API key"}}
    assert client.get("/healthz").json()["status"] == "degraded"
    both_stores.set_health("dub", True, 200)
    assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_a_delivery_is_overdue_too_long(probe: Callable[..., TestClient], both_stores: SqlStore, clock: Any) -> None:
    clock.now = time.time() - 1000  # due 1000 s ago, and not sent (no worker runs)
    both_stores.write_intake([accepted(croct("late@example.com"), ["dub"])])
    answer = probe().get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failed"] == ["backlog"]
    backlog = answer.json()["checks"]["backlog"]
    assert backlog["ok"] is False and 999 < backlog["overdue_s"] < 1100
    assert probe(ready_max_overdue_s=2000).get("/readyz").status_code == 200
    # A retry due later is not overdue: a vendor that is down delays nothing the workers could send.
    [claim] = both_stores.claim("w", limit=1, lease_s=30)
    both_stores.finish_many("w", [Finish(claim, "pending", 503, "down", next_attempt_at=time.time() + 600)])
    assert probe().get("/readyz").json()["checks"]["backlog"] == {"ok": True, "overdue_s": 0.0, "max_overdue_s": 900.0}


def test_readyz_fails_when_the_store_does_not_answer(
    probe: Callable[..., TestClient], both_stores: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = probe()

    def down() -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(both_stores, "overview", down)
    monkeypatch.setattr(both_stores, "is_failure", lambda exc: True)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"ready": False, "failed": ["store"], "checks": {"store": {"ok": False, "error": "the store cannot be read"}}}
    assert client.get("/healthz").status_code == 503
