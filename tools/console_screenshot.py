"""Regenerate docs/console.png, the README's picture of the console: `./run screenshot console`.

It runs leadrelay on a temporary SQLite file with the console on, in front of the strict fake
vendors of tests/fakes, sends it leads (some refused, one the fake Reshape refuses into a dead
letter), and has Chromium log in and photograph the overview and an event's page.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from leadrelay.app import create_app  # noqa: E402
from leadrelay.config import load_settings  # noqa: E402
from leadrelay.store import open_store  # noqa: E402
from tests.support.arrivals import accepted, request_seen  # noqa: E402
from tests.conftest import chromium_path  # noqa: E402
from tests.fakes import Fault, Vendors  # noqa: E402
from tests.support.console import ADMIN_TOKEN, console_settings, reshape_lead, send, wait_until  # noqa: E402
from tests.support.live import LiveServer  # noqa: E402

OUT = ROOT / "docs"


def history(url: str) -> None:
    """A day of earlier leads, as intake would have stored them hour by hour (the worker delivers them)."""
    now = time.time()
    for hours_ago in range(23, 0, -1):
        at = now - hours_ago * 3600
        store = open_store(url, clock=lambda at=at: at)
        store.setup()
        rows = []
        for n in range(2 + (23 - hours_ago) % 7):
            email = f"lead{hours_ago}.{n}@example.com"
            lead = reshape_lead(f"H{hours_ago}-{n}", email=email)["events"][0]
            if n % 3 == 1:  # some from Croct's API instead
                payload = {"leadId": f"H{hours_ago}-{n}", "currency": "USD", "value": 10, "lead": {"email": email}}
                lead = {"id": f"H{hours_ago}-{n}", "dialect": "croct", "type": "leadGenerated", "payload": payload}
            rows.append(accepted(lead, ["reshape"], request_seen(received_at=at + n)))
        store.write_intake(rows)
        store.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, Vendors() as vendors:
        settings = load_settings(database_url=f"sqlite:///{tmp}/leadrelay.db", **console_settings(vendors, worker=True))
        history(settings.database_url)
        with LiveServer(create_app(settings), settings=settings) as server:
            for n, email in enumerate(["sarah@example.com", "noah@example.org", "lena@example.net", "omar@example.com"]):
                send(server.url, reshape_lead(f"RS-{100 + n}", email=email))
            vendors.reshape.script(Fault.error(400))
            send(server.url, reshape_lead("RS-200", email="dead.letter@example.com"))
            bad = {"leadId": "L", "currency": "USD", "value": 1, "lead": {"birthDate": "2021-02-30"}}
            for n in range(12):
                batch = {"events": [{"id": f"bad-{n}", "dialect": "croct", "type": "leadGenerated", "payload": bad}]}
                send(server.url, batch)
            send(server.url, {"events": [{"id": "bad-x", "dialect": "reshape", "payload": {"event": {"name": "lead_created"}}}]})
            store = server.app.state.service.store
            wait_until(lambda: store.destination_counts().get("reshape", {}).get("dead") == 1, "the dead letter")
            wait_until(lambda: not store.destination_counts()["reshape"].get("pending"), "the deliveries")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"{server.url}/admin/login")
                page.fill("input[name=token]", ADMIN_TOKEN)
                page.click("button[type=submit]")
                page.wait_for_selector("h1:has-text('Overview')")
                time.sleep(0.2)
                page.screenshot(path=str(OUT / "console.png"), full_page=True)
                browser.close()
    print(f"wrote {OUT / 'console.png'}")


if __name__ == "__main__":
    main()
