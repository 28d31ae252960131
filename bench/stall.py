"""Heavy events against ordinary beacons: how long does an ordinary beacon wait because of a heavy one?

`leadrelay serve` (SQLite, its in-process worker) runs in a subprocess, with fake Dub,
PIMMS and DATA Reshape (leadrelay.sandbox, not recording) on loopback in subprocesses of their
own, and every event name mapped to every destination, so each accepted event is
validated, stored, claimed, mapped again, prepared, encoded, sent and recorded three times.
Ordinary ~600-byte croct beacons go out from a few senders all along (and /healthz every
100 ms). After a quiet phase, the worst-case events (the largest body the endpoint takes,
--kb, 64 by default) of each dialect are sent, valid and invalid ones, --rounds times:

    croct     lead.custom at Croct's limits (10 attributes of 30 lists of 30 values)
    reshape   event.properties of one-character values (~8,400 of them), and user.email of ~7,000 addresses
    dub       metadata of ~1,400 properties (Dub's 10,000 characters)
    pimms     metadata of ~8,000 properties (PIMMS sets no limit; Dub's cut applies on the way out)
    invalid   each dialect's body that makes the most errors (thousands of them, 20 answered)

    .venv/bin/python bench/stall.py [--kb 64] [--rounds 3] [--quiet-s 3] [--senders 4]

Prints, for the quiet and the heavy phase, the ordinary beacons' and /healthz's latency
(p50, p99, max), how late a 1 ms ticker on the server's event loop woke and the most CPU
the loop's thread spent between two of its turns, then the longest stall: that CPU time in
the heavy phase, which a busy machine does not inflate as it does wall times (the beacons'
wait beyond the quiet phase's p99 is printed too). Target: at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0
KEYS = {"dub": "dub_bench_key", "pimms": "pimms_bench_key", "reshape": "dre_bench_token"}
SCRIPT_ID = "BENCH123"
FAKE = textwrap.dedent(
    """
    import sys, uvicorn
    from leadrelay.sandbox.vendors import FakeDub, FakePimms, FakeReshape
    name, port, key, script = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if name == "reshape":
        app = FakeReshape(credential=key, script_id=script, record=False)
    else:
        app = (FakeDub if name == "dub" else FakePimms)(credential=key, record=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    """
)
SERVER = textwrap.dedent(
    """
    # leadrelay as `leadrelay serve` runs it (its uvicorn Config, its worker inside), with a ticker on its event
    # loop: every millisecond it notes how late it woke (wall time) and how much CPU the loop's thread
    # spent meanwhile, which other processes on a busy machine cannot inflate. GET /_stall reads and resets.
    import asyncio, json, sys, time
    from leadrelay.app import create_app
    from leadrelay.config import load_settings
    from leadrelay.serving import serve, uvicorn_config

    settings = load_settings()
    app = create_app(settings)
    worst = {"late_ms": 0.0, "cpu_ms": 0.0}

    async def ticker():
        while True:
            wall, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.001)
            late = (time.perf_counter() - wall - 0.001) * 1000
            worst["late_ms"] = max(worst["late_ms"], late)
            worst["cpu_ms"] = max(worst["cpu_ms"], (time.thread_time() - cpu) * 1000)

    async def measured(scope, receive, send):
        if scope["type"] == "lifespan":
            asyncio.get_running_loop().create_task(ticker())
        elif scope["type"] == "http" and scope["path"] == "/_stall":
            body = json.dumps(worst).encode()
            worst.update(late_ms=0.0, cpu_ms=0.0)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    serve(uvicorn_config(measured, settings, port=int(sys.argv[1]), log_level="warning", access_log=False))
    """
)
CLICKS = {"dub": "dubclick1", "pimms": "pimmsclick1"}
# The heavy events come from a backend, with a server key: the dub and pimms dialects need one, and
# its click ids are taken as sent, so every destination takes every heavy event (leadrelay.trust).
SERVER_KEY = "stall-bench-server-key-0123456789abcdef"
AS_SERVER = {"Content-Type": "text/plain", "Authorization": f"Bearer {SERVER_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the heavy events -----------------------------------------------------------------


def names() -> Iterator[str]:
    """Distinct short property names: a, b, ..., 9, aa, ab, ..."""
    alphabet = string.ascii_letters + string.digits
    for size in itertools.count(1):
        for letters in itertools.product(alphabet, repeat=size):
            yield "".join(letters)


def envelope(dialect: str, payload: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"id": str(uuid.uuid4()), "dialect": dialect, "payload": payload, "click_ids": CLICKS}
    if kind:
        event["type"] = kind
    return event


def body(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}, separators=(",", ":")).encode()


def fill(build: Callable[[int], dict[str, Any]], limit: int) -> dict[str, Any]:
    """build(n) for the largest n (up to 2**16) whose batch of one fits `limit` bytes."""
    low, high = 1, 1
    while len(body([build(high)])) <= limit:
        if high >= 1 << 16:  # a builder at its rules' limits grows no more
            return build(high)
        low, high = high, high * 2
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(body([build(middle)])) <= limit else (low, middle - 1)
    return build(low)


def heavy_events(limit: int) -> dict[str, Callable[[], dict[str, Any]]]:
    """Each worst case by name: a builder of a fresh event (a new id) of at most `limit` bytes."""
    lead = {"leadId": "L-1", "currency": "USD", "value": 100}

    def croct(n: int) -> dict[str, Any]:
        side = max(1, min(30, int((n / 10) ** 0.5)))
        custom = {f"a{i}": [["x"] * side for _ in range(side)] for i in range(10)}
        return envelope("croct", {**lead, "lead": {"firstName": "Carol", "custom": custom}}, "leadGenerated")

    def reshape_properties(n: int) -> dict[str, Any]:
        keys = names()
        event = {"name": "lead_created", "currency": "USD", "id": "L-1", "properties": {next(keys): "x" for _ in range(n)}}
        return envelope("reshape", {"event": event})

    def reshape_emails(n: int) -> dict[str, Any]:
        event = {"name": "lead_created", "currency": "USD", "id": "L-1"}
        return envelope("reshape", {"event": event, "user": {"email": ["a@b.co"] * n}})

    def track_lead(dialect: str) -> Callable[[int], dict[str, Any]]:
        def build(n: int) -> dict[str, Any]:
            keys = names()
            customer = {"customerExternalId": "u-1"} if dialect == "dub" else {"externalId": "u-1"}
            metadata = {next(keys): 1 for _ in range(n)}
            return envelope(dialect, {"clickId": CLICKS[dialect], "eventName": "Sign up", **customer, "metadata": metadata})

        return build

    def dub_metadata(n: int) -> dict[str, Any]:  # as many properties as Dub's 10,000 characters hold
        keys = names()
        metadata: dict[str, Any] = {}
        while len(metadata) < n and len(json.dumps({**metadata, "zzzz": 1}, separators=(",", ":"))) <= 10_000:
            metadata[next(keys)] = 1
        return envelope("dub", {"clickId": CLICKS["dub"], "eventName": "Sign up", "customerExternalId": "u-1", "metadata": metadata})

    def croct_invalid(n: int) -> dict[str, Any]:
        keys = names()
        return envelope("croct", {"leadId": "L-1", "lead": {"custom": {"0" + next(keys): [1] * 31 for _ in range(n)}}}, "leadGenerated")

    def reshape_invalid(n: int) -> dict[str, Any]:
        return envelope("reshape", {"event": {"name": "lead_created", "currency": "USD", "id": "L-1"}, "user": {"email": ["ab"] * n}})

    def unknown_keys(dialect: str) -> Callable[[int], dict[str, Any]]:
        def build(n: int) -> dict[str, Any]:
            keys = names()
            return envelope(dialect, {"clickId": "c", "eventName": "Sign up", **{"x" + next(keys): 1 for _ in range(n)}})

        return build

    builders: dict[str, Callable[[int], dict[str, Any]]] = {
        "croct": croct,
        "reshape properties": reshape_properties,
        "reshape emails": reshape_emails,
        "dub": dub_metadata,
        "pimms": track_lead("pimms"),
        "croct invalid": croct_invalid,
        "reshape invalid": reshape_invalid,
        "dub invalid": unknown_keys("dub"),
        "pimms invalid": unknown_keys("pimms"),
    }
    out: dict[str, Callable[[], dict[str, Any]]] = {}
    for name, build in builders.items():
        template = fill(build, limit)

        def fresh(template: dict[str, Any] = template) -> dict[str, Any]:
            return {**template, "id": str(uuid.uuid4())}

        out[name] = fresh
    return out


def ordinary() -> bytes:
    payload = {"leadId": "L-1", "currency": "USD", "value": 100, "lead": {"firstName": "Carol", "email": "carol@example.com"}}
    event = envelope("croct", payload, "leadGenerated")
    event["context"] = {"url": "https://www.example.com/signup", "referrer": "https://www.google.com/"}
    return body([event])


# -- the run --------------------------------------------------------------------------


class Timings:
    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float]]] = {"beacon": [], "healthz": []}  # (started, ms)

    def add(self, kind: str, started: float, ms: float) -> None:
        self.samples[kind].append((started, ms))

    def between(self, kind: str, start: float, end: float) -> list[float]:
        return sorted(ms for at, ms in self.samples[kind] if start <= at < end)


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"n={len(values):5d}  p50 {statistics.median(values):7.1f} ms  p99 {p99:7.1f} ms  max {values[-1]:7.1f} ms"


async def beacons(client: httpx.AsyncClient, timings: Timings, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        response = await client.post("/lr/e", content=ordinary(), headers={"Content-Type": "text/plain"})
        timings.add("beacon", started, (time.monotonic() - started) * 1000)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.005)


async def health(client: httpx.AsyncClient, timings: Timings, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        await client.get("/healthz")
        timings.add("healthz", started, (time.monotonic() - started) * 1000)
        await asyncio.sleep(0.1)


async def heavy(client: httpx.AsyncClient, events: dict[str, Callable[[], dict[str, Any]]], rounds: int) -> dict[str, list[float]]:
    """Send each heavy event `rounds` times, one after another: each one's own latency, by name."""
    own: dict[str, list[float]] = {name: [] for name in events}
    for _ in range(rounds):
        for name, build in events.items():
            started = time.monotonic()
            response = await client.post("/lr/e", content=body([build()]), headers=AS_SERVER)
            own[name].append((time.monotonic() - started) * 1000)
            assert response.status_code in (200, 422), response.text
            await asyncio.sleep(0.05)
    return own


