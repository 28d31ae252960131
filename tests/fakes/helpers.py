"""Helpers shared by the delivery tests: fixtures for the fakes and the webhook receiver, events, and waiting for the outbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Callable, Iterator

import httpx
import pytest

from leadrelay.arrival import event_of_arrival
from leadrelay.config import Settings
from leadrelay.destinations import Destination
from leadrelay.event import LeadEvent
from leadrelay.routing import Router
from leadrelay.store import SqlStore, open_store
from leadrelay.worker import Worker
from tests.fakes import Receiver, Vendors
from tests.support.arrivals import request_seen, routed

FAST = {
    "retry_base_s": 0.05,
    "retry_max_delay_s": 0.2,
    "delivery_poll_s": 0.05,
    "delivery_timeout_s": 5.0,
    "delivery_lease_s": 10.0,
}


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    with Vendors() as v:
        yield v


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The site's own webhook receiver on loopback: a fake that takes only requests signed with the secret."""
    with Receiver() as r:
        yield r


@pytest.fixture
def delivery_settings(make_settings: Any, vendors: Vendors) -> Callable[..., Settings]:
    """Settings pointing at the fakes, with fast retries; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        return make_settings(**{**vendors.settings(), **FAST, **overrides})

    return make


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    s = open_store(db_url)
    s.setup()
    yield s
    s.close()


def lead(n: int = 0) -> dict[str, Any]:
    """A croct leadGenerated envelope as the snippet sends it, with both click ids."""
    return {
        "id": f"evt-{n}-{uuid.uuid4().hex[:8]}",
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": {
            "leadId": f"lead-{n}",
            "currency": "USD",
            "value": 100,
            "lead": {"firstName": "Carol", "lastName": "Doe", "email": f"carol{n}@example.com"},
        },
        "context": {"url": "https://shop.example/thanks"},
        "click_ids": {"dub": f"dubclick{n}", "pimms": f"pimmsclick{n}"},
    }


def lead_event(n: int = 0) -> LeadEvent:
    """The event of `lead(n)` as a delivery reads it: mapped and enriched as it is read from the store."""
    return event_of_arrival(lead(n), request_seen())


def enqueue(store: SqlStore, settings: Settings, envelopes: list[dict[str, Any]]) -> list[LeadEvent]:
    """Store envelopes as the collector does, with the deliveries its router picks; their events as deliveries read them."""
    router = Router(settings)
    rows = [routed(envelope, router) for envelope in envelopes]
    store.write_intake(rows)
    events: list[LeadEvent] = []
    for row in rows:
        event = store.get_event(row.id)
        assert event is not None, f"{row.id} was not stored"
        events.append(event)
    return events


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until predicate() is truthy (its value is returned); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


def settled(store: SqlStore) -> bool:
    """No delivery is pending any more."""
    return not any(states.get("pending") for states in store.delivery_counts().values())


def states(store: SqlStore) -> dict[str, dict[str, int]]:
    return store.delivery_counts()


async def deliver_all(settings: Settings, store: SqlStore, **kwargs: Any) -> Worker:
    """Run a worker until no delivery is pending, then stop it; the worker, for its counters."""
    worker = Worker(settings, store, **kwargs)
    await worker.start()
    try:
        await wait_for(lambda: settled(store), what="every delivery to settle")
    finally:
        await worker.stop()
    return worker


def send(fake: Any, destination: Destination, event: LeadEvent) -> httpx.Response:
    """What the fake vendor answers to the request the destination prepares, sent as the worker sends it."""
    out = destination.prepare(event)
    path = httpx.URL(out.url)
    transport = httpx.ASGITransport(app=fake)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://vendor.test") as client:
            return await client.post(path.raw_path.decode(), json=out.json, headers=out.headers)

    return asyncio.run(go())
