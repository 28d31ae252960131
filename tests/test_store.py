"""The store's semantics, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from leadrelay.arrival import dump_arrival
from leadrelay.protocol import FieldError
from leadrelay.store import Finish, Rejected, SqlStore, open_store
from tests.support.arrivals import accepted, request_seen
from tests.support.clock import FakeClock


@pytest.fixture
def store(both_stores: SqlStore) -> SqlStore:
    """The store on SQLite, then on PostgreSQL (tests/support/stores.py)."""
    return both_stores


def envelope(event_id: str | None = None, lead_id: str = "lead-1") -> dict[str, Any]:
    """A croct leadGenerated event as the snippet sends it."""
    return {
        "id": event_id or uuid.uuid4().hex,
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": {"leadId": lead_id, "currency": "USD", "value": 100, "lead": {"email": "carol@example.com"}},
    }


def test_setup_is_idempotent(store: SqlStore) -> None:
    store.setup()
    store.setup()
    assert store.count("events") == 0


def test_event_and_its_deliveries_are_written_together(store: SqlStore) -> None:
    seen = request_seen()
    e = accepted(envelope(lead_id="lead-7"), ["dub", "reshape"], seen)
    assert store.write_intake([e]) == [True]
    read = store.get_event(e.id)
    assert (read.id, read.name, read.source_id, read.value) == (e.id, "leadGenerated", "lead-7", 100)
    assert (read.visitor_id, read.received_at, read.customer.email) == (seen.visitor_id, seen.received_at, "carol@example.com")
    rows = store.list_deliveries(event_id=e.id)
    assert sorted(r.destination for r in rows) == ["dub", "reshape"]
    assert {r.state for r in rows} == {"pending"}


def test_duplicate_ids_are_stored_once_and_schedule_nothing_more(store: SqlStore) -> None:
    e = envelope()
    assert store.write_intake([accepted(e, ["dub"]), accepted(e, ["dub"])]) == [True, False]
    assert store.write_intake([accepted(e, ["dub"])]) == [False]
    assert store.count("events") == 1
    assert store.count("deliveries") == 1


def test_a_group_mixing_stored_and_new_ids_stores_only_the_new(store: SqlStore) -> None:
    old, new1, new2 = envelope(), envelope(), envelope(lead_id="lead-new2")
    store.write_intake([accepted(old, ["dub"])])
    group = [accepted(new1, ["dub"]), accepted(old, ["dub", "reshape"]), accepted(new2, ["pimms"])]
    assert store.write_intake(group) == [True, False, True]
    assert store.count("events") == 3
    assert sorted((r.event_id, r.destination) for r in store.list_deliveries()) == sorted(
        [(old["id"], "dub"), (new1["id"], "dub"), (new2["id"], "pimms")]
    )
    assert store.get_event(new2["id"]).source_id == "lead-new2"


def test_a_failed_group_stores_nothing(store: SqlStore) -> None:
    good, broken = accepted(envelope(), ["dub"]), accepted(envelope(), ["dub", "dub"])  # one delivery twice
    with pytest.raises(Exception):
        store.write_intake([good, broken])
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
    sent = {"name": "lead\x00created", "properties": {"note": "a\x00b"}}
    named = accepted({"id": uuid.uuid4().hex, "dialect": "reshape", "payload": {"event": sent}}, ["dub"])
    errors = [FieldError(path="id", message="must match", rule="string_pattern_mismatch")]
    store.write_intake([named, Rejected(event_id="x\x00", dialect="croct", errors=errors, raw="{}", received_at=1.0)])
    read = store.get_event(named.id)
    assert (read.name, read.properties) == ("lead\x00created", {"note": "a\x00b"})
    [claim] = store.claim("w", limit=10, lease_s=10)
    assert store.finish_many("w", [Finish(claim, "dead", 400, "the vendor said \x00")]) == 1
    [row] = store.list_deliveries(event_id=named.id)
    [rejection] = store.list_rejections()
    if store.backend.name == "postgresql":
        assert row.last_error == "the vendor said \ufffd" and rejection["event_id"] == "x\ufffd"
    else:
        assert row.last_error == "the vendor said \x00" and rejection["event_id"] == "x\x00"


def test_claim_is_exclusive_until_the_lease_expires(store: SqlStore, clock: FakeClock) -> None:
    e = accepted(envelope(), ["dub"])
    store.write_intake([e])
    [claim] = store.claim("w1", limit=10, lease_s=20)
    assert claim.event == store.get_event(e.id)
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
    store.write_intake([accepted(envelope(), ["dub"]), accepted(envelope(), ["dub"])])
    c1, c2 = store.claim("w", limit=10, lease_s=10)
    assert store.finish_many("w", [Finish(c1, "delivered", 200, None), Finish(c2, "dead", 400, "bad_request: clickId")]) == 2
    assert store.claim("w", limit=10, lease_s=10) == []
    assert store.replay() == 1
    [claim] = store.claim("w", limit=10, lease_s=10)
    assert claim.event_id == c2.event_id
    assert claim.attempts == 0


def test_retry_waits_for_its_time(store: SqlStore, clock: FakeClock) -> None:
    store.write_intake([accepted(envelope(), ["dub"])])
    [claim] = store.claim("w", limit=10, lease_s=10)
    store.finish_many("w", [Finish(claim, "pending", 503, "unavailable", next_attempt_at=clock() + 30)])
    clock.advance(29)
    assert store.claim("w", limit=10, lease_s=10) == []
    clock.advance(2)
    [again] = store.claim("w", limit=10, lease_s=10)
    assert again.attempts == 1


def test_replay_by_destination_and_event(store: SqlStore) -> None:
    e1, e2 = accepted(envelope(), ["dub", "pimms"]), accepted(envelope(), ["dub"])
    store.write_intake([e1, e2])
    store.finish_many("w", [Finish(c, "dead", 404, "not_found") for c in store.claim("w", limit=10, lease_s=10)])
    assert store.replay(destination="pimms") == 1
    assert store.replay(event_id=e2.id) == 1
    assert store.replay(destination="dub", event_id=e1.id) == 1
    assert store.replay() == 0


def dub(payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "dialect": "dub", "payload": payload}


def test_arrivals_are_read_as_their_events(store: SqlStore) -> None:
    stored = accepted(dub({"clickId": "c1", "eventName": "Sign up", "customerExternalId": "cus_1"}), ["dub"])
    store.write_intake([stored])
    [claim] = store.claim("w", limit=10, lease_s=10)
    assert (claim.event.id, claim.event.name, claim.event.click_ids.get("dub")) == (stored.id, "Sign up", "c1")
    assert store.get_event(stored.id) == claim.event


def test_an_arrival_this_version_cannot_read_is_dead_lettered_and_holds_up_nothing(store: SqlStore) -> None:
    # Accepted by an earlier version whose rules were looser (Dub caps eventQuantity at 100 today):
    # its row holds an envelope today's rules refuse.
    allowed = dub({"clickId": "c1", "eventName": "Sign up", "customerExternalId": "cus_1", "eventQuantity": 100})
    seen = request_seen()
    looser = {**allowed, "payload": {**allowed["payload"], "eventQuantity": 1000}}
    old = replace(accepted(allowed, ["dub"], seen), body=dump_arrival(looser, seen.as_json()))
    good = accepted(dub({"clickId": "c2", "eventName": "Sign up", "customerExternalId": "cus_2"}), ["dub"])
    store.write_intake([old, good])
    assert [c.event_id for c in store.claim("w", limit=10, lease_s=10)] == [good.id]
    [row] = store.list_deliveries(event_id=old.id)
    assert row.state == "dead"
    assert row.last_error == "the stored event cannot be read: eventQuantity: must be a whole number between 1 and 100"
    assert store.claim("w", limit=10, lease_s=10) == []


def test_claim_filters_destinations(store: SqlStore) -> None:
    store.write_intake([accepted(envelope(), ["dub", "reshape"])])
    claims = store.claim("w", limit=10, lease_s=10, destinations=["reshape"])
    assert [c.destination for c in claims] == ["reshape"]


def test_delivery_counts(store: SqlStore) -> None:
    store.write_intake([accepted(envelope(), ["dub", "reshape"]), accepted(envelope(), ["dub"])])
    assert store.delivery_counts() == {"dub": {"pending": 2}, "reshape": {"pending": 1}}


def test_open_store_rejects_unknown_urls() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        open_store("mysql://x")
    with pytest.raises(ValueError, match="in-memory"):
        open_store("sqlite:///:memory:")
