"""The delivery worker against the fake vendors: delivers once, keeps answers, shares work, survives crashes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from typing import Any, Callable

import pytest

from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.event import LeadEvent
from leadrelay.sandbox.credentials import DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN
from leadrelay.sandbox.vendors import Fault
from leadrelay.store import DeliveryRow, Finish, SqlStore, open_store
from leadrelay.worker import Worker, backoff
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead, settled, states, wait_for
from tests.support.clock import FakeClock
from tests.support.postgres import needs_postgres, postgres_schema_url

Make = Callable[..., Settings]


async def test_every_event_reaches_every_vendor_once(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings()
    events = enqueue(store, s, [lead(i) for i in range(30)])
    await deliver_all(s, store)
    assert states(store) == {name: {"delivered": 30} for name in ("dub", "pimms", "reshape")}
    assert sorted(b["customerExternalId"] for b in vendors.dub.accepted) == sorted(e.customer.email for e in events)
    assert sorted(b["externalId"] for b in vendors.pimms.accepted) == sorted(e.customer.email for e in events)
    assert sorted(b["event"]["id"] for b in vendors.reshape.accepted) == sorted(e.source_id for e in events)
    assert (vendors.dub.count, vendors.pimms.count, vendors.reshape.count) == (30, 30, 30)


async def test_the_vendors_answer_is_kept(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings()
    [event] = enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    [row] = store.list_deliveries(destination="dub")
    assert row.state == "delivered" and row.last_status == 200 and row.attempts == 1
    assert row.response["click"] == {"id": event.click_ids.get("dub")}
    assert row.response["link"]["shortLink"] == "https://dub.sh/try"
    assert row.response["customer"]["externalId"] == event.customer.email


async def test_the_body_each_attempt_sent_is_kept_exactly_and_never_the_key(
    store: SqlStore,
    delivery_settings: Make,
    vendors: Vendors,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = delivery_settings()
    vendors.dub.script(Fault.error(503))  # Dub's first attempt fails: the retry's body is kept
    [event] = enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    fakes = {"dub": vendors.dub, "pimms": vendors.pimms, "reshape": vendors.reshape}
    for row in store.list_deliveries(state="delivered"):
        sent = fakes[row.destination].requests[-1]
        assert row.request is not None and row.request.encode() == sent.raw
        assert json.loads(row.request) == sent.body
    assert vendors.dub.requests[0].raw == vendors.dub.requests[1].raw  # the same body, attempt after attempt
    with sqlite3.connect(s.database_url.removeprefix("sqlite:///")) as conn:
        dump = "\n".join(conn.iterdump())
    for secret in (DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN):
        assert secret not in dump
    assert event.customer.email in dump  # (the bodies are there: this is the same dump)

    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    assert cli(["deliveries", "--state", "all", "--json"]) == 0
    shown = {row["destination"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert json.loads(shown["dub"]["request"])["customerExternalId"] == event.customer.email
    assert shown["reshape"]["request"].encode() == vendors.reshape.requests[-1].raw


def test_a_body_holding_a_key_is_kept_with_the_key_masked() -> None:
    from leadrelay.worker import sent_body

    assert sent_body(b'{"note":"dub_KEY"}', ["dub_KEY"]) == '{"note":"***"}'
    assert sent_body('{"name":"Zoë"}'.encode(), ["dub_KEY"]) == '{"name":"Zoë"}'


async def test_delivered_is_never_sent_again(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings()
    enqueue(store, s, [lead(i) for i in range(5)])
    await deliver_all(s, store)
    # A restart (a new worker on the same store) finds nothing to send.
    await deliver_all(s, store)
    assert vendors.dub.count == 5
    # A dead letter of another event is replayed: only that one is sent.
    vendors.dub.script(Fault.error(404))
    [other] = enqueue(store, s, [lead(99)])
    await deliver_all(s, store)
    assert store.list_deliveries(state="dead")[0].event_id == other.id
    assert store.replay(event_id=other.id) == 1
    assert store.replay() == 0  # delivered rows are not dead letters
    await deliver_all(s, store)
    assert vendors.dub.count == 5 + 2
    assert [b["customerExternalId"] for b in vendors.dub.accepted][-1] == other.customer.email


async def test_two_workers_share_the_outbox(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(delivery_concurrency=2)
    enqueue(store, s, [lead(i) for i in range(120)])
    a, b = Worker(s, store), Worker(s, store)
    await a.start()
    await b.start()
    await wait_for(lambda: settled(store))
    await a.stop()
    await b.stop()
    assert a.sent > 0 and b.sent > 0
    assert a.sent + b.sent == 3 * 120
    assert (vendors.dub.count, vendors.pimms.count, vendors.reshape.count) == (120, 120, 120)


async def test_a_crashed_workers_claims_expire_and_are_taken_again(
    db_url: str, clock: FakeClock, delivery_settings: Make, vendors: Vendors
) -> None:
    s = delivery_settings()
    store = open_store(db_url, clock)
    store.setup()
    try:
        enqueue(store, s, [lead(i) for i in range(4)])
        taken = store.claim("crashed-worker", limit=100, lease_s=60)
        assert len(taken) == 12  # the crashed worker holds them all; it will never finish them
        clock.advance(61)  # its lease runs out
        worker = await deliver_all(s, store)
    finally:
        store.close()
    assert worker.sent == 12
    assert (vendors.dub.count, vendors.pimms.count, vendors.reshape.count) == (4, 4, 4)


async def test_a_retry_falls_due_on_the_stores_clock(
    db_url: str, clock: FakeClock, delivery_settings: Make, vendors: Vendors
) -> None:
    """A failed attempt's retry is due on the store's clock: it waits while the store's time stands still,
    however long the wall clock runs, and is sent once that time moves past its due time."""
    s = delivery_settings(retry_base_s=60, retry_max_delay_s=60)  # the retry is due 30 to 60 s after the failure
    vendors.dub.script(Fault.error(503))
    store = open_store(db_url, clock)
    store.setup()
    worker = Worker(s, store)
    await worker.start()
    try:
        [first] = enqueue(store, s, [lead(1)])
        worker.wake()

        def dub(event: LeadEvent) -> DeliveryRow:
            [row] = store.list_deliveries(destination="dub", event_id=event.id)
            return row

        failed = await wait_for(lambda: dub(first).attempts == 1 and dub(first))
        assert (failed.state, failed.last_status) == ("pending", 503)
        assert clock.now + 30 <= failed.next_attempt_at <= clock.now + 60
        # While the store's time stands still the retry is not due: a lead stored after it goes out, it does not.
        [second] = enqueue(store, s, [lead(2)])
        worker.wake()
        await wait_for(lambda: dub(second).state == "delivered")
        assert (dub(first).state, dub(first).attempts, vendors.dub.count) == ("pending", 1, 2)
        clock.advance(60)
        worker.wake()
        retried = await wait_for(lambda: dub(first).state == "delivered" and dub(first))
    finally:
        await worker.stop()
        store.close()
    assert (retried.attempts, vendors.dub.count) == (2, 3)


async def test_the_retry_window_is_measured_on_the_stores_clock(
    db_url: str, clock: FakeClock, delivery_settings: Make, vendors: Vendors
) -> None:
    """A delivery is given up once it has had `max_attempts` and its first attempt is `retry_window_s` behind
    on the store's clock; until then it is retried, whatever the wall clock says."""
    s = delivery_settings(max_attempts=2, retry_window_s=3600, retry_base_s=60, retry_max_delay_s=60)
    vendors.dub.outage = Fault.error(503)
    store = open_store(db_url, clock)
    store.setup()
    worker = Worker(s, store)
    await worker.start()

    def dub_attempts(n: int) -> list[DeliveryRow]:
        return [row for row in store.list_deliveries(destination="dub") if row.attempts == n]

    try:
        enqueue(store, s, [lead(1)])
        worker.wake()
        await wait_for(lambda: dub_attempts(1))
        clock.advance(60)
        worker.wake()
        [second] = await wait_for(lambda: dub_attempts(2))
        assert second.state == "pending"  # two attempts, one minute apart: within the window
        clock.advance(3600)
        worker.wake()
        [third] = await wait_for(lambda: dub_attempts(3))
    finally:
        await worker.stop()
        store.close()
    assert third.state == "dead"
    assert third.last_error is not None and third.last_error.startswith("gave up after 3 attempts over 1.0 h")


