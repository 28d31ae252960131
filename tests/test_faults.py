"""Every misbehaviour of a vendor ends delivered or dead-lettered as specified; a replay after recovery delivers."""

from __future__ import annotations

from typing import Callable

import pytest

from leadrelay.config import Settings
from leadrelay.sandbox.live import free_port
from leadrelay.sandbox.vendors import Fault
from leadrelay.store import SqlStore
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead

Make = Callable[..., Settings]
DUB_ONLY = {"pimms_api_key": None, "reshape_access_token": None}


def dub_row(store: SqlStore):  # type: ignore[no-untyped-def]
    [row] = store.list_deliveries(destination="dub")
    return row


@pytest.mark.parametrize(
    "fault",
    [Fault.error(500), Fault.error(502), Fault.error(503), Fault.error(408), Fault.drop(), Fault.slow(1.0)],
    ids=["500", "502", "503", "408", "dropped-connection", "slower-than-the-timeout"],
)
async def test_transient_faults_are_retried_until_delivered(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, fault: Fault
) -> None:
    s = delivery_settings(**DUB_ONLY, delivery_timeout_s=0.5)
    vendors.dub.script(fault, fault)
    [event] = enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    row = dub_row(store)
    if fault.kind == "slow":  # Dub recorded the lead after the first attempt had timed out: the retry is its repeat
        assert (row.state, row.attempts, row.last_status) == ("deduplicated", 3, 200)
        assert row.response["link"] is None and "link: null" in row.last_error
    else:
        assert (row.state, row.attempts, row.last_status, row.last_error) == ("delivered", 3, 200, None)
    assert row.response["click"]["id"] == event.click_ids.get("dub")
    assert vendors.dub.count == 3
    assert vendors.dub.recorded_count == 1  # one lead at Dub, whichever attempt recorded it


async def test_429_waits_as_long_as_retry_after_says(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(**DUB_ONLY, retry_max_delay_s=5)  # Retry-After is honoured up to the longest back-off
    vendors.dub.script(Fault.error(429, retry_after=1))
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    assert dub_row(store).state == "delivered"
    first, second = vendors.dub.requests
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0  # the back-off alone would have retried after at most 0.05 s


@pytest.mark.parametrize(("status", "code"), [(400, "bad_request"), (404, "not_found"), (409, "conflict"), (410, "invite_expired"), (422, "unprocessable_entity")])
async def test_other_4xx_are_dead_at_once_with_the_vendors_message(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, status: int, code: str
) -> None:
    s = delivery_settings(**DUB_ONLY)
    vendors.dub.script(Fault.error(status))
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    row = dub_row(store)
    assert (row.state, row.attempts, row.last_status) == ("dead", 1, status)
    assert row.last_error == f"HTTP {status} {code}: injected fault"
    assert row.response["error"]["code"] == code
    assert vendors.dub.count == 1


async def test_a_request_the_vendor_rejects_is_dead_with_its_reason(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(**DUB_ONLY)
    vendors.dub.known_clicks = set()
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    row = dub_row(store)
    assert (row.state, row.attempts, row.last_status) == ("dead", 1, 404)
    assert row.last_error.startswith("HTTP 404 not_found: Click event not found for clickId: dubclick1")


async def test_gives_up_after_max_attempts_and_the_window(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    # The window is over at once: max_attempts decides.
    s = delivery_settings(**DUB_ONLY, max_attempts=4, retry_window_s=0.001)
    vendors.dub.outage = Fault.error(503)
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    row = dub_row(store)
    assert (row.state, row.attempts, row.last_status) == ("dead", 4, 503)
    assert row.last_error.startswith("gave up after 4 attempts")
    assert row.last_error.endswith("last error: HTTP 503 internal_server_error: injected fault")


async def test_attempts_alone_do_not_give_up_while_the_window_is_open(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(**DUB_ONLY, max_attempts=2, retry_window_s=1.0)
    vendors.dub.outage = Fault.error(500)
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    row = dub_row(store)
    assert row.state == "dead"
    assert row.attempts > 2


async def test_connection_refused_is_retried_then_dead(store: SqlStore, delivery_settings: Make) -> None:
    s = delivery_settings(**DUB_ONLY, dub_base_url=f"http://127.0.0.1:{free_port()}", max_attempts=3, retry_window_s=0.001)
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    row = dub_row(store)
    assert (row.state, row.attempts, row.last_status) == ("dead", 3, None)
    assert "connection error" in row.last_error


async def test_a_replay_after_the_vendor_recovers_delivers(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(max_attempts=2, retry_window_s=0.001)
    vendors.dub.outage = Fault.error(500)
    vendors.reshape.outage = Fault.drop()
    events = enqueue(store, s, [lead(i) for i in range(5)])
    await deliver_all(s, store)
    counts = store.delivery_counts()
    assert counts["dub"] == {"dead": 5} and counts["reshape"] == {"dead": 5} and counts["pimms"] == {"delivered": 5}
    vendors.dub.outage = vendors.reshape.outage = None
    assert store.replay(destination="dub") == 5
    assert store.replay(destination="reshape") == 5
    await deliver_all(s, store)
    assert store.delivery_counts() == {name: {"delivered": 5} for name in ("dub", "pimms", "reshape")}
    assert sorted(b["customerExternalId"] for b in vendors.dub.accepted) == sorted(e.customer.email for e in events)
    assert len(vendors.pimms.requests) == 5  # delivered ones were not sent again
