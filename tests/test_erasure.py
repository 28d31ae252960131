"""Erasure: every row about one person goes, by email, customer id or visitor id; nobody else's does."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from leadrelay.protocol import FieldError
from leadrelay.store import Accepted, Click, Finish, Rejected, SqlStore
from tests.support.arrivals import accepted, request_seen

ERRORS = [FieldError(path="lead.email", message="must be an email address", rule="email")]


def croct(email: str | None = None, user_id: str | None = None, **lead: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"leadId": uuid.uuid4().hex[:8], "currency": "USD", "value": 10, "lead": dict(lead)}
    if email is not None:
        payload["lead"]["email"] = email
    if user_id is not None:
        payload["userId"] = user_id
    return {"id": uuid.uuid4().hex, "dialect": "croct", "type": "leadGenerated", "payload": payload}


def stored(store: SqlStore, envelope: dict[str, Any], visitor: str) -> Accepted:
    """Store an event of `visitor` with deliveries to Dub and Reshape, the Dub one attempted (its body kept)."""
    event = accepted(envelope, ["dub", "reshape"], request_seen(visitor_id=visitor))
    assert store.write_intake([event]) == [True]
    [claim] = store.claim("w", limit=10, lease_s=60, destinations=["dub"])
    body = json.dumps({"customerExternalId": envelope["payload"]["lead"].get("email"), "eventName": "Sign up"})
    store.finish_many("w", [Finish(claim, "delivered", 200, None, {"ok": True}, request=body)])
    return event


def rejected(store: SqlStore, raw: str, event_id: str | None = None) -> None:
    store.write_intake([Rejected(event_id=event_id, dialect="croct", errors=ERRORS, raw=raw, received_at=1.0)])


def everything(store: SqlStore) -> str:
    """Every row of every table that can hold a person, as text."""
    rows = []
    for table in ("events", "deliveries", "rejections", "clicks"):
        rows += [json.dumps(dict(r), default=str) for r in store._run(f"SELECT * FROM {table}").fetchall()]
    store._end_read()
    return "\n".join(rows)


@pytest.fixture
def people(both_stores: SqlStore) -> dict[str, Any]:
    """Carol (two events from one browser, a click, rejections), Jim (whose address contains hers), and Bob."""
    store = both_stores
    carol = stored(store, croct("Carol.Doe@Example.com", firstName="Carol"), "visitor-carol")
    carol_later = stored(store, croct(None, phone="+33123456789"), "visitor-carol")  # no email: the same browser
    jim = stored(store, croct("jimcarol.doe@example.com"), "visitor-jim")
    bob = stored(store, croct("bob@example.com", user_id="cust-42"), "visitor-bob")
    store.write_intake([
        Click("visitor-carol", "dub", "click-carol", 1.0),
        Click("visitor-jim", "dub", "click-jim", 1.0),
        Click("visitor-bob", "pimms", "click-bob", 1.0),
    ])  # fmt: skip
    rejected(store, '{"payload":{"lead":{"email":"carol.doe\\u0040example.com","avatar":"x"}}}')  # escaped
    rejected(store, '{"payload":{"lead":{"email":"not-an-address"}}}', event_id=carol_later.id)  # her event's id
    rejected(store, '{"payload":{"lead":{"email":"jimcarol.doe@example.com!"}}}')
    rejected(store, '{"payload":{"userId":"cust-42","lead":{}}}')
    rejected(store, '{"payload":{"userId":"cust-420","lead":{}}}')
    return {"store": store, "carol": [carol, carol_later], "jim": jim, "bob": bob}


def test_erasing_an_email_removes_every_row_about_that_person_and_says_what(people: dict[str, Any]) -> None:
    store: SqlStore = people["store"]
    before = {t: store.count(t) for t in ("events", "deliveries", "rejections", "clicks")}
    erased = store.erase(email=" CAROL.doe@example.COM ")
    assert erased.as_dict() == {
        "events": 2,
        "deliveries": 4,
        "rejections": 2,
        "clicks": 1,
        "visitors": ["visitor-carol"],
    }
    after = {t: store.count(t) for t in ("events", "deliveries", "rejections", "clicks")}
    assert after == {"events": 2, "deliveries": 4, "rejections": 3, "clicks": 2}
    assert {t: before[t] - after[t] for t in before} == {"events": 2, "deliveries": 4, "rejections": 2, "clicks": 1}
    left = everything(store).lower()
    assert "carol.doe@example.com" not in left.replace("jimcarol.doe@example.com", "")
    assert "visitor-carol" not in left and "click-carol" not in left and "+33123456789" not in left
    for event in people["carol"]:
        assert store.get_event(event.id) is None
    assert store.get_event(people["jim"].id) is not None  # his address contains hers, but is not hers
    assert store.erase(email="carol.doe@example.com").as_dict() == {
        "events": 0, "deliveries": 0, "rejections": 0, "clicks": 0, "visitors": []}  # fmt: skip


def test_erasing_a_customer_id_removes_its_events_and_their_visitor(people: dict[str, Any]) -> None:
    store: SqlStore = people["store"]
    erased = store.erase(customer_id="cust-42")
    assert erased.as_dict() == {"events": 1, "deliveries": 2, "rejections": 1, "clicks": 1, "visitors": ["visitor-bob"]}
    left = everything(store)
    assert "bob@example.com" not in left and '"cust-42"' not in left and "cust-420" in left
    assert store.get_event(people["bob"].id) is None and store.count("events") == 3


def test_erasing_a_visitor_removes_its_events_clicks_and_rejections_naming_it(people: dict[str, Any]) -> None:
    store: SqlStore = people["store"]
    rejected(store, '{"visitor":"visitor-jim"}')
    erased = store.erase(visitor_id="visitor-jim")
    assert erased.as_dict() == {"events": 1, "deliveries": 2, "rejections": 1, "clicks": 1, "visitors": ["visitor-jim"]}
    assert "jimcarol" not in everything(store).replace("jimcarol.doe@example.com!", "")  # only the rejection without his visitor id stays
    assert store.count("events") == 3


def test_erase_names_exactly_one_person(both_stores: SqlStore) -> None:
    with pytest.raises(ValueError, match="name one person"):
        both_stores.erase()
    with pytest.raises(ValueError, match="name one person"):
        both_stores.erase(email="a@b.c", visitor_id="v")
    with pytest.raises(ValueError, match="not an email address"):
        both_stores.erase(email="carol")
    with pytest.raises(ValueError, match="empty"):
        both_stores.erase(customer_id="  ")
