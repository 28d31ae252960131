"""Node.js tools a test needs, from a folder's committed package.json and package-lock.json.

When the folder's node_modules lacks them and npm is on the machine, `npm ci` installs them once;
where there is no Node.js at all the test skips, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def missing(reason: str, what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run {what}")
    pytest.skip(reason)


def npm_ci(folder: Path, tools: tuple[str, ...], what: str) -> Path:
    """`folder`/node_modules/.bin holding `tools`, installed by `npm ci` when one is missing."""
    bin_dir = folder / "node_modules" / ".bin"
    if shutil.which("node") is None:
        missing("Node.js is not installed", what)
    if not all((bin_dir / tool).exists() for tool in tools):
        npm = shutil.which("npm")
        if npm is None:
            missing("npm is not installed", what)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            missing(f"npm ci failed in {folder}: {done.stderr.strip()[-2000:]}", what)
    return bin_dir
