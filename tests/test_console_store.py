"""The console's store queries (leadrelay.store.views.ConsoleViews), on SQLite and PostgreSQL: what they find,
and on SQLite that they read through their indexes, however many rows the store holds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from leadrelay.store import Finish, Rejected, SqlStore, open_store
from leadrelay.dialects.base import FieldError
from tests.support.arrivals import accepted, request_seen
from tests.support.clock import FakeClock


@pytest.fixture
def store(both_stores: SqlStore) -> SqlStore:
    return both_stores


def lead(event_id: str, email: str = "carol@example.com", customer: str = "cust-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "dialect": "reshape",
        "payload": {"event": {"name": "lead_created", "currency": "USD", "id": event_id}, "user": {"id": customer, "email": email}},
    }


def put(store: SqlStore, event_id: str, at: float, destinations: tuple[str, ...] = ("reshape",), **kw: Any) -> None:
    store.write_intake([accepted(lead(event_id, **kw), destinations, request_seen(received_at=at))])


def test_events_since_are_oldest_first_and_bounded(store: SqlStore) -> None:
    for n in range(5):
        put(store, f"e{n}", 1000.0 + n)
    assert [r.id for r in store.events_since(1001.0, 3)] == ["e1", "e2", "e3"]
    assert [r.id for r in store.newest_events(2)] == ["e4", "e3"]
    assert store.stored_event("e2").received_at == 1002.0
    assert store.stored_event("nope") is None


def test_events_containing_takes_wildcards_literally(store: SqlStore) -> None:
    put(store, "a", 1.0, email="x_y@example.com")
    put(store, "b", 2.0, email="xzy@example.com")
    assert [r.id for r in store.events_containing("x_y@", 10)] == ["a"]
    assert store.events_containing("%", 10) == []
    assert [r.id for r in store.events_containing("example.com", 10, scan=1)] == ["b"]  # only the newest scanned


def test_destination_counts_tell_retrying_from_pending(store: SqlStore, clock: FakeClock) -> None:
    for n in range(4):
        put(store, f"e{n}", clock() + n)
    claims = store.claim("w", 10, 60)
    by_event = {c.event_id: c for c in claims}
    store.finish_many(
        "w",
        [
            Finish(by_event["e0"], "delivered", 200, None),
            Finish(by_event["e1"], "dead", 400, "bad_request: nope"),
            Finish(by_event["e2"], "pending", 503, "unavailable", next_attempt_at=clock() + 60),
        ],
    )
    store.release([by_event["e3"]], "w")
    assert store.destination_counts() == {"reshape": {"delivered": 1, "dead": 1, "retrying": 1, "pending": 1}}
    assert [d.event_id for d in store.newest_dead("reshape", 10)] == ["e1"]
    last = store.last_failure("reshape")
    assert last is not None and last.event_id == "e2" and last.last_status == 503
    hours = [clock() // 3600 * 3600]
    assert store.outcomes_by_hour(hours) == [{"delivered": 1, "dead": 1, "retrying": 1, "pending": 1}]
    assert store.leads_by_hour(hours) == [{"reshape": 4}]
    assert store.leads_by_hour([hours[0] - 3600]) == [{}]


def test_rejections_and_tallies(store: SqlStore) -> None:
    error = FieldError(path="lead.birthDate", message="must be a real date in YYYY-MM-DD", rule="date")
    kept = Rejected("r1", "croct", [error], '{"raw": 1}', 5000.0, source="203.0.113.9", shape="croct: date")
    counted = [Rejected(None, "croct", [error], "", 5000.0, source="203.0.113.9", shape="croct: date", kept=False)] * 3
    store.write_intake([kept, *counted])
    [newest] = store.newest_rejections(10)
    assert newest["errors"][0]["path"] == "lead.birthDate"
    assert store.rejection(newest["id"])["raw"] == '{"raw": 1}'
    assert store.tallies_by_shape(0, 10) == [("croct: date", 3)]


def plan(store: SqlStore, query: str, params: tuple[Any, ...] = ()) -> str:
    rows = store._run("EXPLAIN QUERY PLAN " + query, params).fetchall()
    store._end_read()
    return " | ".join(str(r["detail"]) for r in rows)


def test_the_console_reads_through_indexes(db_url: str) -> None:
    """What keeps each page fast with a million rows: index seeks, never a scan or a sort of a table."""
    store = open_store(db_url)
    store.setup()
    newest = plan(store, "SELECT id FROM events ORDER BY received_at DESC LIMIT 10")
    assert "events_received" in newest and "TEMP B-TREE" not in newest
    since = plan(store, "SELECT id FROM events WHERE received_at >= ? ORDER BY received_at, id LIMIT 10", (1.0,))
    assert "events_received" in since and "TEMP B-TREE" not in since
    dead = plan(store, "SELECT id FROM deliveries WHERE destination = ? AND state = 'dead' ORDER BY id DESC LIMIT 5", ("dub",))
    assert "deliveries_dead" in dead and "TEMP B-TREE" not in dead
    retrying = plan(
        store, "SELECT destination, COUNT(*) FROM deliveries WHERE state = 'pending' AND attempts > 0 GROUP BY destination"
    )
    assert "deliveries_due (state=?)" in retrying or "deliveries_backlog" in retrying
    outcomes = plan(
        store,
        "SELECT d.state, COUNT(*) FROM events e JOIN deliveries d ON d.event_id = e.id"
        " WHERE e.received_at >= ? AND e.received_at < ? GROUP BY d.state",
        (1.0, 2.0),
    )
    assert "events_received" in outcomes and "SCAN d" not in outcomes
    store.close()


def test_replay_shares_the_clis_dub_rule(store: SqlStore, clock: FakeClock) -> None:
    from leadrelay.replay import replay_dead

    put(store, "d1", clock(), destinations=("dub",))
    put(store, "d2", clock() + 1, destinations=("dub",))
    claims = {c.event_id: c for c in store.claim("w", 10, 60)}
    store.finish_many(
        "w",
        [
            Finish(claims["d1"], "dead", 404, "not_found: clickId abc not found"),
            Finish(claims["d2"], "dead", 400, "bad_request: other"),
        ],
    )
    replayed = replay_dead(store, destination="dub")
    assert replayed.count == 1 and [event for event, _ in replayed.held.values()] == ["d1"]
    assert replay_dead(store, destination="dub", force=True).count == 1
    assert store.destination_counts() == {"dub": {"pending": 2}}


def test_uuid_ids_are_found_exactly(store: SqlStore) -> None:
    event_id = str(uuid.uuid4())
    put(store, event_id, 1.0)
    assert store.stored_event(event_id).id == event_id
