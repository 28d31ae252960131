"""Collector throughput: a bare Starlette POST route versus the real collect endpoint, in one run.

Both run under one uvicorn worker (uvloop + httptools): the bare route under uvicorn's own
command, the collect endpoint under `leadrelay serve`, as in production (leadrelay.serving's
limits on header size, slow clients and connections included); wrk drives 64 connections
with a ~600-byte croct leadGenerated event, each request with a fresh event id so
every one is a real insert, acknowledged only after its group commit on SQLite.
The ids increase, as the snippet's time-ordered (version 7) UUIDs do; `--ids random`
sends random version 4 UUIDs instead, as a server-side sender might, which land
anywhere in the dedup index and cost the collector more. `--clicks` sends every
request as a visitor who landed through a Dub link (its signed lr_vid and dub_id
cookies, from the server's own /lr/c, and the click id in the envelope), so the
collector checks the click in the store on every request. `--database-url
postgresql://...` also runs the collect endpoint on PostgreSQL (in a schema of its own,
dropped afterwards), in the same rounds, beside SQLite.

    .venv/bin/python bench/collect.py [--seconds 10] [--connections 64] [--rounds 3] [--ids ordered|random] [--clicks]
                                      [--database-url postgresql://user@host/db]

Needs wrk (Debian: apt-get install wrk). Prints requests/s, p50 and p99 latency
and the server's CPU time per request for each, and the ratio real/bare
(target: >= 0.6 on SQLite, >= 0.55 on PostgreSQL, p99 <= 50 ms on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]

EVENT = {
    "id": "ID",
    "dialect": "croct",
    "type": "leadGenerated",
    "payload": {
        "leadId": "1ed2fd65-a027-4f3a-a35f-c6dd97537392",
        "currency": "USD",
        "value": 100,
        "lead": {
            "firstName": "Carol",
            "lastName": "Doe",
            "birthDate": "2000-08-31",
            "gender": "female",
            "email": "carol@croct.com",
            "phone": "+15555983800",
            "address": {"street": "123 Some Street", "city": "San Francisco", "region": "California", "country": "US"},
            "company": "Croct",
            "companyUrl": "https://croct.com",
            "jobTitle": "Head of Marketing",
            "custom": {"points": 1, "plan": "pro"},
        },
    },
    "context": {"url": "https://www.example.com/signup?utm_source=newsletter", "referrer": "https://www.example.com/"},
}

CLICK = "benchClick_7f3a9c"  # the Dub click id a --clicks visitor landed with

BARE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request):
        body = await request.body()
        return JSONResponse({"results": [{"id": "x", "status": "accepted", "bytes": len(body)}]})

    app = Starlette(routes=[Route("/lr/e", endpoint, methods=["POST"])])
    """
)

