"""static/lr.d.ts describes the snippet's API: usage.ts compiles, and each @ts-expect-error is an error."""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_the_declarations_type_check_the_documented_calls(node_bin: Path) -> None:
    done = subprocess.run(
        [str(node_bin / "tsc"), "-p", str(HERE / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # TS2578 "Unused '@ts-expect-error' directive" means a wrong call was accepted.
    assert done.returncode == 0, done.stdout + done.stderr
