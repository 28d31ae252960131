"""Several leadrelay processes on one PostgreSQL database, as the README's Deploy section lays them out.

- Instances that start at once on an empty database all set the schema up (one at a
  time, under an advisory lock) and serve.
- Two collectors (`leadrelay serve` with `worker = false`) take thousands of leads
  while three `leadrelay worker` processes deliver them to a strict fake Dub; one worker
  is killed with SIGKILL midway. Every lead reaches Dub, and the only leads Dub gets
  twice are deliveries the killed worker had claimed and not recorded (at-least-once:
  what was in flight, bounded by what one worker holds at once).
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import psycopg
import pytest

from leadrelay.config import load_settings
from leadrelay.sandbox.credentials import DUB_KEY
from leadrelay.sandbox.live import LiveServer, free_port
from leadrelay.sandbox.vendors import FAKE_PACE, FakeDub
from leadrelay.store import open_store, store_of
from leadrelay.store.postgres import SCHEMA_LOCK
from leadrelay.store.schema import SCHEMA_VERSION
from leadrelay.worker import PREFETCH
from tests.support.arrivals import accepted
from tests.support.keys import SERVER, SERVER_KEY
from tests.support.load import Load, envelope
from tests.support.postgres import needs_postgres, postgres_schema_url
from tests.support.processes import WAIT_S, Leadrelay, leadrelay_env, wait_until
from tests.support.waiting import wait_while_moving

pytestmark = needs_postgres

EVENTS = 3000
CONCURRENCY = 4  # per worker: each holds at most PREFETCH x CONCURRENCY claims
BATCH_SIZE = 20  # claimed at once


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_schema_url() as url:
        yield url


def one(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]  # type: ignore[index]


def test_stores_setting_up_one_empty_schema_at_once_all_succeed(database: str) -> None:
    """Eight processes' worth of set-ups, released together: without the lock, CREATE TABLE IF NOT EXISTS
    races (two pass the check, one fails on the catalogue) and schema_version gets a row each."""
    stores = [open_store(database) for _ in range(8)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def setup(store: Any) -> None:
        start.wait()
        try:
            store.setup()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=setup, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    assert one(database, "SELECT COUNT(*) FROM schema_version") == 1
    assert one(database, "SELECT version FROM schema_version") == SCHEMA_VERSION


def test_set_ups_in_other_schemas_do_not_wait_for_each_other(database: str) -> None:
    """The lock is keyed by schema: a set-up holding it in one schema leaves another schema's free."""
    with postgres_schema_url() as other:
        with psycopg.connect(database) as holder:
            holder.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(COALESCE(current_schema(), '')))",
                (SCHEMA_LOCK,),
            )  # held until this transaction ends, as a set-up under way in `database` holds it
            store = open_store(other)
            store.setup()  # would wait forever for the lock if it were one for the whole database
            store.close()
            waiting = open_store(database)
            done = threading.Event()
            thread = threading.Thread(target=lambda: (waiting.setup(), done.set()), daemon=True)
            thread.start()
            assert not done.wait(1.0)  # the same schema's set-up waits for the holder ...
            holder.rollback()
        thread.join(timeout=WAIT_S)
        assert done.is_set()  # ... and goes on once it is released
        waiting.close()


