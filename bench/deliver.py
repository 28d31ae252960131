"""Delivery throughput: the worker draining the outbox versus a plain loop of the same requests, in one run.

A fake Dub (leadrelay.sandbox, answering at once, not recording) runs in its own
uvicorn process. The same N events are sent twice with the same HTTP client
(one httpx.AsyncClient, `delivery_concurrency` requests at a time):

1. plain loop: the prepared requests, straight from memory, no database;
2. worker: stored in a SQLite outbox first (not timed), then claimed, sent and
   recorded by leadrelay's Worker until none is pending.

Then a backlog of --backlog events drains through the worker while its RSS is
printed at intervals (memory must stay flat).

With `--database-url postgresql://...`, --events deliveries are then drained from a
PostgreSQL outbox (a schema of its own, dropped afterwards) by 1, 2 and 4 `leadrelay
worker` processes together (`--processes 1,2,4`), each as an operator runs it: the
outbox is filled first, due later, and made due at once when every worker is up.
Prints deliveries/s for each count, and the CPU time each side used per delivery
(the workers, the fake, and every PostgreSQL process on the machine), which says
what the machine ran out of.

    .venv/bin/python bench/deliver.py [--events 5000] [--rounds 3] [--backlog 100000] [--concurrency 8]
                                      [--database-url postgresql://user@host/db] [--processes 1,2,4]

Prints deliveries/s for both, the CPU time this process spent on each (steadier than a rate on a shared
machine), the ratio worker/plain (target >= 0.8), and RSS over the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
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
from tests.support.postgres import postgres_schema_url  # noqa: E402

KEY = "dub_bench_key"

FAKE = textwrap.dedent(
    """
    import sys, uvicorn
    from leadrelay.sandbox.vendors import FakeDub
    uvicorn.run(FakeDub(credential=sys.argv[2], record=False), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc); 0 for one that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """CPU time of every process named postgres on this machine (the server the workers share, and whatever
    else uses it: on a shared machine, indicative only)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def pending(store: SqlStore) -> int:
    return sum(row.get("pending", 0) for row in store.delivery_counts().values())


def worker_processes(base: str, url: str, count: int, events: int, concurrency: int, fake_pid: int) -> dict[str, float]:
    """`count` `leadrelay worker` processes drain `events` Dub deliveries from a fresh outbox at `url`:
    deliveries/s, and CPU seconds per delivery of the workers, the fake and PostgreSQL."""
    store = open_store(url)
    store.setup()
    fill(store, events)
    later = time.time() + 3600
    with store._transaction():  # due in an hour: nothing is sent while the workers start
        store._run("UPDATE deliveries SET next_attempt_at = ?", (later,))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update(
        LEADRELAY_DATABASE_URL=url,
        LEADRELAY_DUB_API_KEY=KEY,
        LEADRELAY_DUB_BASE_URL=base,
        LEADRELAY_DUB_RATE_PER_MINUTE="0",  # not paced: this measures the workers themselves
        LEADRELAY_DELIVERY_CONCURRENCY=str(concurrency),
        LEADRELAY_DELIVERY_POLL_S="0.05",
    )
    with tempfile.TemporaryDirectory(prefix="leadrelay-workers-") as logs:
        procs = []
        for n in range(count):
            log = Path(logs) / f"worker{n}.log"
            with open(log, "wb") as out:
                procs.append((subprocess.Popen([sys.executable, "-m", "leadrelay", "worker", "--log-level", "warning"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log))
        try:
            for proc, log in procs:
                while "leadrelay worker " not in log.read_text():
                    if proc.poll() is not None:
                        raise SystemExit(f"a worker exited: {log.read_text()[-2000:]}")
                    time.sleep(0.05)
            time.sleep(1.0)  # each has started its lanes and polls
            cpu_before = [cpu_seconds(proc.pid) for proc, _ in procs], cpu_seconds(fake_pid), postgres_cpu()
            start = time.perf_counter()
            with store._transaction():
                store._run("UPDATE deliveries SET next_attempt_at = ?", (time.time(),))
            while pending(store):
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            workers_cpu = sum(cpu_seconds(proc.pid) - before for (proc, _), before in zip(procs, cpu_before[0]))
            fake_cpu, pg_cpu = cpu_seconds(fake_pid) - cpu_before[1], postgres_cpu() - cpu_before[2]
        finally:
            for proc, _ in procs:
                proc.send_signal(signal.SIGTERM)
            for proc, _ in procs:
                proc.wait(timeout=30)
    counts = store.delivery_counts().get("dub", {})
    store.close()
    if counts.get("delivered", 0) != events:
        raise SystemExit(f"not every delivery was delivered: {counts}")
    return {
        "rate": events / elapsed,
        "workers_us": workers_cpu / events * 1e6,
        "fake_us": fake_cpu / events * 1e6,
        "postgres_us": pg_cpu / events * 1e6,
    }


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


async def plain_loop(settings: Settings, client, batch: list[LeadEvent]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The same requests, `delivery_concurrency` at a time, no outbox: requests per second, and this process's
    CPU microseconds per request."""
    dub = DubDestination(settings)
    prepared = iter([dub.prepare(e) for e in batch])

    async def sender() -> None:
        for out in prepared:
            response = await client.request(out.method, out.url, json=out.json, headers=out.headers)
            assert response.status_code == 200, response.text

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(sender() for _ in range(settings.delivery_concurrency)))
    return len(batch) / (time.perf_counter() - start), (time.process_time() - cpu) / len(batch) * 1e6


