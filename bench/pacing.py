"""Pacing: a backlog drains into a fake Dub that enforces a per-minute limit, with no 429 on the way.

A fake Dub (leadrelay.sandbox, not recording bodies) runs in its own uvicorn process with Dub's
limiter: `--limit` requests a minute for the key, counted as Dub's Upstash sliding window
counts them, every answer carrying X-RateLimit-Limit/Remaining/Reset, 429 over the limit.
`--events` beacons are stored in a SQLite outbox (not timed), then `--workers` Workers, each
with `dub_rate_per_minute = --rate`, deliver them until none is pending.

    .venv/bin/python bench/pacing.py [--events 100000] [--limit 600] [--rate 600] [--workers 1]

The defaults are the issue's numbers: 100,000 events at Dub's pro plan, 600 a minute, take
2.8 hours. Scaled runs keep the ratio: `--events 100000 --limit 60000 --rate 60000` (about
2 minutes), `--events 2000` (about 3.5 minutes at 600 a minute). With `--workers 2` each worker
paces at --rate, twice what the key allows: the vendor's headers have to slow them down.

Prints the rate reached (deliveries a minute), the 429s the fake answered (target: 0), how
often the vendor's headers made a lane wait, and the time taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deliver import KEY, fill, free_port  # noqa: E402
from leadrelay.config import load_settings  # noqa: E402
from leadrelay.store import open_store  # noqa: E402
from leadrelay.worker import Worker, new_client  # noqa: E402

FAKE = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route
    from leadrelay.sandbox.vendors import FakeDub

    fake = FakeDub(credential=sys.argv[2], record=False, rate_limit=int(sys.argv[3]))

    async def stats(request):
        counts = {"requests": fake.count, "rate_limited": fake.rate_limited, "recorded": fake.recorded_count}
        return JSONResponse(counts)

    app = Starlette(routes=[Route("/stats", stats), Mount("/", fake)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)


def fake_stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(base + "/stats", timeout=5) as answer:
        return json.loads(answer.read())


def wait_until_up(base: str) -> None:
    for _ in range(100):
        try:
            fake_stats(base)
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise RuntimeError("the fake Dub did not start")


async def drain(args: argparse.Namespace, base: str, database_url: str) -> None:
    settings = load_settings(
        database_url=database_url,
        dub_api_key=KEY,
        dub_base_url=base,
        dub_rate_per_minute=args.rate,
        delivery_concurrency=args.concurrency,
        delivery_poll_s=0.05,
    )
    store = open_store(settings.database_url)
    store.setup()
    print(f"filling the outbox with {args.events} events ...", flush=True)
    await asyncio.to_thread(fill, store, args.events)
    clients = [new_client(settings, 1) for _ in range(args.workers)]
    workers = [Worker(settings, store, client=client) for client in clients]
    start = time.perf_counter()
    for worker in workers:
        await worker.start()
    last = start
    while await asyncio.to_thread(store.next_due_at) is not None:
        await asyncio.sleep(0.2)
        now = time.perf_counter()
        if now - last >= args.report_every:
            last = now
            stats = await asyncio.to_thread(fake_stats, base)
            done, per_minute = stats["recorded"], stats["recorded"] / (now - start) * 60
            print(
                f"    t={now - start:7.1f}s  recorded={done:7d}/{args.events}  {per_minute:8.0f}/min  429s={stats['rate_limited']}",
                flush=True,
            )
    elapsed = time.perf_counter() - start
    waits = sum(lane.pacer.waits for worker in workers for lane in worker.lanes.values())
    sent = sum(worker.sent for worker in workers)
    for worker in workers:
        await worker.stop()
    for client in clients:
        await client.aclose()
    counts = store.delivery_counts().get("dub", {})
    store.close()
    stats = fake_stats(base)
    print(f"drained    : {args.events} events in {elapsed:.1f} s ({counts})")
    rate = args.events / elapsed * 60
    print(f"rate       : {rate:.0f} deliveries/min (the fake allows {args.limit}; {args.workers} worker(s), each at {args.rate})")
    retries, limited = sent - args.events, stats["rate_limited"]
    print(f"requests   : {sent} sent ({retries} retries: {limited} after a 429, {retries - limited} after a timeout or an error)")
    print(f"waits      : {waits} (a lane held by the vendor's X-RateLimit-Remaining or a 429)")
    print(f"429s       : {stats['rate_limited']} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="the backlog (default: 100,000)")
    parser.add_argument("--limit", type=int, default=600, help="requests a minute the fake Dub allows (default: 600, Dub pro)")
    parser.add_argument("--rate", type=int, default=600, help="dub_rate_per_minute of each worker (default: 600)")
    parser.add_argument("--workers", type=int, default=1, help="workers draining the outbox together (default: 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="delivery_concurrency (default: 8)")
    parser.add_argument("--report-every", type=float, default=10.0, help="seconds between progress lines")
    args = parser.parse_args()

    port = free_port()
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(port), KEY, str(args.limit)], cwd=ROOT)
    tmp = tempfile.TemporaryDirectory(prefix="leadrelay-bench-")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        print(f"fake Dub on {base} allowing {args.limit} requests/min for the key (Dub's sliding window)")
        minutes = args.events / min(args.limit, args.rate * args.workers or args.limit)
        print(f"{args.events} events, {args.workers} worker(s) at dub_rate_per_minute={args.rate}: {minutes:.1f} min at best")
        asyncio.run(drain(args, base, f"sqlite:///{tmp.name}/bench.db"))
    finally:
        fake.terminate()
        fake.wait()
        tmp.cleanup()


if __name__ == "__main__":
    main()
