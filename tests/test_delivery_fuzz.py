"""Generated fault schedules at a vendor: whatever mix of errors, rate limits and dropped connections it
answers with, every delivery ends delivered or dead-lettered, each event reaches the vendor at most once,
and only a refusal (4xx) dead-letters.

Derandomized like the other tests/*fuzz.py; LEADRELAY_FUZZ_EXAMPLES runs more, fresh examples.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from hypothesis import given
from hypothesis import strategies as st

from leadrelay.config import Settings
from leadrelay.sandbox.vendors import Fault
from leadrelay.store import SqlStore
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead
from tests.support.fuzz import fuzz_settings

EVENTS = 5  # more events than faults: every scripted fault is met by some request
TRANSIENT = [Fault.error(500), Fault.error(502), Fault.error(503), Fault.error(408), Fault.drop(), Fault.error(429, retry_after=0)]
REFUSALS = [Fault.error(400), Fault.error(404), Fault.error(409), Fault.error(422)]


@fuzz_settings(20)
@given(faults=st.lists(st.sampled_from(TRANSIENT + REFUSALS), max_size=EVENTS - 1))
def test_any_fault_schedule_ends_delivered_or_dead_and_never_twice(
    store: SqlStore, delivery_settings: Callable[..., Settings], vendors: Vendors, faults: list[Fault]
) -> None:
    s = delivery_settings(pimms_api_key=None, reshape_access_token=None, delivery_concurrency=2)
    envelopes = [lead(i) for i in range(EVENTS)]
    for envelope in envelopes:  # the vendor sees this as customerExternalId: it tells this example's events apart
        envelope["payload"]["userId"] = envelope["id"]
    enqueue(store, s, envelopes)
    ids = {e["id"] for e in envelopes}
    vendors.dub.script(*faults)

    asyncio.run(deliver_all(s, store))
    rows = [row for i in ids for row in store.list_deliveries(event_id=i)]
    refused = sum(1 for f in faults if f in REFUSALS)
    assert sorted(row.state for row in rows) == sorted(["dead"] * refused + ["delivered"] * (EVENTS - refused))
    assert all(row.last_status in (400, 404, 409, 422) for row in rows if row.state == "dead")
    mine = [body["customerExternalId"] for body in vendors.dub.accepted if body["customerExternalId"] in ids]
    assert len(mine) == len(set(mine)) == EVENTS - refused  # accepted once each, never twice
