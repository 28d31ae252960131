"""Node tools for the snippet's checks: terser (the build) and tsc (the declarations).

They come from the repository's package.json (exact versions, package-lock.json), by `npm ci`
when needed (tests/support/node.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.node import npm_ci

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """node_modules/.bin with terser and tsc, installed by `npm ci` when needed."""
    return npm_ci(ROOT, ("terser", "tsc"), "the snippet's build and declarations checks")
