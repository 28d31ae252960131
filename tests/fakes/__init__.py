"""The sandbox's fake vendors (leadrelay.sandbox) on loopback for delivery tests, each on its own LiveServer."""

from __future__ import annotations

import base64
import json
from typing import Any

from leadrelay.sandbox.credentials import DUB_KEY, PIMMS_KEY, RESHAPE_SCRIPT, RESHAPE_TOKEN, WEBHOOK_SECRET
from leadrelay.sandbox.live import LiveServer
from leadrelay.sandbox.vendors import FAKE_PACE, FakeDub, FakePimms, FakeReshape
from leadrelay.sandbox.webhook import FakeWebhook

OTHER_SECRET = "whsec_" + base64.b64encode(b"another-sites-webhook-secret-32b").decode()


class Vendors:
    """The three fakes, each on its own LiveServer; `settings()` points leadrelay at them."""

    def __init__(self) -> None:
        self.dub = FakeDub(credential=DUB_KEY)
        self.pimms = FakePimms(credential=PIMMS_KEY)
        self.reshape = FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT)
        self.servers = {name: LiveServer(getattr(self, name)) for name in ("dub", "pimms", "reshape")}

    def __enter__(self) -> Vendors:
        for server in self.servers.values():
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.stop()

    def settings(self) -> dict[str, Any]:
        return {
            "dub_api_key": DUB_KEY,
            "dub_base_url": self.servers["dub"].url,
            "pimms_api_key": PIMMS_KEY,
            "pimms_base_url": self.servers["pimms"].url,
            "reshape_base_url": self.servers["reshape"].url,
            "reshape_script_id": RESHAPE_SCRIPT,
            "reshape_access_token": RESHAPE_TOKEN,
            # The fakes take any pace unless given a rate limit: pace far above what a test sends.
            "dub_rate_per_minute": FAKE_PACE,
            "pimms_rate_per_minute": FAKE_PACE,
            "reshape_rate_per_minute": FAKE_PACE,
        }

    def sent(self) -> str:
        """Every body any vendor received, as text: what a forged value must never be found in."""
        return json.dumps([request.body for fake in (self.dub, self.pimms, self.reshape) for request in fake.requests])

    def env(self) -> dict[str, str]:
        """The same, as LEADRELAY_* environment variables (for a `leadrelay serve` subprocess)."""
        return {f"LEADRELAY_{k.upper()}": str(v) for k, v in self.settings().items()}


class Receiver:
    """A FakeWebhook on its own LiveServer; `settings()` points leadrelay's webhook at it."""

    def __init__(self, verifies_with: str = WEBHOOK_SECRET, raw: bool = False) -> None:
        self.fake = FakeWebhook(credential=verifies_with, raw=raw)
        self.server = LiveServer(self.fake)

    def __enter__(self) -> Receiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"{self.server.url}{self.fake.path}"

    def settings(self) -> dict[str, Any]:
        return {"webhook_url": self.url, "webhook_secret": WEBHOOK_SECRET, "webhook_rate_per_minute": FAKE_PACE}
