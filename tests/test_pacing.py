"""Pacing: a destination is sent no faster than its rate setting, and slower when the vendor's headers say so.

Only lower bounds on time are asserted (a lane that waits at least so long); how fast a
backlog drains at the vendor's limit is measured by bench/pacing.py.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from leadrelay.config import Settings
from leadrelay.sandbox.vendors import Fault
from leadrelay.store import SqlStore
from leadrelay.worker import Worker
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead, states, wait_for

Make = Callable[..., Settings]
DUB_ONLY = {"pimms_api_key": None, "reshape_access_token": None}


async def test_a_lane_sends_no_faster_than_its_rate(store: SqlStore, delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings(**DUB_ONLY, dub_rate_per_minute=600)  # one request every 0.1 s
    enqueue(store, s, [lead(i) for i in range(11)])
    await deliver_all(s, store)
    assert states(store)["dub"] == {"delivered": 11}
    arrivals = [r.at for r in vendors.dub.requests]
    assert len(arrivals) == 11
    # Ten intervals of 0.1 s, less the 50 ms a late turn may be made up by, less the network's jitter
    # (unpaced, the eleven arrive within a few milliseconds).
    assert arrivals[-1] - arrivals[0] >= 0.8


async def test_a_lane_waits_when_the_vendor_says_the_keys_budget_is_spent(
    store: SqlStore, delivery_settings: Make, vendors: Vendors
) -> None:
    """X-RateLimit-Remaining 0: the next request waits for the budget to come back, so no 429 is ever answered."""
    vendors.dub.rate_limit, vendors.dub.rate_window_s = 4, 1.0  # 4 requests a second for the key
    # Paced at 10,000/s: only the headers slow it (and they may ask for up to retry_max_delay_s).
    s = delivery_settings(**DUB_ONLY, delivery_concurrency=1, retry_max_delay_s=5)
    enqueue(store, s, [lead(i) for i in range(10)])
    await deliver_all(s, store)
    assert states(store)["dub"] == {"delivered": 10}
    assert vendors.dub.rate_limited == 0
    assert vendors.dub.count == 10


async def test_after_a_429_the_whole_lane_waits_as_retry_after_says(
    store: SqlStore, delivery_settings: Make, vendors: Vendors
) -> None:
    s = delivery_settings(**DUB_ONLY, delivery_concurrency=1, retry_max_delay_s=5)
    vendors.dub.script(Fault.error(429, retry_after=1))
    enqueue(store, s, [lead(i) for i in range(3)])
    await deliver_all(s, store)
    assert states(store)["dub"] == {"delivered": 3}
    refused, *rest = vendors.dub.requests
    assert refused.status == 429 and [r.status for r in rest] == [200, 200, 200]
    assert min(r.at for r in rest) - refused.at >= 1.0  # the other events waited too, not only the refused one


@pytest.mark.parametrize(
    "header",
    [
        str(int((time.time() + 3 * 365 * 86400) * 1000)),  # Dub's form: an epoch time in ms, here 3 years ahead
        "99999999999",  # an epoch time in seconds, year 5138
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "86400000",  # 1,000 days
    ],
    ids=["epoch-ms", "epoch-s", "http-date", "seconds"],
)
async def test_a_retry_after_of_years_waits_the_longest_back_off_at_most(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, header: str
) -> None:
    s = delivery_settings(**DUB_ONLY, retry_max_delay_s=30)
    vendors.dub.script(Fault.error(429, retry_after=header))
    enqueue(store, s, [lead(1)])
    worker = Worker(s, store)
    await worker.start()
    try:
        await wait_for(lambda: store.list_deliveries(destination="dub")[0].attempts == 1, what="the 429 to be recorded")
    finally:
        await worker.stop()
    [row] = store.list_deliveries(destination="dub")
    assert (row.state, row.last_status) == ("pending", 429)
    assert row.next_attempt_at - row.updated_at <= 30.5
    assert row.next_attempt_at - row.updated_at >= 15  # still the longest back-off: the vendor asked for more
