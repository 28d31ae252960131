"""The benchmark scripts still run against the code they measure (tiny sizes; no figure is judged here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("script", "args", "last_line_starts"),
    [
        ("collect_app.py", ["--requests", "256", "--rounds", "1"], "leadrelay collect  CPU per request"),
        ("collect_app.py", ["--requests", "256", "--rounds", "1", "--without", "bypass", "--without", "fastpath"], "the fast path saves"),
        ("collect_app.py", ["--requests", "256", "--rounds", "1", "--clicks"], "leadrelay collect  CPU per request"),
        ("deliver.py", ["--events", "64", "--rounds", "1", "--backlog", "200"], "backlog"),
        ("pacing.py", ["--events", "40", "--limit", "6000", "--rate", "6000"], "429s"),
        ("snippet.py", [], "budget"),
        ("health.py", ["--deliveries", "4000", "--calls", "5"], "GET /healthz"),
        ("stall.py", ["--kb", "4", "--rounds", "1", "--quiet-s", "0.5", "--settle-s", "0.5", "--senders", "1"], "longest stall"),
    ],
)
def test_a_benchmark_runs_to_its_figures(script: str, args: list[str], last_line_starts: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith(last_line_starts), done.stdout[-2000:]


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="LEADRELAY_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize(
    ("script", "args", "last_line_starts"),
    [
        ("deliver.py", ["--events", "64", "--rounds", "1", "--backlog", "0", "--processes", "1,2"], "2 worker process(es)"),
        ("collect.py", ["--seconds", "1", "--warmup", "1", "--rounds", "1", "--connections", "4"], "postgresql: ratio"),
    ],
)
def test_a_benchmark_runs_on_postgresql(script: str, args: list[str], last_line_starts: str) -> None:
    if script == "collect.py" and not shutil.which("wrk"):
        pytest.skip("bench/collect.py needs wrk (apt-get install wrk)")
    test_a_benchmark_runs_to_its_figures(script, [*args, "--database-url", str(POSTGRES_URL)], last_line_starts)


def test_the_ab_script_runs_to_its_ratio(tmp_path: Path) -> None:
    """bench/ab.py, on a scratch file (its two versions the same), so that the tree is never touched here."""
    if not shutil.which("wrk"):
        pytest.skip("bench/ab.py needs wrk (apt-get install wrk)")
    for name in ("target", "old", "new"):
        (tmp_path / name).write_text("# the same either way\n")
    args = [str(tmp_path / name) for name in ("target", "old", "new")]
    test_a_benchmark_runs_to_its_figures("ab.py", [*args, "--rounds", "1", "--seconds", "1"], "new / old, median of the paired rounds")
