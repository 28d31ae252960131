"""The snippet's weight: the bytes a real leadrelay server sends for it, raw, gzip and brotli.

    .venv/bin/python bench/snippet.py [--prefix /lr]

Starts the app under uvicorn on a free local port (SQLite in a temporary folder),
fetches {prefix}/s.js and its hashed URL with each Accept-Encoding, and prints the
body bytes as sent (not decoded) plus the headers. Budget: 2,048 bytes brotli
(tests/test_snippet_budget.py fails above it); Plausible's tracker is 2,356.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from leadrelay.app import create_app  # noqa: E402
from leadrelay.config import load_settings  # noqa: E402

BUDGET = 2048
PLAUSIBLE_BR = 2356


def fetch(url: str, encoding: str) -> tuple[int, int, str]:
    """(body bytes as sent, header bytes, content-encoding) of one GET."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
    with urllib.request.urlopen(request) as response:
        body = response.read()  # urllib does not decode: these are the bytes on the wire
        headers = str(response.headers)
        return len(body), len(headers.encode()), response.headers.get("Content-Encoding", "identity")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="/lr")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_url=f"sqlite:///{folder}/bench.db", path_prefix=args.prefix, worker=False)
        app = create_app(settings)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            base = f"http://127.0.0.1:{port}"
            hashed = app.state.service.snippet.hashed_url
            print(f"{'url':<28} {'encoding':<9} {'body B':>7} {'headers B':>10}")
            sizes: dict[str, int] = {}
            for path in (f"{args.prefix}/s.js", hashed):
                for encoding in ("identity", "gzip", "br"):
                    body, header, coding = fetch(base + path, encoding)
                    sizes[coding] = body
                    print(f"{path:<28} {coding:<9} {body:>7} {header:>10}")
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    br = sizes["br"]
    print(f"\nraw {sizes['identity']} B · gzip {sizes['gzip']} B · brotli {br} B")
    print(f"budget {BUDGET} B brotli: {'OK' if br <= BUDGET else 'OVER'} ({BUDGET - br:+d} B); Plausible: {PLAUSIBLE_BR} B")
    return 0 if br <= BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
