"""Dub's dedup: a lead it already had is recorded as deduplicated, and `replay` will not burn a lead Dub remembers.

Dub keeps customer id + event name 7 days and answers a repeat with 200 and `link: null`,
recording nothing. It writes that key before it looks for the click, so after a 404 for
an unknown click the same lead is a "repeat" for 7 days, however corrected.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Callable

import pytest

from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.sandbox.vendors import Fault
from leadrelay.store import SqlStore
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead, states

Make = Callable[..., Settings]
DUB_ONLY = {"pimms_api_key": None, "reshape_access_token": None}
DAY = 86400


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


async def test_replay_leaves_a_dub_click_404_younger_than_7_days_dead_and_says_what_to_do(
    store: SqlStore, dub_only: Settings, vendors: Vendors, capsys: pytest.CaptureFixture[str]
) -> None:
    vendors.dub.known_clicks = set()  # Dub does not know the click yet: 404, dead at once
    [unknown] = enqueue(store, dub_only, [lead(1)])
    await deliver_all(dub_only, store)
    vendors.dub.known_clicks = None  # now it does (a click Dub records late, a corrected click id ...)
    vendors.dub.outage = Fault.error(500)  # another dead letter: given up after an outage
    giving_up = dub_only.model_copy(update={"max_attempts": 1, "retry_window_s": 0.001})
    [failed] = enqueue(store, giving_up, [lead(2)])
    await deliver_all(giving_up, store)
    vendors.dub.outage = None
    assert states(store)["dub"] == {"dead": 2}
    capsys.readouterr()

    assert cli(["replay", "--all"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["re-queued 1 dead-lettered deliveries"]  # the 500, not the 404
    assert "warning: 1 Dub dead letter(s) left dead" in err
    assert "answered 200 with link: null" in err and "--force" in err
    forgotten = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * DAY))
    assert f"{unknown.id}  replay after {forgotten}" in err
    await deliver_all(dub_only, store)
    assert {r.event_id: r.state for r in store.list_deliveries()} == {unknown.id: "dead", failed.id: "delivered"}

    # --force replays it anyway, and shows why it should not have: Dub records nothing.
    assert cli(["replay", "--event", unknown.id, "--force"]) == 0
    assert capsys.readouterr().out.splitlines() == ["re-queued 1 dead-lettered deliveries"]
    await deliver_all(dub_only, store)
    [row] = store.list_deliveries(event_id=unknown.id)
    assert row.state == "deduplicated"
    assert vendors.dub.recorded_count == 1  # the other event's lead only


async def test_a_dub_click_404_older_than_7_days_is_replayed(
    store: SqlStore, dub_only: Settings, vendors: Vendors, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    vendors.dub.known_clicks = set()
    [event] = enqueue(store, dub_only, [lead(1)])
    await deliver_all(dub_only, store)
    # Eight days later: Dub has forgotten the lead, and the click is known.
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE deliveries SET updated_at = updated_at - ?", (8 * DAY,))
    vendors.dub.clock = lambda: time.time() + 8 * DAY
    vendors.dub.known_clicks = None

    assert cli(["replay", "--destination", "dub"]) == 0
    out, err = capsys.readouterr()
    assert (out.splitlines(), err) == (["re-queued 1 dead-lettered deliveries"], "")
    await deliver_all(dub_only, store)
    assert [r.state for r in store.list_deliveries(event_id=event.id)] == ["delivered"]
    assert vendors.dub.recorded_count == 1
