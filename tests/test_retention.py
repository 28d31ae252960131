"""Retention: delivered events, rejections and clicks go after their own periods, in small batches; dead letters stay."""

from __future__ import annotations

import time
from typing import Any, Callable

from leadrelay.config import Settings
from leadrelay.maintenance import Maintenance
from leadrelay.protocol import FieldError
from leadrelay.store import Click, Finish, Rejected, SqlStore
from tests.support.arrivals import accepted, request_seen
from tests.test_erasure import croct
from tests.test_tallies import agree

DAY = 86400
Make = Callable[..., Settings]
ERRORS = [FieldError(path="value", message="must be a number", rule="float_type")]


def events(store: SqlStore, n: int, received_at: float, destinations: list[str]) -> list[str]:
    rows = [accepted(croct(f"r{i}@example.com"), destinations, request_seen(received_at=received_at)) for i in range(n)]
    store.write_intake(rows)
    return [r.id for r in rows]


def finish_all(store: SqlStore, state: str, destination: str) -> None:
    claims = store.claim("w", limit=10_000, lease_s=60, destinations=[destination])
    store.finish_many("w", [Finish(c, state, 200 if state == "delivered" else 400, None) for c in claims])


async def test_delivered_events_go_after_retention_days_in_batches_and_the_rest_stays(
    both_stores: SqlStore, make_settings: Make
) -> None:
    store, now = both_stores, time.time()
    old_done = events(store, 23, now - 40 * DAY, ["dub"])  # delivered: purged
    finish_all(store, "delivered", "dub")
    old_dead = events(store, 3, now - 40 * DAY, ["dub"])  # dead letters: stay until replayed or purged
    finish_all(store, "dead", "dub")
    old_waiting = events(store, 2, now - 40 * DAY, ["dub"])  # still waiting: stays
    old_none = events(store, 4, now - 40 * DAY, [])  # no destination: nothing left to do, purged
    recent = events(store, 5, now - 10 * DAY, ["pimms"])  # within retention_days
    finish_all(store, "delivered", "pimms")
    store.write_intake([Rejected("old", "croct", ERRORS, "{}", received_at=now - 8 * DAY) for _ in range(7)])
    store.write_intake([Rejected("new", "croct", ERRORS, "{}", received_at=now - 6 * DAY)])
    store.write_intake([Click(f"v{i}", "dub", f"c{i}", now - 100 * DAY) for i in range(9)])
    store.write_intake([Click("v-new", "dub", "c-new", now - 80 * DAY)])

    settings = make_settings(retention_days=30, rejection_retention_days=7, click_retention_days=90)
    purged = await Maintenance(settings, store, batch=4).run_once(now)
    assert (purged.events, purged.deliveries, purged.rejections, purged.clicks) == (27, 23, 7, 9)
    for event_id in old_done + old_none:
        assert store.get_event(event_id) is None
    for event_id in old_dead + old_waiting + recent:
        assert store.get_event(event_id) is not None
    assert agree(store) == {"dub": {"dead": 3, "pending": 2}, "pimms": {"delivered": 5}}
    assert [r["event_id"] for r in store.list_rejections()] == ["new"]
    assert store.count("clicks") == 1
    again = await Maintenance(settings, store, batch=4).run_once(now)
    assert not again  # nothing more to do, though 5 old events are still there (they are looked at each time)
    store.replay(destination="dub")
    finish_all(store, "delivered", "dub")  # the dead letters are replayed and delivered: now they go too
    assert (await Maintenance(settings, store, batch=4).run_once(now)).events == 5
    assert store.count("events") == 5


async def test_a_purge_in_progress_stops_between_batches(both_stores: SqlStore, make_settings: Make) -> None:
    now = time.time()
    events(both_stores, 10, now - 40 * DAY, [])
    maintenance = Maintenance(make_settings(), both_stores, batch=3)
    calls: list[Any] = []
    purge = both_stores.purge_events

    def counted(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:
            maintenance._stopping.set()  # stop() called while the second batch runs
        return purge(*args)

    both_stores.purge_events = counted  # type: ignore[method-assign]
    purged = await maintenance.run_once(now)
    assert len(calls) == 2 and purged.events == 6 and both_stores.count("events") == 4
