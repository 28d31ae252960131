"""A live leadrelay with its worker, delivering to the strict fake vendors: what a site's backend talks to.

The vendor API tests (tests/test_vendor_api_*.py) call it with clients no one here wrote
(the official dub SDKs, Reshape's curl) and read what the fakes received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.store import SqlStore
from tests.fakes import Vendors
from leadrelay.sandbox.live import LiveServer


@dataclass
class Relay:
    live: LiveServer
    vendors: Vendors
    settings: Settings

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def store(self) -> SqlStore:
        return self.live.app.state.service.store  # type: ignore[no-any-return]

    def stored_text(self) -> str:
        """Every row of every table, as text: what a key must never be found in."""
        store = self.store
        rows = []
        for table in ("events", "deliveries", "rejections", "rejection_tallies", "destination_health"):
            rows.extend(str(tuple(r)) for r in store._run(f"SELECT * FROM {table}").fetchall())
        store._end_read()
        return "\n".join(rows)


@pytest.fixture
def start_relay(delivery_settings: Callable[..., Settings], vendors: Vendors) -> Iterator[Callable[..., Relay]]:
    """`start_relay(**settings)`: a live leadrelay on the fakes (settings override the tests' defaults)."""
    started: list[LiveServer] = []

    def start(**overrides: Any) -> Relay:
        settings = delivery_settings(**overrides)
        live = LiveServer(create_app(settings), settings=settings).start()
        started.append(live)
        return Relay(live, vendors, settings)

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def relay(start_relay: Callable[..., Relay]) -> Relay:
    return start_relay()