WRK_SCRIPT = textwrap.dedent(
    """
    local counter = 0
    local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
    local template = [[BODY]]
    local random_ids = RANDOM_IDS
    math.randomseed(os.time())
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "text/plain"
    local cookie = os.getenv("LR_COOKIE")
    if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end
    request = function()
      counter = counter + 1
      local id = prefix .. "-" .. counter
      if random_ids then
        id = string.format("%08x-%04x-4%03x-%04x-%08x%04x", math.random(0, 0xffffffff), math.random(0, 0xffff),
          math.random(0, 0xfff), math.random(0x8000, 0xbfff), math.random(0, 0xffffffff), math.random(0, 0xffff))
      end
      local body = template:gsub("__ID__", id, 1)
      return wrk.format(nil, nil, nil, body)
    end
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def start_server(command: list[str], port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_up(f"http://127.0.0.1:{port}/lr/e", proc)
    return proc


def run_wrk(url: str, script: Path, seconds: int, connections: int, cookie: str = "") -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True, env={**os.environ, "LR_COOKIE": cookie},
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    figures = {"rps": rps}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)  # type: ignore[union-attr]
        figures[f"p{pct}"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    figures["errors"] = float(non2xx.group(1)) if non2xx else 0.0
    return figures


BARE = ["uvicorn", "bare_app:app", "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
SERVE = ["leadrelay", "serve"]


def landed(base: str) -> str:
    """The Cookie header of a visitor who landed through a Dub link: what the server's /lr/c set."""
    try:
        with urllib.request.urlopen(f"{base}/lr/c?dub_id={CLICK}", timeout=5) as response:
            cookies = [header.split(";", 1)[0] for header in response.headers.get_all("Set-Cookie") or []]
    except urllib.error.HTTPError:  # the bare app has no /lr/c: it gets the same header, made up
        cookies = []
    return "; ".join(cookies) or f"dub_id={CLICK}; lr_vid=0123456789abcdef0123456789abcdef.signature"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


HELD_BACK = "SELECT COUNT(*) FROM events WHERE marks LIKE '%click_held_back%'"


@contextlib.contextmanager
def fresh_database(kind: str, tmpdir: Path, postgres_url: str | None) -> Iterator[tuple[str | None, Path | None]]:
    """A database URL for one measurement (None: the bare app has none), and the SQLite file it names.

    SQLite: a new file. PostgreSQL: a new schema (the URL's search_path), dropped afterwards.
    """
    if kind == "bare":
        yield None, None
    elif kind == "sqlite":
        for stale in tmpdir.glob("bench.db*"):
            stale.unlink()
        yield f"sqlite:///{tmpdir / 'bench.db'}", tmpdir / "bench.db"
    else:
        sys.path.insert(0, str(ROOT))
        from tests.support.postgres import postgres_schema_url

        with postgres_schema_url(postgres_url, prefix="bench") as url:
            yield url, None


def measure(kind: str, env: dict[str, str], tmpdir: Path, script: Path, args: argparse.Namespace) -> dict[str, float]:
    """Start the app (`kind`: bare, sqlite or postgresql) on a fresh database, warm it up, and measure it with wrk.

    Also the server's CPU time per request: on a shared machine it varies far less
    than requests/s, so it is the figure to compare when optimising.
    """
    with fresh_database(kind, tmpdir, args.database_url) as (url, sqlite_file):
        port = free_port()
        run_env = env if url is None else {**env, "LEADRELAY_DATABASE_URL": url}
        proc = start_server(BARE if kind == "bare" else SERVE, port, run_env, tmpdir)
        try:
            endpoint = f"http://127.0.0.1:{port}/lr/e"
            cookie = landed(f"http://127.0.0.1:{port}") if args.clicks else ""
            run_wrk(endpoint, script, args.warmup, args.connections, cookie)
            before = cpu_seconds(proc.pid)
            figures = run_wrk(endpoint, script, args.seconds, args.connections, cookie)
            figures["cpu_us"] = (cpu_seconds(proc.pid) - before) / (figures["rps"] * args.seconds) * 1e6
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        held = 0 if url is None else held_back(url, sqlite_file)
        if args.clicks and held:
            raise SystemExit(f"{held} events had their landed click held back: the figure would not be the lookup's")
        return figures


def serve_env(tmpdir: Path, destination: bool = True) -> dict[str, str]:
    """The environment both servers run in: this one's, without its LEADRELAY_* settings, plus the benchmark's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update(
        LEADRELAY_SECRET_KEY="bench-secret-key-of-32-or-more-characters",
        LEADRELAY_WORKER="false",
        LEADRELAY_DEMO="false",
        # As a production collector runs: Dub configured, so every event stores its delivery for the
        # workers (none here, so nothing is sent), and sandbox mode off (it would store four).
        LEADRELAY_SANDBOX="false",
        # The limits are counted (their cost is part of the figure) but never reached from one address.
        LEADRELAY_RATE_LIMIT_PER_IP="100000000/minute",
        LEADRELAY_RATE_LIMIT_PER_VISITOR="100000000/minute",  # --clicks: every request is one visitor's
        PYTHONPATH=str(tmpdir),
    )
    if destination:
        env["LEADRELAY_DUB_API_KEY"] = "dub_bench_key_never_sent_anywhere"
    return env


def wrk_script(tmpdir: Path, body: str, random_ids: bool = False) -> Path:
    """wrk's Lua script posting `body` (its "__ID__" a fresh event id each time) to the collect endpoint."""
    script = tmpdir / "post.lua"
    script.write_text(WRK_SCRIPT.replace("BODY", body).replace("RANDOM_IDS", str(random_ids).lower()))
    return script


def held_back(url: str, sqlite_file: Path | None) -> int:
    """How many stored events are marked for a click held back."""
    if sqlite_file is not None:
        with contextlib.closing(sqlite3.connect(sqlite_file)) as conn:
            return int(conn.execute(HELD_BACK).fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute(HELD_BACK).fetchone()[0])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="measure both this many times; the ratio printed last is the median")
    parser.add_argument("--ids", choices=("ordered", "random"), default="ordered", help="increasing event ids, or random UUIDs")
    parser.add_argument("--clicks", action="store_true", help="as a visitor who landed through a Dub link (a click to check)")
    parser.add_argument("--database-url", metavar="URL", help="also measure the collect endpoint on this PostgreSQL database")
    parser.add_argument(
        "--no-destination", action="store_true", help="configure no destination (no delivery stored), as the benchmark ran before sandbox mode"
    )
    args = parser.parse_args()
    if args.database_url is not None and not args.database_url.startswith(("postgresql://", "postgres://")):
        raise SystemExit("--database-url takes a postgresql:// URL (SQLite is always measured)")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    event = {**EVENT, "click_ids": {"dub": CLICK}} if args.clicks else EVENT
    body = json.dumps({"events": [event]}, separators=(",", ":")).replace('"ID"', '"__ID__"')
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "bare_app.py").write_text(BARE_APP)
        script = wrk_script(tmpdir, body, args.ids == "random")
        env = serve_env(tmpdir, destination=not args.no_destination)
        clicks = "; a landed Dub click" if args.clicks else ""
        print(
            f"event body: {len(body.encode())} bytes; {args.ids} ids{clicks}; {args.connections} connections; "
            f"{args.seconds}s per run; "
            + ("no destination" if args.no_destination else "each event stores one delivery (Dub), no worker")
        )
        stores = ["sqlite", "postgresql"] if args.database_url else ["sqlite"]
        targets = {"sqlite": 0.60, "postgresql": 0.55}
        ratios: dict[str, list[float]] = {kind: [] for kind in stores}
        cpu_ratios: dict[str, list[float]] = {kind: [] for kind in stores}  # as if the server had a core to itself
        p99s: dict[str, list[float]] = {kind: [] for kind in stores}
        for round_ in range(1, args.rounds + 1):
            results = {}
            for kind in ["bare", *stores]:
                results[kind] = r = measure(kind, env, tmpdir, script, args)
                name = "bare starlette" if kind == "bare" else f"collect {kind}"
                print(
                    f"{name:18} {r['rps']:9.0f} req/s   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms   "
                    f"server CPU {r['cpu_us']:4.0f} µs/req   non-2xx {r['errors']:.0f}   (load {load()})"
                )
            for kind in stores:
                ratios[kind].append(results[kind]["rps"] / results["bare"]["rps"])
                cpu_ratios[kind].append(results["bare"]["cpu_us"] / results[kind]["cpu_us"])
                p99s[kind].append(results[kind]["p99"])
                print(f"round {round_}: {kind} ratio (collect / bare) {ratios[kind][-1]:.2f}   by server CPU per request {cpu_ratios[kind][-1]:.2f}")
        for kind in stores:
            print(
                f"{kind}: ratio (collect / bare) {statistics.median(ratios[kind]):.2f} (median of {args.rounds}), "
                f"by server CPU per request {statistics.median(cpu_ratios[kind]):.2f}, p99 {statistics.median(p99s[kind]):.1f} ms   "
                f"target >= {targets[kind]:.2f}, p99 <= 50 ms"
            )


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes): figures measured under load are indicative only."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
