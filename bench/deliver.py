"""Delivery throughput: the worker draining the outbox versus a plain loop of the same requests, in one run.

A fake Dub (tests/fakes, answering at once, not recording) runs in its own
uvicorn process. The same N events are sent twice with the same HTTP client
(one httpx.AsyncClient, `delivery_concurrency` requests at a time):

1. plain loop: the prepared requests, straight from memory, no database;
2. worker: stored in a SQLite outbox first (not timed), then claimed, sent and
   recorded by leadrelay's Worker until none is pending.

Then a backlog of --backlog events drains through the worker while its RSS is
printed at intervals (memory must stay flat).

    .venv/bin/python bench/deliver.py [--events 5000] [--rounds 3] [--backlog 100000] [--concurrency 8]

Prints deliveries/s for both, the ratio worker/plain (target >= 0.8), and RSS over the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadrelay.arrival import Seen, event_of_arrival  # noqa: E402
from leadrelay.config import Settings, load_settings  # noqa: E402
from leadrelay.destinations.dub import DubDestination  # noqa: E402
from leadrelay.event import LeadEvent  # noqa: E402
from leadrelay.store import SqlStore, open_store  # noqa: E402
from leadrelay.worker import Worker, new_client  # noqa: E402
from tests.support.arrivals import accepted, request_seen  # noqa: E402 - the rows the collector writes

KEY = "dub_bench_key"

FAKE = textwrap.dedent(
    """
    import sys, uvicorn
    from tests.fakes.vendors import FakeDub
    uvicorn.run(FakeDub(credential=sys.argv[2], record=False), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def arrivals(count: int) -> list[tuple[dict[str, Any], Seen]]:
    """`count` croct leadGenerated beacons as the collector stores them: envelope and what the server saw."""
    seen = request_seen()
    batch = uuid.uuid4().hex[:8]  # each call's leads are other customers: Dub would deduplicate a repeated one
    return [
        (
            {
                "id": str(uuid.uuid4()),
                "dialect": "croct",
                "type": "leadGenerated",
                "payload": {
                    "leadId": f"lead-{i}",
                    "currency": "USD",
                    "value": 100,
                    "lead": {"firstName": "Carol", "lastName": "Doe", "email": f"carol{i}.{batch}@example.com"},
                },
                "click_ids": {"dub": f"click{i}"},
            },
            seen,
        )
        for i in range(count)
    ]


def events(count: int) -> list[LeadEvent]:
    """The canonical events of `arrivals(count)`: what the worker reads back."""
    return [event_of_arrival(envelope, seen) for envelope, seen in arrivals(count)]


def fill(store: SqlStore, count: int, chunk: int = 2000) -> None:
    """Write `count` beacons as the collector does, a Dub delivery each, in group-commit-sized transactions."""
    done = 0
    while done < count:
        n = min(chunk, count - done)
        store.write_intake([accepted(envelope, ["dub"], seen) for envelope, seen in arrivals(n)])
        done += n


async def plain_loop(settings: Settings, client, batch: list[LeadEvent]) -> float:  # type: ignore[no-untyped-def]
    """The same requests, `delivery_concurrency` at a time, no outbox: deliveries per second."""
    dub = DubDestination(settings)
    prepared = iter([dub.prepare(e) for e in batch])

    async def sender() -> None:
        for out in prepared:
            response = await client.request(out.method, out.url, json=out.json, headers=out.headers)
            assert response.status_code == 200, response.text

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(settings.delivery_concurrency)))
    return len(batch) / (time.perf_counter() - start)


async def drain(settings: Settings, store: SqlStore, client, total: int, report_every: float = 0.0) -> float:  # type: ignore[no-untyped-def]
    """Run a Worker until nothing is pending: deliveries per second (RSS printed every `report_every` s)."""
    worker = Worker(settings, store, client=client)
    start = time.perf_counter()
    last_report = start
    await worker.start()
    while await asyncio.to_thread(store.next_due_at) is not None:
        await asyncio.sleep(0.2)
        now = time.perf_counter()
        if report_every and now - last_report >= report_every:
            last_report = now
            print(f"    t={now - start:6.1f}s  delivered={worker.sent:7d}/{total}  rss={rss_mb():6.1f} MB", flush=True)
    elapsed = time.perf_counter() - start
    await worker.stop()
    assert worker.sent == total, (worker.sent, total)
    return total / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    port = free_port()
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(port), KEY], cwd=ROOT)
    tmp = tempfile.TemporaryDirectory(prefix="leadrelay-bench-")
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (404 or 405): up
            except OSError:
                time.sleep(0.1)
        settings = load_settings(
            database_url=f"sqlite:///{tmp.name}/bench.db",
            dub_api_key=KEY,
            dub_base_url=base,
            dub_rate_per_minute=0,  # not paced: this measures the worker itself (bench/pacing.py measures pacing)
            delivery_concurrency=args.concurrency,
            delivery_poll_s=0.05,
        )
        store = open_store(settings.database_url)
        store.setup()
        client = new_client(settings, 1)
        print(f"fake Dub on {base}; concurrency {args.concurrency}; {os.cpu_count()} CPUs")

        await plain_loop(settings, client, events(500))  # warm up connections and the fake
        plains: list[float] = []
        workers: list[float] = []
        for round_ in range(1, args.rounds + 1):
            # Alternate, so that a busy neighbour on the machine slows both sides alike.
            plains.append(await plain_loop(settings, client, events(args.events)))
            await asyncio.to_thread(fill, store, args.events)
            workers.append(await drain(settings, store, client, args.events))
            print(f"  round {round_}: plain loop {plains[-1]:6.0f}/s   worker {workers[-1]:6.0f}/s   ratio {workers[-1] / plains[-1]:.2f}")
        plain, outbox = statistics.median(plains), statistics.median(workers)
        print(f"plain loop : {plain:8.0f} requests/s   (median of {args.rounds} rounds of {args.events}, no outbox)")
        print(f"worker     : {outbox:8.0f} deliveries/s (median; claimed from SQLite, sent, recorded)")
        print(f"ratio      : {outbox / plain:8.2f}  (target >= 0.8)")

        if args.backlog:
            print(f"draining a backlog of {args.backlog} events (RSS before filling: {rss_mb():.1f} MB)")
            await asyncio.to_thread(fill, store, args.backlog)
            print(f"    filled;  rss={rss_mb():6.1f} MB")
            rate = await drain(settings, store, client, args.backlog, report_every=5.0)
            print(f"backlog    : {rate:8.0f} deliveries/s; RSS after: {rss_mb():.1f} MB")
        await client.aclose()
        store.close()
    finally:
        fake.terminate()
        fake.wait()
        tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
