"""Fake vendors on loopback for delivery tests: strict, recording, and misbehaving on demand."""

from __future__ import annotations

from typing import Any

from tests.fakes.vendors import FAKE_PACE, Fault, FakeDub, FakePimms, FakeReshape, FakeVendor, Received
from tests.support.live import LiveServer

DUB_KEY = "dub_test_9f8e7d6c5b4a"
PIMMS_KEY = "pimms_test_1a2b3c4d5e6f"
RESHAPE_TOKEN = "dre_token_0a1b2c3d4e5f"
RESHAPE_SCRIPT = "ABCD1234"


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

    def env(self) -> dict[str, str]:
        """The same, as LEADRELAY_* environment variables (for a `leadrelay serve` subprocess)."""
        return {f"LEADRELAY_{k.upper()}": str(v) for k, v in self.settings().items()}


__all__ = ["DUB_KEY", "Fault", "FakeDub", "FakePimms", "FakeReshape", "FakeVendor", "PIMMS_KEY", "RESHAPE_SCRIPT", "RESHAPE_TOKEN", "Received", "Vendors"]
