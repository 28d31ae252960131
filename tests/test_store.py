"""The store's semantics, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest

from leadrelay.arrival import Seen, dump_arrival
from leadrelay.event import LeadEvent
from leadrelay.protocol import FieldError
from leadrelay.store import Accepted, Finish, Rejected, SqlStore, open_store
from tests.support.clock import FakeClock, clock  # noqa: F401 (until conftest shares it)
from tests.support.postgres import needs_postgres, postgres_schema_url

@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=needs_postgres),
    ]
)
def store(request: pytest.FixtureRequest, db_url: str, clock: FakeClock) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = open_store(db_url, clock)
        s.setup()
        yield s
        s.close()
    else:
        with postgres_schema_url() as url:
            s = open_store(url, clock)
            s.setup()
            yield s
            s.close()


def event(event_id: str | None = None, name: str = "leadGenerated") -> LeadEvent:
    return LeadEvent(id=event_id or uuid.uuid4().hex, name=name, dialect="croct", received_at=time.time(), raw={"a": 1})


def test_setup_is_idempotent(store: SqlStore) -> None:
    store.setup()
    store.setup()
    assert store.count("events") == 0


def test_event_and_its_deliveries_are_written_together(store: SqlStore) -> None:
    e = event()
    assert store.write_intake([Accepted.of(e, ["dub", "reshape"])]) == [True]
    assert store.get_event(e.id) == e
    rows = store.list_deliveries(event_id=e.id)
    assert sorted(r.destination for r in rows) == ["dub", "reshape"]
    assert {r.state for r in rows} == {"pending"}


def test_duplicate_ids_are_stored_once_and_schedule_nothing_more(store: SqlStore) -> None:
    e = event()
    assert store.write_intake([Accepted.of(e, ["dub"]), Accepted.of(e, ["dub"])]) == [True, False]
    assert store.write_intake([Accepted.of(e, ["dub"])]) == [False]
    assert store.count("events") == 1
    assert store.count("deliveries") == 1


def test_a_group_mixing_stored_and_new_ids_stores_only_the_new(store: SqlStore) -> None:
    old, new1, new2 = event(), event(), event()
    store.write_intake([Accepted.of(old, ["dub"])])
    group = [Accepted.of(new1, ["dub"]), Accepted.of(old, ["dub", "reshape"]), Accepted.of(new2, ["pimms"])]
    assert store.write_intake(group) == [True, False, True]
    assert store.count("events") == 3
    assert sorted((r.event_id, r.destination) for r in store.list_deliveries()) == sorted(
        [(old.id, "dub"), (new1.id, "dub"), (new2.id, "pimms")]
    )
    assert store.get_event(new2.id) == new2


def test_a_failed_group_stores_nothing(store: SqlStore) -> None:
    good, broken = event(), event()
    with pytest.raises(Exception):
        store.write_intake([Accepted.of(good, ["dub"]), Accepted.of(broken, ["dub", "dub"])])  # one delivery twice
    assert store.get_event(good.id) is None
    assert store.count("events") == 0


def test_rejections_keep_errors_and_raw(store: SqlStore) -> None:
    errors = [FieldError(path="lead.avatar", message="must be a well-formed URL", rule="url")]
    store.write_intake([Rejected(event_id="x1", dialect="croct", errors=errors, raw='{"lead":{}}', received_at=1.0)])
    [row] = store.list_rejections()
    assert row["event_id"] == "x1"
    assert row["errors"] == [e.model_dump() for e in errors]
    assert row["raw"] == '{"lead":{}}'


def test_text_with_nul_characters_is_stored_on_either_database(store: SqlStore) -> None:
    """JSON strings may hold NUL; PostgreSQL text may not: text columns keep U+FFFD, stored JSON keeps it exactly."""
    named = LeadEvent(id=uuid.uuid4().hex, name="lead\x00created", dialect="reshape", raw={"note": "a\x00b"})
    errors = [FieldError(path="id", message="must match", rule="string_pattern_mismatch")]
    store.write_intake([Accepted.of(named, ["dub"]), Rejected(event_id="x\x00", dialect="croct", errors=errors, raw="{}", received_at=1.0)])
    assert store.get_event(named.id).raw == {"note": "a\x00b"}
    [claim] = store.claim("w", limit=10, lease_s=10)
    assert store.finish_many("w", [Finish(claim, "dead", 400, "the vendor said \x00")]) == 1
    [row] = store.list_deliveries(event_id=named.id)
    [rejection] = store.list_rejections()
    if store.backend.name == "postgresql":
        assert row.last_error == "the vendor said \ufffd" and rejection["event_id"] == "x\ufffd"
    else:
        assert row.last_error == "the vendor said \x00" and rejection["event_id"] == "x\x00"


def test_claim_is_exclusive_until_the_lease_expires(store: SqlStore, clock: FakeClock) -> None:
    e = event()
    store.write_intake([Accepted.of(e, ["dub"])])
    [claim] = store.claim("w1", limit=10, lease_s=20)
    assert claim.event == e
    clock.advance(19)
    assert store.claim("w2", limit=10, lease_s=20) == []
    clock.advance(2)
    [again] = store.claim("w2", limit=10, lease_s=10)
    assert again.delivery_id == claim.delivery_id
    # the first worker lost its lease: its late answer is not recorded
    assert store.finish_many("w1", [Finish(claim, "delivered", 200, None)]) == 0
    assert store.finish_many("w2", [Finish(again, "delivered", 200, None, response={"ok": True})]) == 1
    [row] = store.list_deliveries(event_id=e.id)
    assert (row.state, row.attempts, row.response) == ("delivered", 1, {"ok": True})


def test_delivered_rows_are_never_claimed_or_replayed(store: SqlStore) -> None:
    e1, e2 = event(), event()
    store.write_intake([Accepted.of(e1, ["dub"]), Accepted.of(e2, ["dub"])])
    c1, c2 = store.claim("w", limit=10, lease_s=10)
    assert store.finish_many("w", [Finish(c1, "delivered", 200, None), Finish(c2, "dead", 400, "bad_request: clickId")]) == 2
    assert store.claim("w", limit=10, lease_s=10) == []
    assert store.replay() == 1
    [claim] = store.claim("w", limit=10, lease_s=10)
    assert claim.event_id == c2.event_id
    assert claim.attempts == 0


def test_retry_waits_for_its_time(store: SqlStore, clock: FakeClock) -> None:
    e = event()
    store.write_intake([Accepted.of(e, ["dub"])])
    [claim] = store.claim("w", limit=10, lease_s=10)
    store.finish_many("w", [Finish(claim, "pending", 503, "unavailable", next_attempt_at=clock() + 30)])
    clock.advance(29)
    assert store.claim("w", limit=10, lease_s=10) == []
    clock.advance(2)
    [again] = store.claim("w", limit=10, lease_s=10)
    assert again.attempts == 1


def test_replay_by_destination_and_event(store: SqlStore) -> None:
    e1, e2 = event(), event()
    store.write_intake([Accepted.of(e1, ["dub", "pimms"]), Accepted.of(e2, ["dub"])])
    store.finish_many("w", [Finish(c, "dead", 404, "not_found") for c in store.claim("w", limit=10, lease_s=10)])
    assert store.replay(destination="pimms") == 1
    assert store.replay(event_id=e2.id) == 1
    assert store.replay(destination="dub", event_id=e1.id) == 1
    assert store.replay() == 0


def arrival(payload: dict[str, Any], dialect: str = "dub") -> Accepted:
    """An accepted envelope as the collector stores it."""
    envelope = {"id": uuid.uuid4().hex, "dialect": dialect, "payload": payload}
    seen = Seen(visitor_id="v1", received_at=time.time(), ip=None, user_agent=None, click_ids={})
    return Accepted(envelope["id"], dialect, "Sign up", "v1", seen.received_at, dump_arrival(envelope, seen.as_json()), ["dub"])


def test_arrivals_are_read_as_their_events(store: SqlStore) -> None:
    stored = arrival({"clickId": "c1", "eventName": "Sign up", "customerExternalId": "cus_1"})
    store.write_intake([stored])
    [claim] = store.claim("w", limit=10, lease_s=10)
    assert (claim.event.id, claim.event.name, claim.event.click_ids.get("dub")) == (stored.id, "Sign up", "c1")
    assert store.get_event(stored.id) == claim.event


def test_an_arrival_this_version_cannot_read_is_dead_lettered_and_holds_up_nothing(store: SqlStore) -> None:
    # Accepted by an earlier version whose rules were looser (Dub caps eventQuantity at 100 today).
    old = arrival({"clickId": "c1", "eventName": "Sign up", "customerExternalId": "cus_1", "eventQuantity": 1000})
    good = arrival({"clickId": "c2", "eventName": "Sign up", "customerExternalId": "cus_2"})
    store.write_intake([old, good])
    assert [c.event_id for c in store.claim("w", limit=10, lease_s=10)] == [good.id]
    [row] = store.list_deliveries(event_id=old.id)
    assert row.state == "dead"
    assert row.last_error == "the stored event cannot be read: eventQuantity: must be a whole number between 1 and 100"
    assert store.claim("w", limit=10, lease_s=10) == []


def test_claim_filters_destinations(store: SqlStore) -> None:
    store.write_intake([Accepted.of(event(), ["dub", "reshape"])])
    claims = store.claim("w", limit=10, lease_s=10, destinations=["reshape"])
    assert [c.destination for c in claims] == ["reshape"]


def test_delivery_counts(store: SqlStore) -> None:
    store.write_intake([Accepted.of(event(), ["dub", "reshape"]), Accepted.of(event(), ["dub"])])
    assert store.delivery_counts() == {"dub": {"pending": 2}, "reshape": {"pending": 1}}


def test_open_store_rejects_unknown_urls() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        open_store("mysql://x")
    with pytest.raises(ValueError, match="in-memory"):
        open_store("sqlite:///:memory:")