async def drained(client: httpx.AsyncClient, timeout_s: float) -> dict[str, Any]:
    """Wait until no delivery is pending (or the timeout passes): the destinations' delivery counts."""
    deadline = time.monotonic() + timeout_s
    while True:
        destinations = (await client.get("/healthz")).json()["destinations"]
        pending = sum(d["deliveries"].get("pending", 0) for d in destinations.values())
        if not pending or time.monotonic() > deadline:
            return {name: d["deliveries"] for name, d in destinations.items()}
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace, base: str) -> None:
    events = heavy_events(args.kb * 1024)
    timings = Timings()
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=args.senders + 4)) as client:
        for _ in range(20):  # warm up: connections, the first beacons' imports and caches
            await client.post("/lr/e", content=ordinary(), headers={"Content-Type": "text/plain"})
        await client.get("/_stall")  # reset
        quiet_start = time.monotonic()
        quiet_end = quiet_start + args.quiet_s
        background = [asyncio.create_task(beacons(client, timings, float("inf"))) for _ in range(args.senders)]
        background.append(asyncio.create_task(health(client, timings, float("inf"))))
        await asyncio.sleep(args.quiet_s)
        loop_quiet = (await client.get("/_stall")).json()
        own = await heavy(client, events, args.rounds)
        heavy_end = time.monotonic()
        await asyncio.sleep(args.settle_s)  # the worker delivers the heavy events meanwhile
        end = time.monotonic()
        loop_heavy = (await client.get("/_stall")).json()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        counts = await drained(client, timeout_s=30)

    print(f"heavy events, {args.kb} KB at most each, {args.rounds} round(s):")
    for name, latencies in own.items():
        print(f"  {name:20s} {len(body([events[name]()])):6d} bytes   answered in {max(latencies):7.1f} ms at most")
    quiet = timings.between("beacon", quiet_start, quiet_end)
    loaded = timings.between("beacon", quiet_end, end)
    print(f"beacons, quiet : {summary(quiet)}")
    print(f"beacons, heavy : {summary(loaded)}   (while heavy events arrive and are delivered: {end - quiet_end:.1f} s)")
    print(f"healthz, quiet : {summary(timings.between('healthz', quiet_start, quiet_end))}")
    print(f"healthz, heavy : {summary(timings.between('healthz', quiet_end, end))}")
    for phase, loop in (("quiet", loop_quiet), ("heavy", loop_heavy)):
        print(
            f"event loop, {phase}: woke up to {loop['late_ms']:7.1f} ms late; its thread ran up to"
            f" {loop['cpu_ms']:7.1f} ms of CPU without a turn free"
        )
    print("deliveries     : " + ", ".join(f"{name} {dict(c)}" for name, c in counts.items()))
    baseline = quiet[min(len(quiet) - 1, int(len(quiet) * 0.99))] if quiet else 0.0
    stall = max(0.0, (loaded[-1] if loaded else 0.0) - baseline)
    print(f"beacon stall   : {stall:7.1f} ms beyond the quiet p99 (wall time: a busy machine inflates it)")
    blocked = loop_heavy["cpu_ms"]
    verdict = "within" if blocked <= TARGET_MS else "OVER"
    print(
        f"longest stall  : {blocked:7.1f} ms of CPU on the event loop at once with heavy events"
        f" ({loop_quiet['cpu_ms']:.1f} ms without; {verdict} the {TARGET_MS:.0f} ms target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=int, default=64, help="the heavy events' size (the endpoint's body limit is 64)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet-s", type=float, default=3.0)
    parser.add_argument("--settle-s", type=float, default=3.0, help="beacons go on this long after the last heavy event")
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="leadrelay-stall-")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
        ports = {name: free_port() for name in KEYS}
        for name, port in ports.items():
            processes.append(subprocess.Popen([sys.executable, "-c", FAKE, name, str(port), KEYS[name], SCRIPT_ID], cwd=ROOT, env=env))
        port = free_port()
        env.update(
            {
                "LEADRELAY_DATABASE_URL": f"sqlite:///{tmp.name}/stall.db",
                "LEADRELAY_SECRET_KEY": "stall-bench-secret-key-of-32-or-more-characters",
                # Counted, never reached: the beacons all come from one address and one visitor.
                "LEADRELAY_RATE_LIMIT_PER_IP": "100000000/minute",
                "LEADRELAY_RATE_LIMIT_PER_VISITOR": "100000000/minute",
                "LEADRELAY_DEMO": "false",
                "LEADRELAY_SERVER_KEYS": SERVER_KEY,
                "LEADRELAY_DUB_API_KEY": KEYS["dub"],
                "LEADRELAY_DUB_BASE_URL": f"http://127.0.0.1:{ports['dub']}",
                "LEADRELAY_PIMMS_API_KEY": KEYS["pimms"],
                "LEADRELAY_PIMMS_BASE_URL": f"http://127.0.0.1:{ports['pimms']}",
                "LEADRELAY_RESHAPE_BASE_URL": f"http://127.0.0.1:{ports['reshape']}",
                "LEADRELAY_RESHAPE_SCRIPT_ID": SCRIPT_ID,
                "LEADRELAY_RESHAPE_ACCESS_TOKEN": KEYS["reshape"],
                "LEADRELAY_DUB_EVENTS": '{"*": "Sign up"}',
                "LEADRELAY_PIMMS_EVENTS": '{"*": "Sign up"}',
                "LEADRELAY_RESHAPE_EVENTS": '{"*": "lead_created"}',
                # Not paced: every event is delivered as fast as the worker can (the load this measures).
                "LEADRELAY_DUB_RATE_PER_MINUTE": "0",
                "LEADRELAY_PIMMS_RATE_PER_MINUTE": "0",
                "LEADRELAY_RESHAPE_RATE_PER_MINUTE": "0",
                "LEADRELAY_DELIVERY_POLL_S": "0.05",
            }
        )
        server = [sys.executable, "-c", SERVER, str(port)]
        processes.append(subprocess.Popen(server, cwd=ROOT, env=env))
        base = f"http://127.0.0.1:{port}"
        wait_for([base + "/healthz", *(f"http://127.0.0.1:{p}/" for p in ports.values())])
        print(f"leadrelay on {base} (uvicorn, worker inside), fake vendors on {', '.join(f'{n} :{p}' for n, p in ports.items())}; {os.cpu_count()} CPUs")
        asyncio.run(run(args, base))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        tmp.cleanup()


def wait_for(urls: list[str]) -> None:
    deadline = time.monotonic() + 30
    for url in urls:
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not come up") from None
                time.sleep(0.1)


if __name__ == "__main__":
    main()