async def test_a_stopped_worker_gives_its_claims_back(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(delivery_lease_s=600, delivery_concurrency=1)
    vendors.dub.outage = Fault.slow(0.3)
    enqueue(store, s, [lead(i) for i in range(10)])
    worker = Worker(s, store)
    await worker.start()
    await wait_for(lambda: vendors.dub.count >= 1)
    await worker.stop()
    vendors.dub.outage = None
    # Nothing is left leased for ten minutes: a new worker delivers the rest at once.
    await deliver_all(s, store)
    assert states(store)["dub"] == {"delivered": 10}


async def test_a_slow_vendor_does_not_hold_up_the_others(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(delivery_timeout_s=1.0, delivery_lease_s=30.0, delivery_concurrency=2)
    vendors.dub.outage = Fault.slow(3)
    enqueue(store, s, [lead(i) for i in range(40)])
    worker = Worker(s, store)
    await worker.start()
    try:
        await wait_for(lambda: states(store)["reshape"].get("delivered") == 40 and states(store)["pimms"].get("delivered") == 40)
        assert states(store)["dub"].get("delivered", 0) == 0
        vendors.dub.outage = None
    finally:
        await worker.stop()


async def test_unauthorized_marks_the_destination_unhealthy(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    from leadrelay.app import create_app
    from starlette.testclient import TestClient

    s = delivery_settings(dub_api_key="dub_revoked_key")
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    [row] = store.list_deliveries(destination="dub")
    assert (row.state, row.last_status, row.attempts) == ("dead", 401, 1)
    assert "dub_revoked_key" not in json.dumps(row.__dict__)
    with TestClient(create_app(delivery_settings(dub_api_key="dub_revoked_key", worker=False))) as client:
        health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["destinations"]["dub"]["healthy"] is False
    assert "unauthorized" in health["destinations"]["dub"]["problem"]
    assert health["destinations"]["pimms"]["healthy"] is True


async def test_secrets_never_reach_stored_errors_or_the_cli(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = delivery_settings()
    # A vendor that echoes the credentials it got in its error message.
    original = vendors.dub.answer

    def echo(request: Any, body: Any) -> Any:
        from leadrelay.sandbox.vendors import Invalid

        raise Invalid(400, "bad_request", f"rejected with {request.headers['authorization']}")

    vendors.dub.answer = echo  # type: ignore[method-assign]
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    vendors.dub.answer = original  # type: ignore[method-assign]
    [row] = store.list_deliveries(state="dead")
    assert row.last_error == "HTTP 400 bad_request: rejected with Bearer ***"
    for name, value in {k: v for k, v in vendors.env().items()}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    assert cli(["deliveries", "--state", "all", "--json"]) == 0
    assert cli(["deliveries"]) == 0
    assert cli(["check"]) == 0
    out = capsys.readouterr().out
    assert "rejected with Bearer ***" in out
    for secret in (DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN):
        assert secret not in out


async def test_a_key_echoed_json_escaped_never_reaches_stored_rows_or_the_cli(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PHP-style vendor writes the key it got back as `dub_live\\/SECRET\\/key` or `\\u0064ub_...`: the raw bytes match
    nothing, the decoded answer does."""
    from starlette.responses import Response

    key = "dub_live/SECRET/key"
    vendors.dub.credential = key
    s = delivery_settings(dub_api_key=key, pimms_api_key=None, reshape_access_token=None, delivery_concurrency=1)
    answers = iter(
        [
            (200, '{"click": {"id": "c1"}, "link": {"id": "l1"}, "customer": {}, "echo": "Bearer dub_live\\/SECRET\\/key"}'),
            (400, '{"error": {"code": "bad_request", "message": "rejected \\u0064ub_live\\/SECRET\\u002fkey"}}'),
        ]
    )

    def echo(request: Any, body: Any) -> Any:
        status, text = next(answers)
        return Response(text, status_code=status, media_type="application/json")

    vendors.dub.answer = echo  # type: ignore[method-assign]
    enqueue(store, s, [lead(1), lead(2)])
    await deliver_all(s, store)
    rows = store.list_deliveries(state=None)
    assert sorted(r.state for r in rows) == ["dead", "delivered"]
    stored = json.dumps([r.__dict__ for r in rows], ensure_ascii=False)
    assert "SECRET" not in stored and "Bearer ***" in stored and "rejected ***" in stored

    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    monkeypatch.setenv("LEADRELAY_DUB_API_KEY", key)
    assert cli(["deliveries", "--state", "all", "--json"]) == 0
    assert cli(["deliveries", "--state", "all"]) == 0
    out = capsys.readouterr().out
    assert "SECRET" not in out and "rejected ***" in out


async def test_the_cli_redacts_a_key_an_older_version_stored(
    store: SqlStore, delivery_settings: Make, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = delivery_settings()
    enqueue(store, s, [lead(1)])
    [claim, *_] = store.claim("old-worker", limit=10, lease_s=60, destinations=["dub"])
    store.finish_many("old-worker", [Finish(claim, "dead", 400, f"HTTP 400 bad key {DUB_KEY}", {"echo": DUB_KEY})])
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    monkeypatch.setenv("LEADRELAY_DUB_API_KEY", DUB_KEY)
    assert cli(["deliveries", "--json"]) == 0
    out = capsys.readouterr().out
    assert DUB_KEY not in out and '"echo": "***"' in out and "bad key ***" in out


async def test_replay_and_deliveries_commands(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = delivery_settings()
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    vendors.dub.outage = Fault.error(409)  # Dub refuses them: dead at once (tests/test_dedup.py: what a 404 does)
    events = enqueue(store, s, [lead(i) for i in range(3)])
    await deliver_all(s, store)
    assert cli(["deliveries"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all("dub" in line and "status=409" in line and "conflict: injected fault" in line for line in lines)
    assert cli(["replay"]) == 2  # says what to replay
    assert cli(["replay", "--event", events[0].id]) == 0
    assert cli(["replay", "--destination", "pimms"]) == 0
    assert capsys.readouterr().out.splitlines() == ["re-queued 1 dead-lettered deliveries", "re-queued 0 dead-lettered deliveries"]
    vendors.dub.outage = None
    await deliver_all(s, store)
    assert states(store)["dub"] == {"delivered": 1, "dead": 2}
    assert cli(["replay", "--all"]) == 0
    await deliver_all(s, store)
    assert states(store)["dub"] == {"delivered": 3}


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    delays = [backoff(n, base_s=1, max_s=60) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(60, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert backoff(1, base_s=1, max_s=60, retry_after=30) >= 30
    assert backoff(1, base_s=1, max_s=60, retry_after=94_670_000) == 60  # 3 years: the longest back-off, no more


def test_the_worker_command_delivers_and_stops_on_sigterm(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    s = delivery_settings()
    enqueue(store, s, [lead(i) for i in range(5)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update(vendors.env())
    env.update({"LEADRELAY_DATABASE_URL": s.database_url, "LEADRELAY_DELIVERY_POLL_S": "0.05"})
    proc = subprocess.Popen([sys.executable, "-m", "leadrelay", "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not settled(store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, output
    assert states(store) == {name: {"delivered": 5} for name in ("dub", "pimms", "reshape")}
    assert output.startswith("leadrelay worker w-")
    for secret in (DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN):
        assert secret not in output


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_postgres)])
async def test_postgres_outbox_two_workers_replay_and_health(_: None, delivery_settings: Make, vendors: Vendors) -> None:
    """The same outbox on PostgreSQL (rows claimed with SKIP LOCKED): shared work, dead letters, replay, health."""
    with postgres_schema_url() as url:
        pg = open_store(url)
        pg.setup()
        try:
            s = delivery_settings(database_url=url, delivery_concurrency=2)
            vendors.dub.script(Fault.error(401))
            enqueue(pg, s, [lead(i) for i in range(40)])
            a, b = Worker(s, pg), Worker(s, pg)
            await a.start()
            await b.start()
            await wait_for(lambda: settled(pg))
            await a.stop()
            await b.stop()
            assert pg.delivery_counts()["dub"] == {"delivered": 39, "dead": 1}
            assert (vendors.pimms.count, vendors.reshape.count) == (40, 40)
            assert pg.replay(destination="dub") == 1
            await deliver_all(s, pg)
            assert pg.delivery_counts() == {name: {"delivered": 40} for name in ("dub", "pimms", "reshape")}
            assert vendors.dub.count == 41
            pg.set_health("dub", False, 401, "unauthorized")
            assert pg.destination_health()["dub"]["healthy"] is False
        finally:
            pg.close()


def test_an_accepted_event_wakes_the_worker_in_the_same_process(delivery_settings: Make, vendors: Vendors) -> None:
    """The collector wakes the worker on commit: no wait for the next poll (set here to a minute)."""
    import time as clock

    from starlette.testclient import TestClient

    from leadrelay.app import create_app

    app = create_app(delivery_settings(delivery_poll_s=60))
    event = {"id": "wake-1", "dialect": "croct", "type": "leadGenerated", "payload": {"userId": "u-1", "leadId": "L-1"}}
    with TestClient(app) as client:
        client.get("/lr/c?dub_id=dubclickwake")  # the visitor landed through a Dub link
        assert client.post("/lr/e", json={"events": [event]}).json()["results"][0]["status"] == "accepted"
        deadline = clock.monotonic() + 20
        while vendors.dub.count == 0 and clock.monotonic() < deadline:
            clock.sleep(0.05)
    assert vendors.dub.count == 1
    assert vendors.dub.accepted[0]["clickId"] == "dubclickwake"


async def test_a_database_locked_by_another_process_does_not_stall_the_worker_loop(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer (a `replay`, a second worker) holds SQLite's lock: the worker's claim waits in a thread.

    Inline on the loop it would wait there for the whole busy timeout, and every
    request of the process with it (set to 5 s here so a regression fails fast).
    """
    monkeypatch.setattr("leadrelay.store.sqlite.LOCK_WAIT_S", 5.0)
    claims: list[tuple[str, str]] = []
    claim = store.claim_stored

    def spy(*args: Any) -> Any:
        try:
            result = claim(*args)
        except Exception as exc:
            claims.append((threading.current_thread().name, type(exc).__name__))
            raise
        claims.append((threading.current_thread().name, "claimed"))
        return result

    store.claim_stored = spy  # type: ignore[method-assign]
    s = delivery_settings(delivery_poll_s=60)
    worker = Worker(s, store)
    await worker.start()  # an empty outbox: the first claim finds nothing
    try:
        enqueue(store, s, [lead(1)])
        other = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        other.execute("BEGIN IMMEDIATE")
        try:
            claims.clear()
            worker.wake()
            for _ in range(20):  # the loop keeps turning while the claim waits for the lock
                await asyncio.sleep(0.01)
            assert vendors.dub.count == 0
        finally:
            other.commit()
            other.close()
        await wait_for(lambda: settled(store), what="the delivery once the lock is free")
    finally:
        await worker.stop()
    assert claims[0] == ("MainThread", "OperationalError")  # "database is locked", after the loop's short wait
    assert claims[1][0] != "MainThread" and claims[1][1] == "claimed"
    assert vendors.dub.count == 1
