"""Dub `POST /track/sale` bodies (an envelope of type "sale"): what the official SDK sends, every rule, the mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadrelay.dialects.dub import sale_event_id
from tests.dialects.support import accept, dub_sdk, reject, reject_all

SALE = "sale"
BODY = {"customerExternalId": "cus_1", "amount": 1999}


def body(**fields: Any) -> dict[str, Any]:
    """A valid sale body with `fields` replacing or adding keys (None values are kept as JSON null)."""
    return BODY | fields


def metadata_of(length: int) -> dict[str, Any]:
    """Metadata whose JSON text is exactly `length` characters long."""
    data = {"k": "x" * (length - len('{"k":""}'))}
    assert len(json.dumps(data, separators=(",", ":"))) == length
    return data


def test_bodies_the_official_python_sdk_sends_are_accepted() -> None:
    sale = {"amount": 1999, "currency": "usd", "paymentProcessor": "custom", "invoiceId": None, "metadata": None}
    with dub_sdk({"eventName": "Purchase", "customer": None, "sale": sale}) as (sdk, sent):
        sdk.track.sale(request={"customer_external_id": "cus_1", "amount": 1999})
        sdk.track.sale(
            request={
                "customer_external_id": "cus_1",
                "amount": 1580,
                "currency": "jpy",
                "event_name": "Invoice paid",
                "payment_processor": "stripe",
                "invoice_id": "in_1",
                "metadata": {"plan": "pro"},
                "lead_event_name": "Sign up",
                "click_id": "rLnWe1uz9t282v7g",
                "customer_name": "Ann Lee",
                "customer_email": "ann@example.com",
                "customer_avatar": "https://example.com/ann.png",
            }
        )

    # The SDK fills Dub's defaults and sends the nullable fields it has no value for as null.
    assert sent[0] == {
        "customerExternalId": "cus_1",
        "amount": 1999,
        "currency": "usd",
        "eventName": "Purchase",
        "paymentProcessor": "custom",
        "invoiceId": None,
        "leadEventName": None,
        "customerName": None,
        "customerEmail": None,
        "customerAvatar": None,
    }
    for payload in sent:
        event = accept("dub", payload, SALE)
        assert event.kind == "sale" and event.raw == payload
    full = accept("dub", sent[1], SALE)
    assert full.id == sale_event_id("in_1") and full.source_id == "in_1"
    assert (full.name, full.value, full.currency) == ("Invoice paid", 1580.0, "JPY")
    assert full.sale is not None
    assert (full.sale.amount, full.sale.payment_processor, full.sale.invoice_id, full.sale.lead_event_name) == (
        1580,
        "stripe",
        "in_1",
        "Sign up",
    )
    assert full.customer.external_id == "cus_1" and full.customer.name == "Ann Lee"
    assert full.customer.email == "ann@example.com" and full.customer.avatar == "https://example.com/ann.png"
    assert full.click_ids == {"dub": "rLnWe1uz9t282v7g"} and full.properties == {"plan": "pro"}


def test_dubs_defaults_fill_what_is_left_out() -> None:
    event = accept("dub", BODY, SALE)
    assert (event.kind, event.name, event.currency, event.value) == ("sale", "Purchase", "USD", 19.99)
    assert event.sale is not None and event.sale.payment_processor == "custom" and event.sale.invoice_id is None
    assert event.id == "e1", "without an invoice id the event keeps the envelope's id"
    assert event.click_ids == {} and event.mode is None


def test_the_same_invoice_id_is_the_same_event_whatever_the_envelope() -> None:
    first = accept("dub", body(invoiceId="in_42"), SALE)
    again = accept("dub", body(invoiceId="in_42", amount=5), SALE)
    other = accept("dub", body(invoiceId="in_43"), SALE)
    assert first.id == again.id != other.id
    assert first.id.startswith("dub-invoice:") and "in_42" not in first.id


def test_an_empty_invoice_id_is_no_invoice_id() -> None:
    # Dub's idempotency applies only to an invoice id it can read as one (`if (invoiceId)`).
    event = accept("dub", body(invoiceId=""), SALE)
    assert event.id == "e1" and event.sale is not None and event.sale.invoice_id is None


def test_a_lead_envelope_is_still_judged_as_a_lead() -> None:
    errors = reject("dub", BODY)
    assert {"clickId", "eventName"} <= set(errors)


def test_required_fields_are_reported_together() -> None:
    errors = [(e.path, e.message) for e in reject_all("dub", {}, SALE)]
    assert errors == [
        ("customerExternalId", "required property is missing"),
        ("amount", "required property is missing"),
    ]


# -- every rule, at its boundaries ------------------------------------------------------------------

VALID = [
    body(customerExternalId="c"),
    body(customerExternalId="c" * 100),
    body(customerExternalId="🐊" * 50),
    body(amount=0),
    body(amount=2**53 - 1),
    body(amount=1999.0),
    body(currency="usd"),
    body(currency="EUR"),
    body(eventName="e" * 255),
    *[body(paymentProcessor=p) for p in ("stripe", "shopify", "polar", "paddle", "apple", "revenuecat", "dub", "custom")],
    body(paymentProcessor="lemonsqueezy"),
    body(invoiceId=None),
    body(invoiceId="in_" + "x" * 500),
    body(leadEventName=None),
    body(leadEventName="Sign up"),
    body(clickId=None),
    body(clickId=""),
    body(customerName=None),
    body(customerName="n" * 100),
    body(customerEmail=None),
    body(customerEmail="ann@example.com"),
    body(customerAvatar=None),
    body(customerAvatar="https://example.com/a.png"),
    body(metadata=None),
    body(metadata={}),
    body(metadata=metadata_of(10_000)),
    body(metadata={"nested": {"deep": [1, "two", None, {"x": "\u0000\u001f\"\\"}]}}),
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_sales_are_accepted(payload: dict[str, Any]) -> None:
    event = accept("dub", payload, SALE)
    assert event.raw == payload and event.kind == "sale"


INVALID: list[tuple[dict[str, Any], str, str]] = [
    (body(customerExternalId=""), "customerExternalId", "must be between 1 and 100 characters long"),
    (body(customerExternalId="c" * 101), "customerExternalId", "must be between 1 and 100 characters long"),
    (body(customerExternalId="   "), "customerExternalId", "must not be blank"),
    (body(customerExternalId=None), "customerExternalId", "must not be null"),
    (body(customerExternalId=7), "customerExternalId", "must be a string"),
    (body(amount=-1), "amount", "must be a whole number between 0 and 9007199254740991"),
    (body(amount=19.99), "amount", "must be a whole number between 0 and 9007199254740991"),
    (body(amount="1999"), "amount", "must be a whole number between 0 and 9007199254740991"),
    (body(amount=True), "amount", "must be a whole number between 0 and 9007199254740991"),
    (body(amount=2**53), "amount", "must be a whole number between 0 and 9007199254740991"),
    (body(amount=None), "amount", "must not be null"),
    (body(currency="dollars"), "currency", "must be an ISO 4217 currency code: 3 letters, e.g. usd"),
    (body(currency="us1"), "currency", "must be an ISO 4217 currency code: 3 letters, e.g. usd"),
    (body(currency="ÜSD"), "currency", "must be an ISO 4217 currency code: 3 letters, e.g. usd"),
    (body(currency=None), "currency", "must not be null"),
    (body(eventName=""), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName="e" * 256), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName=None), "eventName", "must not be null"),
    (body(paymentProcessor="visa"), "paymentProcessor", "must be 'stripe', 'shopify', 'polar', 'paddle', 'apple', 'revenuecat', 'lemonsqueezy', 'dub' or 'custom'"),
    (body(paymentProcessor=None), "paymentProcessor", "must not be null"),
    (body(invoiceId=7), "invoiceId", "must be a string"),
    (body(leadEventName=""), "leadEventName", "must be between 1 and 255 characters long"),
    (body(clickId=1), "clickId", "must be a string"),
    (body(customerName="n" * 101), "customerName", "must be at most 100 characters long"),
    (body(customerEmail="not an email"), "customerEmail", "must be a valid email address"),
    (body(customerAvatar="/a.png"), "customerAvatar", "must be a well-formed URL (absolute, with a scheme and a host, no spaces)"),
    (body(metadata=metadata_of(10_001)), "metadata", "must be at most 10,000 characters long once written as JSON"),
    (body(metadata=[]), "metadata", "must be an object"),
    (body(mode="async"), "mode", "unknown property"),
    (body(externalId="cus_1"), "externalId", "unknown property"),
]


@pytest.mark.parametrize(("payload", "path", "message"), INVALID)
def test_each_rule_is_reported_on_its_field(payload: dict[str, Any], path: str, message: str) -> None:
    errors = reject("dub", payload, SALE)
    assert set(errors) == {path}
    assert errors[path].message == message
