"""The stored form of an accepted event: its envelope as it arrived and what the server saw, mapped when read."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.arrival import Seen, dump_arrival, enrich, load_stored
from leadrelay.config import Settings, load_settings
from leadrelay.vendors import configured_dialects
from leadrelay.protocol import Envelope
from tests.dialects.support import seed_json

CROCT_LEAD = {
    "leadId": "1ed2fd65-a027-4f3a-a35f-c6dd97537392",
    "currency": "USD",
    "value": 100,
    "lead": {
        "firstName": "Carol",
        "email": "carol@croct.com",
        "address": {"city": "São Paulo", "country": "BR"},
        "custom": {"points": 2**70, "favoriteEmoji": "🐊"},
    },
}

ENVELOPES = {
    "croct": {"dialect": "croct", "type": "leadGenerated", "payload": CROCT_LEAD},
    "croct-user-id": {"dialect": "croct", "type": "leadGenerated", "payload": {"userId": "u-1"}},
    "croct-configured-type": {"dialect": "croct", "type": "newsletterSignup", "payload": {"list": ["a", 1]}},
    "dub": {"dialect": "dub", "payload": seed_json("dub_004_example.json") | {"eventQuantity": 100}},
    "dub-older": {"dialect": "dub", "payload": seed_json("dub_001_example.json")},
    "pimms": {"dialect": "pimms", "payload": seed_json("pimms_002_example.json")},
    "reshape": {"dialect": "reshape", "payload": seed_json("reshape_003_js.json")},
}

SEEN = Seen(
    visitor_id="v" * 32,
    received_at=1764400000.123456,
    ip="203.0.113.7",
    user_agent="Mozilla/5.0 (test)",
    click_ids={"dub": "cookie-dub", "pimms": "cookie-pimms"},
)


@pytest.mark.parametrize("name", list(ENVELOPES))
def test_a_stored_arrival_reads_back_as_the_event_intake_saw(name: str) -> None:
    envelope = {
        "id": f"e-{name}",
        **ENVELOPES[name],
        "context": {"url": "https://shop.example/thanks", "referrer": "https://shop.example/"},
        "click_ids": {"pimms": "sent-pimms"},
    }
    dialect = configured_dialects(load_settings(croct_event_types=["newsletterSignup"]))[envelope["dialect"]]
    at_intake = dialect.parse(Envelope.model_validate(envelope))
    enrich(at_intake, envelope, SEEN)

    read = load_stored(dump_arrival(envelope, SEEN.as_json()))

    assert read == at_intake
    assert read.visitor_id == SEEN.visitor_id and read.received_at == SEEN.received_at
    assert read.context.url == "https://shop.example/thanks" and read.context.ip == "203.0.113.7"


# -- through the collector ------------------------------------------------------------------------


@pytest.fixture(params=["no destination", "dub on"])
def client(request: pytest.FixtureRequest, make_settings: Any) -> Iterator[TestClient]:
    # With a destination on, the collector maps the event at intake to route it; without, it does not.
    keys = {"dub_api_key": "dub_test_key"} if request.param == "dub on" else {}
    with TestClient(create_app(make_settings(**keys)), base_url="http://testserver") as c:
        yield c


def stored_body(settings: Settings, event_id: str) -> dict[str, Any]:
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (body,) = conn.execute("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
    return json.loads(body)


def test_the_collector_stores_the_envelope_as_sent_and_reads_it_back_enriched(client: TestClient) -> None:
    lead = {"custom": {"b": 1, "a": 2}, "firstName": "Ada", "email": "ada@example.com"}  # not in schema order
    sent = {
        "id": str(uuid.uuid4()),
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": {"value": 12.5, "leadId": "L-1", "lead": lead},
        "context": {"url": "https://shop.example/signup"},
        "click_ids": {"dub": "clickFromPage"},
    }
    client.get("/lr/c?dub_id=clickFromPage")  # the visitor landed through that click
    response = client.post(
        "/lr/e", content=json.dumps({"events": [sent]}), headers={"Content-Type": "text/plain", "User-Agent": "UA/1"}
    )
    assert response.json()["results"][0]["status"] == "accepted"

    service = client.app.state.service  # type: ignore[attr-defined]
    row = stored_body(service.settings, sent["id"])
    assert row["envelope"] == sent
    assert json.dumps(row["envelope"]) == json.dumps(sent)  # key for key, in the client's order
    visitor = client.cookies["lr_vid"].split(".")[0]
    assert (row["seen"]["visitor_id"], row["seen"]["user_agent"]) == (visitor, "UA/1")

    event = service.store.get_event(sent["id"])
    assert (event.name, event.value, event.source_id) == ("leadGenerated", 12.5, "L-1")
    assert event.customer.emails == ["ada@example.com"] and event.customer.custom == {"b": 1, "a": 2}
    assert (event.visitor_id, event.context.user_agent) == (visitor, "UA/1")
    assert (event.context.url, event.click_ids.get("dub")) == ("https://shop.example/signup", "clickFromPage")
    assert event.raw == sent["payload"]
    dub_deliveries = service.store.list_deliveries(event_id=sent["id"], destination="dub")
    assert len(dub_deliveries) == (1 if service.router.destinations else 0)
