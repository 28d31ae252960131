"""A live leadrelay with its worker, delivering to the strict fake vendors: what a site's backend talks to.

The vendor API tests (tests/test_vendor_api_*.py) call it with clients no one here wrote
(the official dub SDKs, Reshape's curl) and read what the fakes received; the forged-click
and end-to-end tests (tests/test_trust.py, tests/browser/) send it visitors, raw or in Chromium,
through the pages it serves as a test site (tests/browser/snippet_site.py).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from leadrelay.config import Settings
from tests.browser.snippet_site import Site
from tests.fakes import Vendors


class Relay(Site):
    """The test site with its delivery worker on (unless a test turns it off), delivering to `vendors`."""

    def __init__(self, settings: Settings, vendors: Vendors) -> None:
        super().__init__(settings)
        self.vendors = vendors

    def stored_text(self) -> str:
        """Every row of every table, as text: what a key must never be found in."""
        store = self.store
        rows = []
        for table in ("events", "deliveries", "rejections", "rejection_tallies", "destination_health"):
            rows.extend(str(tuple(r)) for r in store._run(f"SELECT * FROM {table}").fetchall())
        store._end_read()
        return "\n".join(rows)


@pytest.fixture
def start_relay(
    delivery_settings: Callable[..., Settings], vendors: Vendors, request: pytest.FixtureRequest
) -> Callable[..., Relay]:
    """`start_relay(**settings)`: a started Relay on the fakes with fast retries (settings override), stopped after the test."""

    def start(**overrides: Any) -> Relay:
        relay = Relay(delivery_settings(**overrides), vendors).start()
        request.addfinalizer(relay.stop)
        return relay

    return start


@pytest.fixture
def relay(start_relay: Callable[..., Relay]) -> Relay:
    return start_relay()
