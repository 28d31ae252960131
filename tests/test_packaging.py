"""`pip install .` must ship the snippet inside the package (the server finds it there, not in a checkout),
and the sandbox with its pytest plugin (a site's tests find it through the `pytest11` entry point)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_snippet_the_command_and_the_pytest_plugin(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = tmp_path.glob("leadrelay-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in ("lr.js", "lr.min.js", "lr.d.ts", "demo.html", "demo.js"):
            packaged = archive.read(f"leadrelay/static/{name}")
            assert packaged == (ROOT / "static" / name).read_bytes()
        assert "leadrelay/cli.py" in names
        for module in ("plugin", "browser", "client", "vendors", "webhook", "api", "live", "chromium"):
            assert f"leadrelay/sandbox/{module}.py" in names
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        assert "leadrelay = leadrelay.cli:main" in entry_points
        assert "[pytest11]\nleadrelay = leadrelay.sandbox.plugin" in entry_points
