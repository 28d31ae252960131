"""Dub's API for a site's backend, called by the official `dub` Python SDK over HTTP against a live leadrelay.

The backend changes only its server URL (`{leadrelay}/lr/dub`) and its token (a leadrelay
server key); the strict fake Dub must then receive exactly the lead, under the site's own
Dub key, and the SDK must get Dub's answers and Dub's typed errors.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from dub import Dub
from dub.models import errors

from leadrelay.sandbox.credentials import DUB_KEY
from leadrelay.sandbox.vendors import Fault
from tests.fakes.helpers import settled, wait_for
from tests.support.keys import SERVER, SERVER_KEY
from tests.support.relay import Relay

LEAD_PATH = "/lr/dub/track/lead"


def sdk(relay: Relay, token: str = SERVER_KEY) -> Dub:
    return Dub(token=token, server_url=f"{relay.url}/lr/dub")


def customer() -> str:
    return f"cus_{uuid.uuid4().hex[:12]}"


async def delivered(relay: Relay) -> None:
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") > 0, what="the delivery to settle")


async def test_a_lead_from_the_sdk_is_stored_answered_and_reaches_dub_with_the_sites_key(relay: Relay) -> None:
    who = customer()
    with sdk(relay) as client:
        result = client.track.lead(
            request={
                "click_id": "clk_landed_1",
                "event_name": "Sign up",
                "customer_external_id": who,
                "customer_name": "Ada Lovelace",
                "customer_email": "ada@example.com",
                "metadata": {"plan": "pro"},
            }
        )
    # Answered after the commit, in Dub's shape: the call's click and customer, no link (not known yet).
    assert result.click.id == "clk_landed_1"
    assert result.link is None
    assert (result.customer.name, result.customer.email, result.customer.external_id) == ("Ada Lovelace", "ada@example.com", who)
    assert relay.store.count("events") == 1

    await delivered(relay)
    fake = relay.vendors.dub
    assert fake.recorded == [
        {
            "clickId": "clk_landed_1",
            "eventName": "Sign up",
            "customerExternalId": who,
            "customerName": "Ada Lovelace",
            "customerEmail": "ada@example.com",
            "customerAvatar": None,
            "mode": "async",
            "metadata": {"properties": {"plan": "pro"}},
        }
    ]
    assert fake.requests[0].headers["authorization"] == f"Bearer {DUB_KEY}"  # the site's key, not the caller's


async def test_a_repeat_of_one_customer_and_event_name_is_stored_once_and_answered_as_dub_answers_one(relay: Relay) -> None:
    who = customer()
    with sdk(relay) as client:
        first = client.track.lead(request={"click_id": "clk_a", "event_name": "Sign up", "customer_external_id": who})
        # Dub keys its dedup on the customer and the lower-cased event name: a new click does not make a new lead.
        again = client.track.lead(request={"click_id": "clk_b", "event_name": "sign up", "customer_external_id": who})
    assert first.click.id == "clk_a" and again.link is None
    assert relay.store.count("events") == 1
    await delivered(relay)
    assert [body["clickId"] for body in relay.vendors.dub.recorded] == ["clk_a"]


async def test_the_older_external_id_body_is_taken_and_sent_on_as_customer_external_id(relay: Relay) -> None:
    # Seed 001's body, as older clients send it.
    body = {"clickId": "clk_old", "eventName": "Sign up", "externalId": "cus_old_1"}
    response = httpx.post(relay.url + LEAD_PATH, json=body, headers=SERVER)
    assert response.status_code == 200
    assert response.json() == {
        "click": {"id": "clk_old"},
        "link": None,
        "customer": {"name": None, "email": None, "avatar": None, "externalId": "cus_old_1"},
    }
    await delivered(relay)
    assert relay.vendors.dub.recorded == [
        {
            "clickId": "clk_old",
            "eventName": "Sign up",
            "customerExternalId": "cus_old_1",
            "customerName": None,
            "customerEmail": None,
            "customerAvatar": None,
            "mode": "async",
        }
    ]


def test_mode_wait_answers_with_dubs_own_answer(relay: Relay) -> None:
    who = customer()
    with sdk(relay) as client:
        result = client.track.lead(
            request={"click_id": "clk_wait", "event_name": "Sign up", "customer_external_id": who, "mode": "wait"}
        )
    # Dub's answer, not leadrelay's: the fake names the link and invents the customer's name.
    assert result.link is not None and result.link.short_link == "https://dub.sh/try"
    assert result.customer.name == "Big Red Caribou"
    assert relay.vendors.dub.recorded[0]["mode"] == "wait"


def test_mode_wait_gives_up_after_its_timeout_and_answers_what_leadrelay_knows(start_relay: Any) -> None:
    relay = start_relay(wait_mode_timeout_s=0.2)
    relay.vendors.dub.script(Fault.slow(3))
    with sdk(relay) as client:
        result = client.track.lead(
            request={"click_id": "clk_slow", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"}
        )
    assert result.click.id == "clk_slow" and result.link is None
    assert relay.store.count("events") == 1  # stored all the same; the worker carries on


def test_mode_wait_raises_dubs_not_found_for_a_click_dub_does_not_know(relay: Relay) -> None:
    relay.vendors.dub.known_clicks = {"clk_known"}
    with sdk(relay) as client, pytest.raises(errors.NotFound) as raised:
        client.track.lead(request={"click_id": "clk_unknown", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"})
    assert raised.value.data.error.message == "Click event not found for clickId: clk_unknown"
    assert raised.value.data.error.doc_url == "https://dub.co/docs/api-reference/errors#not-found"


def test_mode_wait_raises_dubs_bad_request_for_a_deferred_lead_without_a_known_customer(relay: Relay) -> None:
    with sdk(relay) as client, pytest.raises(errors.BadRequest) as raised:
        client.track.lead(request={"click_id": "", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"})
    assert "no existing customer" in raised.value.data.error.message


def test_mode_wait_raises_dubs_conflict(relay: Relay) -> None:
    relay.vendors.dub.script(Fault.error(409))
    with sdk(relay) as client, pytest.raises(errors.Conflict) as raised:
        client.track.lead(request={"click_id": "clk_c", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"})
    assert raised.value.data.error.code.value == "conflict"


def test_dub_refusing_the_sites_key_is_a_fault_of_leadrelay_not_the_callers(relay: Relay) -> None:
    relay.vendors.dub.credential = "dub_some_other_key"
    with sdk(relay) as client, pytest.raises(errors.InternalServerError) as raised:
        client.track.lead(request={"click_id": "clk_k", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"})
    assert "dub_api_key" in raised.value.data.error.message and "replay" in raised.value.data.error.message


def test_a_wrong_key_raises_unauthorized_and_stores_nothing(relay: Relay) -> None:
    with sdk(relay, token="not-a-server-key-0123456789-abcdefghijkl") as client, pytest.raises(errors.Unauthorized) as raised:
        client.track.lead(request={"click_id": "clk_1", "event_name": "Sign up", "customer_external_id": customer()})
    assert raised.value.data.error.message.startswith("the Bearer key is not one of server_keys")
    assert raised.value.raw_response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert relay.store.count("events") == 0


def test_no_key_is_dubs_401(relay: Relay) -> None:
    # No Authorization header at all (and a visitor's cookies, which are no key).
    body = {"clickId": "c", "eventName": "Sign up", "customerExternalId": "x"}
    response = httpx.post(relay.url + LEAD_PATH, json=body, headers={"Cookie": "dub_id=clk_1; lr_vid=abc"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and "server key" in error["message"]
    assert error["doc_url"] == "https://dub.co/docs/api-reference/errors#unauthorized"


def test_a_body_that_breaks_dubs_rules_raises_unprocessable_entity_naming_every_field(relay: Relay) -> None:
    with sdk(relay) as client, pytest.raises(errors.UnprocessableEntity) as raised:
        client.track.lead(
            request={"click_id": "c", "event_name": "", "customer_external_id": "x" * 101, "customer_email": "not-an-email"}
        )
    message = raised.value.data.error.message
    assert "eventName: must be between 1 and 255 characters long" in message
    assert "customerExternalId: must be between 1 and 100 characters long" in message
    assert "customerEmail: must be a valid email address" in message
    assert relay.store.count("events") == 0
    assert relay.store.count("rejections") == 1  # kept with its errors, as /lr/e keeps them


def test_invalid_json_is_dubs_bad_request(relay: Relay) -> None:
    response = httpx.post(relay.url + LEAD_PATH, content=b'{"clickId": "c",', headers={**SERVER, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert response.json()["error"]["message"].startswith("invalid JSON")
    not_an_object = httpx.post(relay.url + LEAD_PATH, json=["clickId"], headers=SERVER)
    assert not_an_object.status_code == 400 and not_an_object.json()["error"]["message"] == "the body must be a JSON object"


def test_a_cross_site_caller_raises_forbidden(relay: Relay) -> None:
    with sdk(relay) as client, pytest.raises(errors.Forbidden) as raised:
        client.track.lead(
            request={"click_id": "c", "event_name": "Sign up", "customer_external_id": "x"},
            http_headers={"Origin": "https://evil.example"},
        )
    assert "origin https://evil.example is not allowed" in raised.value.data.error.message


def test_over_the_rate_limit_raises_rate_limit_exceeded_with_retry_after(start_relay: Any) -> None:
    relay = start_relay(rate_limit_per_ip="2/minute")
    with sdk(relay) as client:
        for n in range(2):
            client.track.lead(request={"click_id": "c", "event_name": f"Sign up {n}", "customer_external_id": "x"})
        with pytest.raises(errors.RateLimitExceeded) as raised:
            client.track.lead(request={"click_id": "c", "event_name": "Sign up 3", "customer_external_id": "x"})
    assert raised.value.data.error.code.value == "rate_limit_exceeded"
    assert int(raised.value.raw_response.headers["retry-after"]) >= 1


def test_a_host_not_served_is_dubs_bad_request(start_relay: Any) -> None:
    relay = start_relay(allowed_hosts=["shop.example"])
    body = {"clickId": "c", "eventName": "Sign up", "customerExternalId": "x"}
    response = httpx.post(relay.url + LEAD_PATH, json=body, headers=SERVER)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "not served here" in response.json()["error"]["message"]


def test_a_bug_raises_internal_server_error_naming_an_error_id(relay: Relay, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(relay.service.collector, "commit", broken)
    with caplog.at_level(logging.ERROR), sdk(relay) as client, pytest.raises(errors.InternalServerError) as raised:
        client.track.lead(request={"click_id": "c", "event_name": "Sign up", "customer_external_id": "x"})
    assert "error id" in raised.value.data.error.message
    assert any("the Dub API failed" in r.getMessage() for r in caplog.records)


def test_the_largest_body_allowed_is_taken_and_one_byte_more_is_dubs_413(start_relay: Any) -> None:
    relay = start_relay(max_body_bytes=16 * 1024)
    # The largest metadata Dub takes (10,000 characters once written as JSON), with control characters and escapes.
    filler = "\u0000\t\"\\é🐊" * 10
    metadata = {"notes": filler}
    metadata["pad"] = "x" * (10_000 - len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))) - len(',"pad":""') - 10)
    body = {"clickId": "c", "eventName": "Sign up", "customerExternalId": customer(), "metadata": metadata}
    response = httpx.post(relay.url + LEAD_PATH, content=json.dumps(body).encode(), headers={**SERVER, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    stored = relay.store.list_events(1)[0]
    assert stored.properties["notes"] == filler

    too_large = httpx.post(
        relay.url + LEAD_PATH, content=b" " * (16 * 1024 + 1), headers={**SERVER, "Content-Type": "application/json"}
    )
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "body_too_large"


def test_a_lone_surrogate_is_refused_with_its_path(relay: Relay) -> None:
    content = b'{"clickId": "c", "eventName": "Sign \\ud800up", "customerExternalId": "x"}'
    response = httpx.post(relay.url + LEAD_PATH, content=content, headers={**SERVER, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("eventName: must be valid Unicode")


async def test_keys_never_reach_answers_stored_rows_or_logs(relay: Relay, caplog: pytest.LogCaptureFixture) -> None:
    relay.vendors.dub.known_clicks = {"clk_ok"}
    with caplog.at_level(logging.DEBUG):
        with sdk(relay) as client:
            answers = [client.track.lead(request={"click_id": "clk_ok", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"})]
            with pytest.raises(errors.NotFound) as raised:
                client.track.lead(request={"click_id": "clk_no", "event_name": "Sign up", "customer_external_id": customer(), "mode": "wait"})
            with pytest.raises(errors.UnprocessableEntity) as invalid:
                client.track.lead(request={"click_id": "c", "event_name": "", "customer_external_id": "x"})
        await delivered(relay)
    seen = "\n".join([a.model_dump_json() for a in answers] + [raised.value.body or "", invalid.value.body or "", relay.stored_text()])
    seen += "\n".join(r.getMessage() for r in caplog.records)
    for secret in (SERVER_KEY, DUB_KEY):
        assert secret not in seen


def test_the_answer_arrives_only_after_the_commit(relay: Relay) -> None:
    # The event is readable from the store the moment the SDK has its answer.
    who = customer()
    with sdk(relay) as client:
        client.track.lead(request={"click_id": "clk_commit", "event_name": "Sign up", "customer_external_id": who})
    events = relay.store.list_events(5)
    assert [e.customer.external_id for e in events] == [who]
    assert events[0].dialect == "dub" and events[0].click_ids == {"dub": "clk_commit"}


def test_the_header_limits_of_the_collect_endpoint_apply(start_relay: Any) -> None:
    relay = start_relay(max_header_bytes=4096)
    body = {"clickId": "c", "eventName": "Sign up", "customerExternalId": "x"}
    response = httpx.post(relay.url + LEAD_PATH, json=body, headers={**SERVER, "X-Padding": "p" * 5000})
    assert response.status_code == 431
    assert relay.store.count("events") == 0


async def test_a_lead_from_the_sdk_fans_out_to_the_other_destinations_as_routing_says(start_relay: Any) -> None:
    relay = start_relay(reshape_events={"Sign up": "lead_created"})
    who = customer()
    with sdk(relay) as client:
        client.track.lead(request={"click_id": "clk_fan", "event_name": "Sign up", "customer_external_id": who, "customer_email": "f@example.com"})
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") == 2, what="both deliveries")
    assert [body["customerExternalId"] for body in relay.vendors.dub.recorded] == [who]
    sent = relay.vendors.reshape.accepted
    assert len(sent) == 1
    assert sent[0]["event"]["name"] == "lead_created"
    assert sent[0]["user"] == {"id": who, "email": ["f@example.com"]}
    assert sent[0]["cookies"] == {"dub_id": "clk_fan"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", [LEAD_PATH, "/lr/dub/track/sale"])
def test_a_wrong_method_is_a_405_in_dubs_envelope_with_allow(relay: Relay, method: str, path: str) -> None:
    response = httpx.request(method, relay.url + path, headers=SERVER, json={"clickId": "c", "eventName": "Sign up"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    # Dub has no code for 405 (its SDKs raise their generic SDKError): leadrelay's, in Dub's envelope and doc_url rule.
    assert response.json() == {
        "error": {
            "code": "method_not_allowed",
            "message": f"{method} is not allowed on {path}: Dub's API takes POST",
            "doc_url": "https://dub.co/docs/api-reference/errors#method-not_allowed",
        }
    }
    assert relay.store.count("events") == 0


def test_a_head_is_a_405_with_allow_and_no_body(relay: Relay) -> None:
    response = httpx.head(relay.url + LEAD_PATH, headers=SERVER)
    assert (response.status_code, response.headers["allow"], response.content) == (405, "POST", b"")
