"""The README's screenshot command works: `./run screenshot` (tools/demo_screenshot.py) writes the PNG."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_screenshot_tool_photographs_the_sandboxed_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo_screenshot.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SANDBOX MODE: nothing leaves this machine" in done.stdout  # it ran leadrelay serve --sandbox
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1200 and height > 900  # the full page, past the first screen
