"""Dub's `track/sale` for a site's backend, called by the official `dub` Python SDK over HTTP against a live leadrelay.

The backend changes only its server URL (`{leadrelay}/lr/dub`) and its token (a leadrelay
server key); the strict fake Dub must then receive exactly the sale at `/track/sale`, under the
site's own Dub key, once per invoice id, and Reshape the same sale as `checkout_completed`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from dub import Dub
from dub.models import errors

from leadrelay.dialects.dub import sale_event_id
from tests.fakes import DUB_KEY, RESHAPE_TOKEN, Receiver
from tests.fakes.helpers import settled, wait_for
from tests.support.keys import SERVER, SERVER_KEY
from tests.support.relay import Relay

SALE_PATH = "/lr/dub/track/sale"


def sdk(relay: Relay, token: str = SERVER_KEY) -> Dub:
    return Dub(token=token, server_url=f"{relay.url}/lr/dub")


def invoice() -> str:
    return f"in_{uuid.uuid4().hex[:12]}"


async def delivered(relay: Relay, count: int) -> None:
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") >= count, what="the deliveries to settle")


async def test_a_sale_from_the_sdk_is_stored_answered_and_reaches_dub_and_reshape(relay: Relay) -> None:
    bill = invoice()
    relay.vendors.dub.customers["cus_7"] = {"name": "Ada", "email": None, "avatar": None, "externalId": "cus_7"}
    with sdk(relay) as client:
        result = client.track.sale(
            request={
                "customer_external_id": "cus_7",
                "amount": 4999,
                "currency": "EUR",
                "event_name": "Invoice paid",
                "payment_processor": "stripe",
                "invoice_id": bill,
                "lead_event_name": "Sign up",
                "metadata": {"plan": "pro"},
            }
        )
    # Answered after the commit, in Dub's shape, Dub's defaults filled and the currency as Dub writes it.
    assert result.event_name == "Invoice paid"
    assert result.customer is not None and result.customer.external_id == "cus_7"
    assert result.sale is not None
    assert (result.sale.amount, result.sale.currency, result.sale.payment_processor) == (4999, "eur", "stripe")
    assert (result.sale.invoice_id, result.sale.metadata) == (bill, {"plan": "pro"})
    stored = relay.store.get_event(sale_event_id(bill))
    assert stored is not None and stored.kind == "sale"

    await delivered(relay, 2)
    assert relay.vendors.dub.sales == [
        {
            "customerExternalId": "cus_7",
            "amount": 4999,
            "currency": "eur",
            "eventName": "Invoice paid",
            "paymentProcessor": "stripe",
            "invoiceId": bill,
            "leadEventName": "Sign up",
            "customerName": None,
            "customerEmail": None,
            "customerAvatar": None,
            "metadata": {"plan": "pro"},
        }
    ]
    [to_dub] = relay.vendors.dub.requests
    assert to_dub.headers["authorization"] == f"Bearer {DUB_KEY}"  # the site's key, not the caller's
    [to_reshape] = relay.vendors.reshape.requests
    assert to_reshape.headers["x-dre-access-token"] == RESHAPE_TOKEN
    assert to_reshape.body["event"] == {
        "name": "checkout_completed",
        "id": bill,
        "value": 49.99,
        "currency": "EUR",
        "properties": {"plan": "pro", "payment_processor": "stripe"},
    }
    assert relay.vendors.pimms.requests == []


async def test_a_repeat_invoice_id_is_stored_once_and_answered_as_the_first(start_relay: Any) -> None:
    relay = start_relay(dub_unattributed_retry_s=0)
    bill = invoice()
    with sdk(relay) as client:
        first = client.track.sale(request={"customer_external_id": "cus_8", "amount": 1000, "invoice_id": bill})
        again = client.track.sale(request={"customer_external_id": "cus_8", "amount": 2000, "invoice_id": bill})
        other = client.track.sale(request={"customer_external_id": "cus_8", "amount": 3000, "invoice_id": invoice()})
    assert first.sale is not None and again.sale is not None and other.sale is not None
    assert again.sale.amount == first.sale.amount == 1000  # Dub answers a repeat from its cache
    assert other.sale.amount == 3000
    assert relay.store.count("events") == 2
    await delivered(relay, 4)
    assert [body["amount"] for body in relay.vendors.dub.sales] == []  # cus_8 has no lead at Dub: nothing recorded
    assert sorted(r.body["amount"] for r in relay.vendors.dub.requests) == [1000, 3000]
    assert relay.store.delivery_counts()["dub"] == {"unattributed": 2}  # Dub answered sale: null to both


def test_a_sale_without_an_invoice_id_is_stored_each_time(relay: Relay) -> None:
    with sdk(relay) as client:
        for _ in range(2):
            client.track.sale(request={"customer_external_id": "cus_9", "amount": 500})
    assert relay.store.count("events") == 2


def test_a_body_that_breaks_dubs_rules_raises_unprocessable_entity_naming_every_field(relay: Relay) -> None:
    with sdk(relay) as client, pytest.raises(errors.UnprocessableEntity) as raised:
        client.track.sale(request={"customer_external_id": "", "amount": -1, "currency": "euro"})
    error = raised.value.data.error
    assert error.code == "unprocessable_entity"
    assert error.message == (
        "customerExternalId: must be between 1 and 100 characters long; "
        "amount: must be a whole number between 0 and 9007199254740991; "
        "currency: must be an ISO 4217 currency code: 3 letters, e.g. usd"
    )
    assert relay.store.count("events") == 0


def test_a_wrong_key_raises_unauthorized_and_stores_nothing(relay: Relay) -> None:
    with sdk(relay, token="not-a-server-key-0123456789-abcdefghijkl") as client, pytest.raises(errors.Unauthorized):
        client.track.sale(request={"customer_external_id": "cus_1", "amount": 1})
    assert relay.store.count("events") == 0


def test_no_key_no_cookies_is_dubs_401(relay: Relay) -> None:
    response = httpx.post(relay.url + SALE_PATH, json={"customerExternalId": "c", "amount": 1})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["error"]["doc_url"] == "https://dub.co/docs/api-reference/errors#unauthorized"


def test_a_cross_site_caller_raises_forbidden(relay: Relay) -> None:
    response = httpx.post(
        relay.url + SALE_PATH,
        json={"customerExternalId": "c", "amount": 1},
        headers={**SERVER, "Origin": "https://evil.example"},
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert relay.store.count("events") == 0


def test_over_the_rate_limit_raises_rate_limit_exceeded_with_retry_after(start_relay: Any) -> None:
    relay = start_relay(rate_limit_per_ip="2/minute")
    with sdk(relay) as client:
        for _ in range(2):
            client.track.sale(request={"customer_external_id": "x", "amount": 1})
        with pytest.raises(errors.RateLimitExceeded) as raised:
            client.track.sale(request={"customer_external_id": "x", "amount": 1})
    assert raised.value.data.error.code.value == "rate_limit_exceeded"
    assert int(raised.value.raw_response.headers["retry-after"]) >= 1
    assert relay.store.count("events") == 2


async def test_a_sale_is_signed_to_the_webhook_with_its_kind(start_relay: Any) -> None:
    with Receiver() as receiver:
        relay = start_relay(**receiver.settings())
        with sdk(relay) as client:
            client.track.sale(request={"customer_external_id": "cus_w", "amount": 700, "invoice_id": "in_w"})
        [body] = await wait_for(lambda: receiver.fake.accepted, what="the webhook")  # accepted: the signature verified
    assert body["type"] == "Purchase"
    assert (body["data"]["kind"], body["data"]["value"], body["data"]["currency"]) == ("sale", 7.0, "USD")
    assert body["data"]["sale"] == {"amount": 700, "payment_processor": "custom", "invoice_id": "in_w", "lead_event_name": None}


def test_unknown_properties_and_nulls_dub_fills_are_refused_field_by_field(relay: Relay) -> None:
    response = httpx.post(
        relay.url + SALE_PATH, json={"customerExternalId": "c", "amount": 1, "eventName": None, "mode": "wait"}, headers=SERVER
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "eventName: must not be null; mode: unknown property"


def test_the_largest_body_allowed_is_taken_and_one_byte_more_is_dubs_413(relay: Relay) -> None:
    limit = relay.settings.max_body_bytes
    # Control characters, JSON escapes and an astral character, metadata at Dub's 10,000 characters,
    # and an invoice id (which Dub does not bound) filling the body to the last byte allowed.
    body = {
        "customerExternalId": "c\u0000\u001f\"\\🐊",
        "amount": 2**53 - 1,
        "eventName": "\\" * 255,
        "customerName": "n" * 100,
        "metadata": {"k": "x" * (10_000 - len('{"k":""}'))},
        "invoiceId": "",
    }
    body["invoiceId"] = "i" * (limit - len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()))
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(content) == limit
    headers = {**SERVER, "Content-Type": "application/json"}
    ok = httpx.post(relay.url + SALE_PATH, content=content, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["sale"]["invoiceId"] == body["invoiceId"] and ok.json()["customer"]["externalId"] == body["customerExternalId"]
    stored = relay.store.get_event(sale_event_id(body["invoiceId"]))
    assert stored is not None and stored.customer.external_id == body["customerExternalId"]
    refused = httpx.post(relay.url + SALE_PATH, content=content + b" ", headers=headers)
    assert refused.status_code == 413 and refused.json()["error"]["message"] == f"the body is larger than {limit} bytes"


async def test_a_sale_dub_answers_sale_null_for_is_unattributed_with_the_customer_named(start_relay: Any) -> None:
    relay = start_relay(dub_unattributed_retry_s=0)
    bill = invoice()
    with sdk(relay) as client:
        answer = client.track.sale(request={"customer_external_id": "cus_nobody", "amount": 2500, "invoice_id": bill})
    assert answer.sale is not None and answer.sale.amount == 2500  # leadrelay's answer: stored, Dub's word comes later
    await delivered(relay, 2)
    [to_dub] = relay.vendors.dub.requests
    assert to_dub.answer == {"eventName": "Purchase", "customer": None, "sale": None}
    [row] = relay.store.list_deliveries("unattributed", "dub")
    assert row.event_id == sale_event_id(bill) and row.last_status == 200
    assert row.last_error == (
        "Dub knows no customer 'cus_nobody': the sale was not attributed (no lead of this customer reached Dub,"
        " and the sale names no click)"
    )
    assert relay.store.delivery_counts() == relay.store.recount_deliveries() == {"dub": {"unattributed": 1}, "reshape": {"delivered": 1}}
