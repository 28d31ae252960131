"""The README's screenshot of the demo page (docs/demo.png), taken as a newcomer would see it.

    ./run screenshot [--out docs/demo.png]

Starts `leadrelay serve --sandbox` (the real command, on a free local port, with a throwaway
SQLite file), opens the demo page in Chromium through Playwright as a visitor who landed from
Dub and PIMMS links, sends the invalid lead, signs up, waits until every destination has its
answer and the sandbox shows what each fake vendor received, and saves a full-page PNG.
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from leadrelay.sandbox.chromium import launch_args
from leadrelay.sandbox.live import free_port

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 60.0


def wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"leadrelay serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"leadrelay serve did not answer {url} in {WAIT_S:.0f} s")


def shoot(base: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_args({}))
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
            page.goto(base + "/?dub_id=demo_click_1&pimms_id=demo_pimms_1")
            page.wait_for_function("window.leadrelay && leadrelay.loaded")
            page.locator("[data-click=pimms]").filter(has_text="cookie set by leadrelay").wait_for()
            page.click("#invalid")  # first, so that the lead that goes through is shown on top (newest first)
            page.locator(".event[data-state=rejected] .errors li").first.wait_for()
            page.click("button[type=submit]")
            event = page.locator(".event[data-state=accepted]")
            for vendor in ("dub", "pimms", "reshape", "webhook"):
                event.locator(f"[data-destination={vendor}] .received pre").wait_for(timeout=WAIT_S * 1000)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo.png")
    args = parser.parse_args()
    port = free_port()
    leadrelay = Path(sys.executable).with_name("leadrelay")
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_") or k == "LEADRELAY_CHROMIUM"}
        env["LEADRELAY_DATABASE_URL"] = f"sqlite:///{folder}/demo.db"
        command = [str(leadrelay), "serve", "--sandbox", "--port", str(port), "--no-access-log", "--log-level", "warning"]
        server = subprocess.Popen(command, env=env, cwd=folder)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(base + "/healthz", server)
            shoot(base, args.out)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