def test_a_process_holds_no_more_connections_than_its_pool_whatever_its_threads(database: str) -> None:
    name = f"leadrelay-pool-{uuid.uuid4().hex[:8]}"
    url = f"{database}&application_name={name}"
    settings = load_settings(database_url=url, database_pool_min_size=1, database_pool_max_size=2)
    store = store_of(settings)
    store.setup()
    seen: list[int] = []
    stop = threading.Event()

    def connections() -> None:
        with psycopg.connect(database, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = %s", (name,)).fetchone()
                seen.append(int(row[0]))  # type: ignore[index]
                time.sleep(0.005)

    def calls(n: int) -> None:
        for i in range(20):
            store.write_intake([accepted(envelope(1000 * n + i), ["dub"])])
            store.delivery_counts()

    watcher = threading.Thread(target=connections)
    watcher.start()
    threads = [threading.Thread(target=calls, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert store.count("events") == 12 * 20  # every thread's every call went through, two connections between them
    assert 1 <= max(seen) <= 2
    store.close()
    assert wait_until(lambda: one(database, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = %s", (name,)) == 0, "the pool to close")


def test_two_instances_start_at_once_on_an_empty_database(database: str, tmp_path: Path) -> None:
    env = leadrelay_env(database_url=database, demo="false", worker="false", server_keys=SERVER_KEY)
    servers = [Leadrelay.serve(env, free_port(), tmp_path / f"serve{n}.log") for n in range(2)]
    try:
        for server in servers:
            server.launch()  # both at once: neither waits for the other to be up
        for server in servers:
            server.wait_ready()
        for n, server in enumerate(servers):
            answer = httpx.post(f"{server.url}/lr/e", json={"events": [envelope(n)]}, headers=SERVER, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"][0]["status"] == "accepted"
    finally:
        for server in servers:
            server.stop()
    assert one(database, "SELECT COUNT(*) FROM events") == 2
    assert one(database, "SELECT COUNT(*) FROM schema_version") == 1


def test_collectors_and_workers_share_one_database_and_a_killed_worker_repeats_only_its_claims(
    database: str, tmp_path: Path
) -> None:
    dub = FakeDub(credential=DUB_KEY)
    with LiveServer(dub) as vendor:
        base = leadrelay_env(
            database_url=database,
            demo="false",
            server_keys=SERVER_KEY,
            dub_api_key=DUB_KEY,
            dub_base_url=vendor.url,
            dub_rate_per_minute=str(FAKE_PACE),
            delivery_timeout_s="5",
            delivery_lease_s="20",  # a live worker's claims outlast any request and its recording by far
            delivery_poll_s="0.05",
            delivery_concurrency=str(CONCURRENCY),
            delivery_batch_size=str(BATCH_SIZE),
            retry_base_s="0.1",
            retry_max_delay_s="1",
            rate_limit_per_ip="1000000/minute",  # the test sends from one address at full speed
        )
        collectors = [Leadrelay.serve({**base, "LEADRELAY_WORKER": "false"}, free_port(), tmp_path / f"c{n}.log") for n in range(2)]
        workers = [Leadrelay.worker(base, tmp_path / f"w{n}.log") for n in range(3)]
        victim = workers[0]
        try:
            for process in [*collectors, *workers]:
                process.start()
            load = Load([c.url for c in collectors], EVENTS)
            load.start()

            def victim_claims() -> int:
                return int(one(database, "SELECT COUNT(*) FROM deliveries WHERE claimed_by = %s", (victim.worker_id,)))

            # Midway: leads still arriving, Dub well under way, the victim holding claims.
            # Waits last while the work moves (a starved machine is slow, not stuck), and fail when it stops.
            wait_while_moving(
                lambda: (dub.count, len(load.acknowledged), victim_claims()),
                lambda s: s[0] >= EVENTS // 5 and s[1] < EVENTS and s[2] > 0,
                "the load to be under way",
            )
            victim.kill()
            # What the dead worker held: its leases run on for delivery_lease_s, so no one has taken them yet.
            with psycopg.connect(database) as conn:
                held = {
                    row[0]
                    for row in conn.execute(
                        "SELECT event_id FROM deliveries WHERE claimed_by = %s AND state = 'pending'", (victim.worker_id,)
                    )
                }
            wait_while_moving(lambda: len(load.acknowledged), lambda n: n == EVENTS or not load.is_alive(), "every lead to be acknowledged")
            load.join(timeout=WAIT_S)
            assert not load.is_alive()
            assert load.acknowledged == set(range(EVENTS))
            settled = "SELECT COUNT(*) FROM deliveries WHERE state IN ('delivered', 'deduplicated')"
            wait_while_moving(lambda: one(database, settled), lambda n: n == EVENTS, "every delivery to be recorded")
        finally:
            for process in [*collectors, *workers]:
                process.stop()

    received = collections.Counter(body["customerExternalId"] for body in dub.accepted)
    expected = {f"load{n}@example.com" for n in range(EVENTS)}
    assert set(received) == expected  # every lead reached Dub
    lead_of_event = {event_id: f"load{n}@example.com" for n, event_id in load.ids.items()}
    repeated = {lead for lead, count in received.items() if count > 1}
    print(f"\n{len(held)} claims held by the killed worker; leads Dub got twice: {len(repeated)}")
    assert all(count <= 2 for count in received.values())  # a lead is sent again at most once
    assert repeated <= {lead_of_event[event_id] for event_id in held}  # and only if the dead worker held it
    assert len(held) <= PREFETCH * CONCURRENCY  # which is at most what one worker's lane holds
    assert one(database, "SELECT COUNT(*) FROM deliveries WHERE state = 'deduplicated'") == len(repeated)
    for process in workers[1:] + collectors:
        assert "Traceback" not in process.log.read_text()
