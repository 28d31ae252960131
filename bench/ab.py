"""A/B of one source file: `leadrelay serve`'s CPU per request under wrk, with FILE as OLD and as NEW, alternated.

    .venv/bin/python bench/ab.py server/leadrelay/serving.py /tmp/serving.old.py /tmp/serving.new.py [--rounds 6] [--database-url postgresql://...]

Each round copies one version over FILE, starts `leadrelay serve` as bench/collect.py does (a fresh
SQLite file or PostgreSQL schema, Dub configured, no worker), warms it up for 2 s, and measures 8 s
(`--seconds`) of wrk's 64 connections posting bench/collect.py's event; the order alternates round by round.
Prints each round's server CPU per request and the median of the paired ratios NEW/OLD, the figure
to read on a shared machine. FILE is left as NEW at the end; `git diff` shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect import EVENT, WRK_SCRIPT, cpu_seconds, fresh_database, free_port  # noqa: E402

ENV = {
    "LEADRELAY_SECRET_KEY": "bench-secret-key-of-32-or-more-characters",
    "LEADRELAY_WORKER": "false",
    "LEADRELAY_DEMO": "false",
    "LEADRELAY_SANDBOX": "false",
    "LEADRELAY_DUB_API_KEY": "dub_bench_key_never_sent_anywhere",
    "LEADRELAY_RATE_LIMIT_PER_IP": "100000000/minute",
    "LEADRELAY_RATE_LIMIT_PER_VISITOR": "100000000/minute",
}


def measure(url: str, script: Path, tmpdir: Path, seconds: int) -> tuple[float, float]:
    """Server CPU µs per request and requests/s of one `leadrelay serve` on `url`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")} | ENV | {"LEADRELAY_DATABASE_URL": url}
    cmd = [sys.executable, "-m", "leadrelay", "serve", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmpdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}/lr/e"
        wrk = ["wrk", "-t1", "-c64", "-s", str(script), endpoint]
        subprocess.run([*wrk, "-d2s"], check=True, capture_output=True)
        before = cpu_seconds(proc.pid)
        out = subprocess.run([*wrk, f"-d{seconds}s"], check=True, capture_output=True, text=True).stdout
        used = cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return used / requests * 1e6, requests / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--database-url", help="postgresql://...: measure on PostgreSQL (a schema of its own each run)")
    args = parser.parse_args()
    body = json.dumps({"events": [EVENT]}, separators=(",", ":"))
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        script = tmpdir / "post.lua"
        script.write_text(WRK_SCRIPT.replace("BODY", body).replace("RANDOM_IDS", "false"))
        for round_ in range(args.rounds):
            order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
            for name in order:
                shutil.copy(getattr(args, name), args.file)
                kind = "postgresql" if args.database_url else "sqlite"
                with fresh_database(kind, tmpdir, args.database_url) as (url, _):
                    assert url is not None
                    us, rps = measure(url, script, tmpdir, args.seconds)
                cpu[name].append(us)
                print(f"round {round_ + 1}: {name}  {us:5.0f} µs/request  {rps:6.0f} req/s   (load {os.getloadavg()[0]:.1f})", flush=True)
    for name, values in cpu.items():
        print(f"{name}: median {statistics.median(values):.0f} µs/request  ({' '.join(f'{v:.0f}' for v in values)})")
    print(f"new / old, median of the paired rounds: {statistics.median(n / o for o, n in zip(cpu['old'], cpu['new'])):.3f}")


if __name__ == "__main__":
    main()