async def drain(settings: Settings, store: SqlStore, client, total: int, report_every: float = 0.0) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Run a Worker until nothing is pending: deliveries per second, and this process's CPU microseconds per
    delivery, its store's threads included (RSS printed every `report_every` s)."""
    worker = Worker(settings, store, client=client)
    start, cpu = time.perf_counter(), time.process_time()
    last_report = start
    await worker.start()
    while await asyncio.to_thread(store.next_due_at) is not None:
        await asyncio.sleep(0.2)
        now = time.perf_counter()
        if report_every and now - last_report >= report_every:
            last_report = now
            print(f"    t={now - start:6.1f}s  delivered={worker.sent:7d}/{total}  rss={rss_mb():6.1f} MB", flush=True)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    await worker.stop()
    assert worker.sent == total, (worker.sent, total)
    return total / elapsed, used / total * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", metavar="URL", help="also drain a PostgreSQL outbox with worker processes")
    parser.add_argument("--processes", default="1,2,4", help="how many worker processes, each count in turn (default: 1,2,4)")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]

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
        plains: list[tuple[float, float]] = []
        workers: list[tuple[float, float]] = []
        for round_ in range(1, args.rounds + 1):
            # Alternate, so that a busy neighbour on the machine slows both sides alike.
            plains.append(await plain_loop(settings, client, events(args.events)))
            await asyncio.to_thread(fill, store, args.events)
            workers.append(await drain(settings, store, client, args.events))
            (p_rate, p_cpu), (w_rate, w_cpu) = plains[-1], workers[-1]
            print(
                f"  round {round_}: plain loop {p_rate:6.0f}/s ({p_cpu:4.0f} µs CPU each)   worker {w_rate:6.0f}/s"
                f" ({w_cpu:4.0f} µs CPU each)   ratio {w_rate / p_rate:.2f}   (load {load()})"
            )
        plain, outbox = statistics.median(r for r, _ in plains), statistics.median(r for r, _ in workers)
        plain_cpu, outbox_cpu = statistics.median(c for _, c in plains), statistics.median(c for _, c in workers)
        print(f"plain loop : {plain:8.0f} requests/s   {plain_cpu:5.0f} µs CPU a request (medians of {args.rounds} rounds of {args.events}, no outbox)")
        print(f"worker     : {outbox:8.0f} deliveries/s {outbox_cpu:5.0f} µs CPU a delivery (medians; claimed from SQLite, sent, recorded)")
        print(f"ratio      : {outbox / plain:8.2f}  (target >= 0.8)")

        if args.backlog:
            print(f"draining a backlog of {args.backlog} events (RSS before filling: {rss_mb():.1f} MB)")
            await asyncio.to_thread(fill, store, args.backlog)
            print(f"    filled;  rss={rss_mb():6.1f} MB")
            rate, _ = await drain(settings, store, client, args.backlog, report_every=5.0)
            print(f"backlog    : {rate:8.0f} deliveries/s; RSS after: {rss_mb():.1f} MB")
        await client.aclose()
        store.close()

        if args.database_url:
            print(f"PostgreSQL outbox, {args.events} deliveries, `leadrelay worker` processes of concurrency {args.concurrency}:")
            by_count: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
            for round_ in range(1, args.rounds + 1):
                for n in counts:
                    with postgres_schema_url(args.database_url, prefix="bench") as url:
                        r = await asyncio.to_thread(worker_processes, base, url, n, args.events, args.concurrency, fake.pid)
                    by_count[n].append(r)
                    print(
                        f"  round {round_}: {n} worker(s) {r['rate']:6.0f} deliveries/s   CPU per delivery: workers {r['workers_us']:4.0f} µs, "
                        f"fake {r['fake_us']:4.0f} µs, postgres {r['postgres_us']:4.0f} µs   (load {load()})"
                    )
            for n in counts:
                rate = statistics.median(r["rate"] for r in by_count[n])
                print(f"{n} worker process(es): {rate:8.0f} deliveries/s (median of {args.rounds})")
    finally:
        fake.terminate()
        fake.wait()
        tmp.cleanup()


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes): figures measured under load are indicative only."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    asyncio.run(main())
