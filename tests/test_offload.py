"""Work that grows with an event's size leaves the event loop when the event is large (leadrelay.offload).

How long the work takes is bench/stall.py's business; these tests check where it runs:
a small beacon is judged, read, prepared and encoded on the loop's own thread, a large
one on the thread kept for heavy work, and both get the same treatment otherwise.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

import leadrelay.store.outbox
import leadrelay.worker
from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.dialects.reshape import ReshapeDialect
from leadrelay.offload import INLINE_BYTES
from leadrelay.store import SqlStore
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead, states

HEAVY = "leadrelay-heavy"


def spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[str]:
    """Record the name of the thread each call of owner.name runs on."""
    threads: list[str] = []
    original: Callable[..., Any] = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return threads


def reshape_beacon(properties: int) -> bytes:
    event = {"name": "signup", "properties": {f"p{i}": "x" for i in range(properties)}}
    return json.dumps({"events": [{"id": f"o-{uuid.uuid4().hex}", "dialect": "reshape", "payload": {"event": event}}]}).encode()


def test_a_large_batch_is_judged_off_the_loop_and_a_small_one_on_it(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = spy(monkeypatch, ReshapeDialect, "parse")
    small, large = reshape_beacon(1), reshape_beacon(1000)
    assert len(small) <= INLINE_BYTES < len(large)
    with TestClient(create_app(make_settings(worker=False))) as client:
        for body in (small, large):
            response = client.post("/lr/e", content=body, headers={"Content-Type": "text/plain"})
            assert response.json()["results"][0]["status"] == "accepted"
        refused = client.post("/lr/e", content=large[:-3], headers={"Content-Type": "text/plain"})
    assert refused.status_code == 400 and "invalid JSON" in refused.json()["error"]["message"]  # raised there, answered here
    loop, heavy = threads
    assert not loop.startswith(HEAVY)
    assert heavy.startswith(HEAVY)


async def test_the_worker_reads_prepares_and_encodes_a_large_event_off_the_loop(
    store: SqlStore, delivery_settings: Callable[..., Settings], vendors: Vendors, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = spy(monkeypatch, leadrelay.store.outbox, "load_stored")
    prepares = spy(monkeypatch, leadrelay.worker, "_prepared")  # prepare, then encode
    s = delivery_settings()
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    small = (set(reads), set(prepares))
    reads.clear()
    prepares.clear()
    large = lead(2)
    large["payload"]["lead"]["custom"] = {f"a{i}": ["x" * 10] * 30 for i in range(10)}  # Croct's limits: 10 of 30
    assert len(json.dumps(large)) > INLINE_BYTES
    enqueue(store, s, [large])
    await deliver_all(s, store)
    assert states(store) == {name: {"delivered": 2} for name in ("dub", "pimms", "reshape")}
    assert vendors.reshape.accepted[-1]["user"]["properties"]["a9"] == ["x" * 10] * 30
    assert all(not name.startswith(HEAVY) for name in small[0] | small[1]), small
    assert reads and prepares and all(name.startswith(HEAVY) for name in reads + prepares), (reads, prepares)
