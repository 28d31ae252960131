"""PIMMS's API for a site's backend: `POST {leadrelay}/lr/pimms/track/lead`, PIMMS's own body (seed 002).

PIMMS publishes no SDK of its own here: its calls are made as its docs give them (Bearer key, JSON).
"""

from __future__ import annotations

import uuid

import httpx

from leadrelay.sandbox.credentials import PIMMS_KEY
from tests.fakes.helpers import settled, wait_for
from tests.support.keys import SERVER
from tests.support.relay import Relay

PATH = "/lr/pimms/track/lead"


async def test_a_lead_is_stored_once_answered_in_pimms_shape_and_reaches_pimms_with_the_sites_key(relay: Relay) -> None:
    who = f"cus_{uuid.uuid4().hex[:12]}"
    body = {"clickId": "pclk_1", "eventName": "Sign up", "externalId": who, "customerEmail": "p@example.com"}
    first = httpx.post(relay.url + PATH, json=body, headers=SERVER)
    assert first.status_code == 200
    assert first.json() == {
        "click": {"id": "pclk_1"},
        "link": None,
        "customer": {"name": None, "email": "p@example.com", "avatar": None, "externalId": who},
    }
    repeat = httpx.post(relay.url + PATH, json={**body, "eventName": "SIGN UP"}, headers=SERVER)
    assert repeat.status_code == 200 and repeat.json()["link"] is None
    assert relay.store.count("events") == 1
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries"), what="the delivery")
    fake = relay.vendors.pimms
    assert fake.recorded == [
        {
            "clickId": "pclk_1",
            "eventName": "Sign up",
            "externalId": who,
            "mode": "async",
            "customerEmail": "p@example.com",
        }
    ]
    assert fake.requests[0].headers["authorization"] == f"Bearer {PIMMS_KEY}"


def test_mode_wait_answers_with_pimms_own_answer_and_its_errors(relay: Relay) -> None:
    relay.vendors.pimms.known_clicks = {"pclk_known"}
    body = {"clickId": "pclk_known", "eventName": "Sign up", "externalId": f"cus_{uuid.uuid4().hex[:8]}", "mode": "wait"}
    answer = httpx.post(relay.url + PATH, json=body, headers=SERVER, timeout=30)
    assert answer.status_code == 200 and answer.json()["link"]["shortLink"] == "https://dub.sh/try"
    unknown = httpx.post(relay.url + PATH, json={**body, "clickId": "pclk_no", "externalId": "cus_other"}, headers=SERVER, timeout=30)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "not_found",
        "message": "Click event not found for clickId: pclk_no",
        "doc_url": "https://pimms.io/docs/api-reference/errors#not-found",
    }


def test_pimms_rules_and_refusals_in_pimms_shape(relay: Relay) -> None:
    dub_shaped = {"clickId": "", "eventName": "Sign up", "customerExternalId": "cus_1", "mode": "deferred"}
    invalid = httpx.post(relay.url + PATH, json=dub_shaped, headers=SERVER)
    assert invalid.status_code == 422
    error = invalid.json()["error"]
    assert error["code"] == "unprocessable_entity"
    assert error["doc_url"] == "https://pimms.io/docs/api-reference/errors#unprocessable-entity"
    assert "customerExternalId: PIMMS does not know customerExternalId" in error["message"]
    assert "clickId: must not be empty" in error["message"]
    assert "mode: must be 'async' or 'wait'" in error["message"]

    no_key = httpx.post(relay.url + PATH, json={"clickId": "c", "eventName": "Sign up"})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "unauthorized"
    assert "not your PIMMS API key" in no_key.json()["error"]["message"]
    assert relay.store.count("events") == 0


def test_a_wrong_method_is_a_405_in_pimms_envelope_with_allow(relay: Relay) -> None:
    response = httpx.get(relay.url + PATH, headers=SERVER)
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert response.json()["error"] == {
        "code": "method_not_allowed",
        "message": f"GET is not allowed on {PATH}: PIMMS's API takes POST",
        "doc_url": "https://pimms.io/docs/api-reference/errors#method-not_allowed",
    }
