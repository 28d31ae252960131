"""Node tools for the snippet's checks: terser (the build) and tsc (the declarations).

They come from the repository's package.json (exact versions, package-lock.json). When
node_modules is missing and npm is on the machine, `npm ci` installs them once; where
there is no Node.js at all the checks skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must check the snippet's build and declarations")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """node_modules/.bin with terser and tsc, installed by `npm ci` when needed."""
    if shutil.which("node") is None:
        _missing("Node.js is not installed")
    if not ((BIN / "terser").exists() and (BIN / "tsc").exists()):
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm is not installed")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            _missing(f"npm ci failed: {done.stderr.strip()[-2000:]}")
    return BIN
