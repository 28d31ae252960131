"""The served static/lr.min.js is exactly what `npm run build` makes of the readable static/lr.js."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from leadrelay.snippet import SCRIPT_NAME, SOURCE_NAME, static_dir

ROOT = Path(__file__).resolve().parents[2]


def test_the_minified_snippet_is_built_from_its_source(node_bin: Path) -> None:
    command = json.loads((ROOT / "package.json").read_text())["scripts"]["snippet"].split()
    assert command[:2] == ["terser", f"static/{SOURCE_NAME}"]
    done = subprocess.run(
        [str(node_bin / "terser"), *command[1:]], cwd=ROOT, capture_output=True, timeout=300, check=True
    )
    served = (static_dir() / SCRIPT_NAME).read_bytes()
    assert served.rstrip(b"\n") == done.stdout.rstrip(b"\n"), "static/lr.min.js is stale: run `npm run build`"
