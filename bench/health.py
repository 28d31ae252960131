"""/healthz and /readyz on a store of a million deliveries: their time per call, next to the GROUP BY they replaced.

A SQLite store (or PostgreSQL with --postgres URL) is filled with --deliveries rows (four destinations,
mostly delivered, some waiting and dead, a quarter as many events) by plain SQL, in one transaction;
the delivery counts are then counted once, as an upgrade counts them. Then, in-process through the app
(Starlette, its thread hop included, no network):

1. the GROUP BY over every delivery that /healthz ran before (store.recount_deliveries);
2. GET /healthz and GET /readyz, --calls times each.

    .venv/bin/python bench/health.py [--deliveries 1000000] [--calls 200] [--postgres URL]

Prints the median and p99 of each, in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadrelay.app import create_app  # noqa: E402
from leadrelay.config import load_settings  # noqa: E402
from leadrelay.store import SqlStore, open_store  # noqa: E402
from leadrelay.store.tallies import RECOUNT  # noqa: E402

DESTINATIONS = ("dub", "pimms", "reshape", "webhook")
VENDORS = {
    "dub_api_key": "dub_bench",
    "pimms_api_key": "pimms_bench",
    "reshape_base_url": "http://127.0.0.1:9",
    "reshape_script_id": "BENCH123",
    "reshape_access_token": "bench",
    "webhook_url": "http://127.0.0.1:9/hook",
    "webhook_secret": "whsec_" + "QkVOQ0hCRU5DSEJFTkNIQkVOQ0hCRU5DSEJFTkNI",
}


def fill(store: SqlStore, deliveries: int) -> None:
    """`deliveries` rows over len(DESTINATIONS) destinations: 1 in 1000 waiting, 1 in 500 dead, the rest delivered."""
    events = deliveries // len(DESTINATIONS)
    now = time.time()
    conn = store._conn()
    cur = conn.cursor()
    sql = store.backend.sql
    step = 10_000
    for start in range(0, events, step):
        rows = [(f"e{n:09d}", "croct", "leadGenerated", f"v{n}", now - (events - n), "{}") for n in range(start, min(events, start + step))]
        cur.executemany(sql("INSERT INTO events (id, dialect, name, visitor_id, received_at, body) VALUES (?, ?, ?, ?, ?, ?)"), rows)
        out = []
        for event_id, *_, at, _ in rows:
            n = int(event_id[1:])
            for d in DESTINATIONS:
                state = "pending" if n % 1000 == 0 else "dead" if n % 500 == 1 else "delivered"
                out.append((event_id, d, state, 1, at, at, at, at if state == "delivered" else None))
        cur.executemany(
            sql(
                "INSERT INTO deliveries (event_id, destination, state, attempts, next_attempt_at, created_at, updated_at,"
                " delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            out,
        )
    cur.execute("DELETE FROM delivery_tallies")
    cur.execute(RECOUNT)
    store._end(commit=True)  # and the connection goes back to the pool, where there is one


def timed(fn: object, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return times


async def timed_get(client: httpx.AsyncClient, path: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code in (200, 503), response.text
    return times


def line(name: str, times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{name:32} median {statistics.median(times):8.2f} ms   p99 {p99:8.2f} ms   ({len(times)} calls)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database (its tables are created, and left)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{tmp}/bench.db"
        store = open_store(url)
        store.setup()
        started = time.perf_counter()
        fill(store, args.deliveries)
        print(f"filled {store.count('deliveries'):,} deliveries in {time.perf_counter() - started:.1f} s ({store.backend.name})")
        settings = load_settings(database_url=url, worker=False, demo=False, **VENDORS)
        app = create_app(settings, store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            print(line("GROUP BY every delivery (before)", timed(store.recount_deliveries, max(3, args.calls // 20))))
            await timed_get(client, "/healthz", 5)  # warm
            print(line("GET /readyz", await timed_get(client, "/readyz", args.calls)))
            print(line("GET /healthz", await timed_get(client, "/healthz", args.calls)))
        store.close()


if __name__ == "__main__":
    asyncio.run(main())
