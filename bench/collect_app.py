"""The collect endpoint's own CPU per request, in-process: no sockets, no HTTP server, no wrk.

Drives the ASGI apps directly (uvloop, 64 requests in flight, each with a fresh event
id, acknowledged after its group commit on SQLite) and prints the process CPU time per
request for a bare Starlette POST route and for the real app. On a shared machine
this moves far less than bench/collect.py's requests/s, so it is the figure to
compare before and after a change to the app; bench/collect.py remains the end-to-end
measure (it adds uvicorn, the kernel and wrk, about 60-90 µs per request here).
What depends on the whole server process it cannot see: the garbage collector's
walks of uvicorn's heap cost a tenth of a beacon under wrk and nothing here, and a
commit's group is as large as the requests in flight (64), where wrk's are not.

    .venv/bin/python bench/collect_app.py [--requests 20000] [--rounds 5] [--without bypass|fastpath ...] [--clicks] [--database-url postgresql://...]

`--without` also measures, in the same rounds, the app with one of its optimisations
turned off, so that what each saves can be read off one run. `--clicks` sends every
request as a visitor who landed through a Dub link (the cookies the app's own /lr/c
set, the click id in the envelope), as bench/collect.py --clicks does. `--database-url`
measures on PostgreSQL: the collector's CPU only (PostgreSQL's own runs in its processes).
Each event stores one delivery (Dub is configured; no worker runs), as a production
collector does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect import BARE_APP, CLICK, EVENT, fresh_database  # noqa: E402 - the same event, bare route and databases as bench/collect.py

CONCURRENCY = 64


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps({"events": [event]}, separators=(",", ":")).replace('"ID"', '"__ID__"').encode()


def bare_app() -> Any:
    """bench/collect.py's bare Starlette route, the very same code."""
    namespace: dict[str, Any] = {}
    exec(BARE_APP, namespace)
    return namespace["app"]


WITHOUT = {
    "bypass": "the ASGI bypass",  # off: collect POSTs go through Starlette's middleware and router
    "fastpath": "the fast path",  # off: every event is judged the exact way
    "ratelimits": "the rate limits",  # off: collect POSTs skip the request middleware (no CORS is configured)
}


def real_app(database_url: str, without: str | None = None) -> Any:
    os.environ.update(
        LEADRELAY_DATABASE_URL=database_url,
        LEADRELAY_SECRET_KEY="bench-secret-key-of-32-or-more-characters",
        LEADRELAY_WORKER="false",
        LEADRELAY_DEMO="false",
        # As a production collector runs: Dub configured, so every event stores its delivery for the
        # workers (none here, so nothing is sent), and sandbox mode off (it would store four).
        LEADRELAY_SANDBOX="false",
        LEADRELAY_DUB_API_KEY="dub_bench_key_never_sent_anywhere",
        # The limits are counted (their cost is part of the figure) but never reached from one address.
        LEADRELAY_RATE_LIMIT_PER_IP="100000000/minute",
        LEADRELAY_RATE_LIMIT_PER_VISITOR="100000000/minute",  # --clicks: every request is one visitor's
    )
    from leadrelay.app import create_app
    from leadrelay.fastpath import FastPath

    app = create_app()
    collector = app.state.service.collector
    if not (hasattr(app, "beacon_path") and hasattr(collector, "fast")):
        raise SystemExit("the app no longer has beacon_path or collector.fast: update --without")
    if without == "bypass":
        app.beacon_path = None  # matches no request: collect POSTs take the router's Route
    elif without == "fastpath":
        collector.fast = FastPath({}, 0)  # no checked dialect: never taken
    elif without == "ratelimits":
        app.beacons = collector
    return app


async def lifespan(app: Any, event: str, inbox: asyncio.Queue[dict[str, str]], done: asyncio.Event) -> None:
    done.clear()
    await inbox.put({"type": f"lifespan.{event}"})
    await done.wait()


