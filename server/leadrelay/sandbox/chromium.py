"""Which Chromium Playwright launches, for the pytest plugin and the project's own browser tests alike.

LEADRELAY_CHROMIUM names an executable; else Debian's chromium is used when installed; else None,
and Playwright launches its own build (`playwright install chromium`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
FLAGS = (
    "--no-sandbox",  # Chromium refuses to start its sandbox as root (CI, containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """LEADRELAY_CHROMIUM, else Debian's chromium, else None (Playwright's own browser)."""
    configured = os.environ.get("LEADRELAY_CHROMIUM")
    if configured:
        return configured
    for candidate in CANDIDATES:
        if shutil.which(candidate) or Path(candidate).is_file():
            return candidate
    return None


def launch_args(given: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's `browser_type_launch_args` with the executable (unless one is given) and FLAGS."""
    args = dict(given)
    path = chromium_path()
    if path and "executable_path" not in args:
        args["executable_path"] = path
    flags = list(args.get("args", []))
    args["args"] = flags + [flag for flag in FLAGS if flag not in flags]
    return args
