"""A/B of one source file: `leadrelay serve`'s CPU per request under wrk, with FILE as OLD and as NEW, alternated.

    .venv/bin/python bench/ab.py server/leadrelay/serving.py /tmp/serving.old.py /tmp/serving.new.py [--rounds 6] [--database-url postgresql://...]

Each round copies one version over FILE and measures it with bench/collect.py's own `measure`:
`leadrelay serve` on a fresh SQLite file or PostgreSQL schema (Dub configured, no worker), warmed up
for 2 s, then 8 s (`--seconds`) of wrk's 64 connections posting its event, each with a fresh id;
the order alternates round by round.
Prints each round's server CPU per request and the median of the paired ratios NEW/OLD, the figure
to read on a shared machine. FILE is left as NEW at the end; `git diff` shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect import EVENT, measure, serve_env, wrk_script  # noqa: E402 - bench/collect.py's server, event and wrk run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--database-url", help="postgresql://...: measure on PostgreSQL (a schema of its own each run)")
    args = parser.parse_args()
    # What bench/collect.py's measure reads, for its default run: 64 connections, no landed click.
    run = argparse.Namespace(seconds=args.seconds, warmup=2, connections=64, clicks=False, database_url=args.database_url)
    body = json.dumps({"events": [EVENT]}, separators=(",", ":")).replace('"ID"', '"__ID__"')
    kind = "postgresql" if args.database_url else "sqlite"
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        script, env = wrk_script(tmpdir, body), serve_env(tmpdir)
        for round_ in range(args.rounds):
            for name in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
                shutil.copy(getattr(args, name), args.file)
                figures = measure(kind, env, tmpdir, script, run)
                cpu[name].append(figures["cpu_us"])
                print(
                    f"round {round_ + 1}: {name}  {figures['cpu_us']:5.0f} µs/request  {figures['rps']:6.0f} req/s   "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    for name, values in cpu.items():
        print(f"{name}: median {statistics.median(values):.0f} µs/request  ({' '.join(f'{v:.0f}' for v in values)})")
    print(f"new / old, median of the paired rounds: {statistics.median(n / o for o, n in zip(cpu['old'], cpu['new'])):.3f}")


if __name__ == "__main__":
    main()