async def landed(app: Any) -> bytes:
    """The Cookie header of a visitor who landed through a Dub link: what the app's /lr/c set."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/lr/c", "raw_path": b"/lr/c", "query_string": f"dub_id={CLICK}".encode(), "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "state": {},
    }  # fmt: skip
    cookies: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            cookies.extend(v.split(b";", 1)[0] for k, v in message["headers"] if k == b"set-cookie")

    await app(scope, receive, send)
    return b"; ".join(cookies) or f"dub_id={CLICK}".encode()  # the bare route sets none: send the same header


async def measure(app: Any, requests: int, clicks: bool = False) -> float:
    """Process CPU µs per request, after a warm-up."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    done = asyncio.Event()

    async def send_lifespan(message: dict[str, Any]) -> None:
        if message["type"].endswith("complete"):
            done.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send_lifespan))
    await lifespan(app, "startup", inbox, done)
    body_template = body_of({**EVENT, "click_ids": {"dub": CLICK}} if clicks else EVENT)
    cookie = [(b"cookie", await landed(app))] if clicks else []
    counter = 0
    statuses: set[int] = set()

    async def one() -> None:
        nonlocal counter
        counter += 1
        body = body_template.replace(b"__ID__", b"e-%d" % counter)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/lr/e", "raw_path": b"/lr/e", "query_string": b"", "root_path": "", "state": {},
            "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body)), *cookie],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.add(message["status"])

        await app(scope, receive, send)

    async def run(total: int) -> None:
        async def client() -> None:
            for _ in range(total // CONCURRENCY):
                await one()

        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))

    await run(2000)
    start = time.process_time()
    await run(requests)
    cpu = time.process_time() - start
    await lifespan(app, "shutdown", inbox, done)
    await task
    if statuses != {200}:
        raise SystemExit(f"unexpected statuses: {statuses}")
    service = getattr(app.state, "service", None)
    if clicks and service is not None and service.store.count_marks():
        raise SystemExit(f"the landed click was held back: {service.store.count_marks()}")
    return cpu / (requests // CONCURRENCY * CONCURRENCY) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--without", action="append", choices=sorted(WITHOUT), default=[])
    parser.add_argument("--clicks", action="store_true", help="as a visitor who landed through a Dub link (a click to check)")
    parser.add_argument("--database-url", help="postgresql://...: measure on PostgreSQL (a schema of its own each round), not SQLite")
    args = parser.parse_args()
    variants: list[str | None] = [*dict.fromkeys(args.without), None]
    with tempfile.TemporaryDirectory() as tmp:
        bare: list[float] = []
        real: dict[str | None, list[float]] = {variant: [] for variant in variants}
        for round_ in range(args.rounds):
            bare.append(uvloop.run(measure(bare_app(), args.requests, args.clicks)))
            for variant in variants if round_ % 2 == 0 else reversed(variants):  # no side always runs first
                with fresh_database("postgresql" if args.database_url else "sqlite", Path(tmp), args.database_url) as (url, _):
                    real[variant].append(uvloop.run(measure(real_app(url, variant), args.requests, args.clicks)))
    figures = {"bare starlette": bare}
    figures |= {"leadrelay collect" + (f" without {WITHOUT[variant]}" if variant else ""): values for variant, values in real.items()}
    width = max(18, *map(len, figures))
    for name, values in figures.items():
        shown = " ".join(f"{v:.0f}" for v in values)
        median = statistics.median(values)
        print(f"{name:{width}} CPU per request: best {min(values):5.1f} µs, median {median:5.1f} µs   ({shown})")
    for variant in variants[:-1]:
        # Paired by round, as the rounds run one after the other: a ratio moves less than either figure.
        saved = 1 - statistics.median(a / b for a, b in zip(real[None], real[variant]))
        by_medians = statistics.median(real[variant]) - statistics.median(real[None])
        print(f"{WITHOUT[variant]} saves {saved:.0%} of the collect endpoint's CPU per request ({by_medians:.0f} µs by the medians)")

if __name__ == "__main__":
    main()
