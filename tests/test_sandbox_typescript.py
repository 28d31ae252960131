"""The TypeScript helper (examples/site/leadrelay.ts) through its example @playwright/test spec, as a user runs it.

`npm ci` in examples/site (its committed package.json and package-lock.json), `tsc` over the helper,
the spec and the config, then `playwright test`: its web server is `leadrelay serve --sandbox --site .`
(this virtual environment's), and its Chromium is LEADRELAY_CHROMIUM or Debian's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadrelay.sandbox.chromium import chromium_path
from leadrelay.sandbox.live import free_port
from tests.support.node import missing, npm_ci

SITE = Path(__file__).resolve().parents[1] / "examples" / "site"
WHAT = "the TypeScript sandbox helper's example spec"


@pytest.fixture(scope="module")
def node_bin() -> Path:
    return npm_ci(SITE, ("playwright", "tsc"), WHAT)


def test_the_helper_and_its_spec_type_check(node_bin: Path) -> None:
    done = subprocess.run([str(node_bin / "tsc"), "--noEmit", "-p", "."], cwd=SITE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.browser
def test_the_example_spec_passes_against_a_sandbox(node_bin: Path, tmp_path: Path) -> None:
    chromium = chromium_path()
    if chromium is None:
        missing("no Chromium (set LEADRELAY_CHROMIUM or apt-get install chromium)", WHAT)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")},
        "LEADRELAY_PORT": str(free_port()),
        "LEADRELAY_CHROMIUM": str(chromium),
        "LEADRELAY_COMMAND": str(Path(sys.executable).parent / "leadrelay"),
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "no-downloaded-browsers"),  # Debian's Chromium, nothing else
    }
    done = subprocess.run(
        [str(node_bin / "playwright"), "test", "--output", str(tmp_path / "results")],
        cwd=SITE, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout
