"""Dub's dedup: a lead it already had is recorded as deduplicated.

Dub keeps customer id + event name 7 days and answers a repeat with 200 and `link: null`,
recording nothing.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest

from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.store import SqlStore
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead, states

Make = Callable[..., Settings]
DUB_ONLY = {"pimms_api_key": None, "reshape_access_token": None}


@pytest.fixture
def dub_only(delivery_settings: Make, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Dub alone, its deliveries one at a time (in order), and the CLI on the same database and key."""
    s = delivery_settings(**DUB_ONLY, delivery_concurrency=1)
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    monkeypatch.setenv("LEADRELAY_DUB_API_KEY", s.dub_api_key.get_secret_value())  # type: ignore[union-attr]
    return s


async def test_a_lead_dub_already_had_is_recorded_as_deduplicated_and_listed(
    store: SqlStore, dub_only: Settings, vendors: Vendors, capsys: pytest.CaptureFixture[str]
) -> None:
    again = lead(2)
    again["payload"]["lead"]["email"] = "carol1@example.com"  # the customer of lead(1): its customer id
    first, again = enqueue(store, dub_only, [lead(1), again])
    await deliver_all(dub_only, store)
    assert states(store)["dub"] == {"delivered": 1, "deduplicated": 1}
    assert vendors.dub.recorded_count == 1

    assert cli(["deliveries", "--state", "deduplicated"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert again.id in line and " deduplicated " in line and "status=200" in line
    assert "Dub answered link: null" in line and "recorded nothing new" in line
    assert cli(["deliveries", "--state", "all", "--json"]) == 0
    rows = {row["event_id"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows[first.id]["state"] == "delivered" and rows[first.id]["response"]["link"] is not None
    assert rows[again.id]["state"] == "deduplicated" and rows[again.id]["response"]["link"] is None
