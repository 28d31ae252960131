"""Dub `POST /track/lead` bodies: current (seed 004) and older (seed 001) shapes, every rule, the mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dialects.support import accept, answer, dub_sdk, reject, reject_all, seed_json

BODY = {"clickId": "rLnWe1uz9t282v7g", "eventName": "Sign up", "customerExternalId": "cus_1"}


def body(**fields: Any) -> dict[str, Any]:
    """A valid body with `fields` replacing or adding keys (None values are kept as JSON null)."""
    return BODY | fields


def without(*keys: str, **fields: Any) -> dict[str, Any]:
    return {k: v for k, v in body(**fields).items() if k not in keys}


def metadata_of(length: int) -> dict[str, Any]:
    """Metadata whose JSON text is exactly `length` characters long."""
    overhead = len('{"k":""}')
    data = {"k": "x" * (length - overhead)}
    assert len(json.dumps(data, separators=(",", ":"))) == length
    return data


# -- the seed's examples -------------------------------------------------------------------------


def test_seed_004_example_breaks_only_the_quantity_cap() -> None:
    example = seed_json("dub_004_example.json")

    errors = reject("dub", example)

    assert set(errors) == {"eventQuantity"}
    assert errors["eventQuantity"].message == "must be a whole number between 1 and 100"


def test_seed_004_example_with_a_quantity_in_range_is_accepted() -> None:
    example = seed_json("dub_004_example.json") | {"eventQuantity": 100}
    event = accept("dub", example)

    assert (event.name, event.click_ids.get("dub"), event.customer.external_id) == ("Sign up", "<string>", "<string>")
    assert (event.mode, event.quantity, event.properties) == ("async", 100, {})
    assert (event.customer.first_name, event.customer.emails, event.customer.avatar) == (None, [], None)
    assert event.raw == example


def test_seed_001_older_example_with_external_id_is_accepted() -> None:
    example = seed_json("dub_001_example.json")
    event = accept("dub", example)

    assert event.customer.external_id == "<id>"
    assert event.click_ids.get("dub") == "<id>"
    assert event.mode == "async"
    assert answer("dub", example) is None


def test_bodies_the_official_python_sdk_sends_are_accepted() -> None:
    customer = {"name": None, "email": None, "avatar": None, "externalId": "cus_1"}
    with dub_sdk({"click": {"id": "c"}, "link": None, "customer": customer}) as (sdk, sent):
        sdk.track.lead(request={"click_id": "abc", "event_name": "Sign up", "customer_external_id": "cus_1"})
        sdk.track.lead(
            request={
                "click_id": "",
                "event_name": "Sign up",
                "customer_external_id": "cus_1",
                "customer_name": "Ann Lee",
                "customer_email": "ann@example.com",
                "customer_avatar": "https://example.com/ann.png",
                "mode": "wait",
                "event_quantity": 2,
                "metadata": {"plan": "pro"},
            }
        )

    assert sent[0]["customerName"] is None and sent[0]["mode"] == "async"
    for payload in sent:
        assert accept("dub", payload).raw == payload


# -- the customer id: customerExternalId, or the older externalId ------------------------------


def test_customer_id_is_required() -> None:
    errors = reject("dub", without("customerExternalId"))
    assert set(errors) == {"customerExternalId"}
    assert errors["customerExternalId"].message == "required property is missing"


def test_customer_id_under_both_names_is_rejected() -> None:
    errors = reject("dub", body(externalId="cus_1"))
    assert set(errors) == {"externalId"}
    assert errors["externalId"].message == "give customerExternalId or its older name externalId, not both"


def test_missing_customer_id_is_reported_with_the_other_errors() -> None:
    errors = [(e.path, e.rule) for e in reject_all("dub", {"clickId": "x", "eventName": ""})]
    assert errors == [("eventName", "length"), ("customerExternalId", "missing")]


# -- every rule, at its boundaries ------------------------------------------------------------------

VALID = [
    body(clickId=""),
    body(clickId="c"),
    body(eventName="e"),
    body(eventName="e" * 255),
    body(eventName="🐊" * 127 + "e"),
    body(customerExternalId="c"),
    body(customerExternalId="c" * 100),
    without("customerExternalId", externalId="c"),
    without("customerExternalId", externalId="c" * 100),
    body(customerName=None),
    body(customerName=""),
    body(customerName="n" * 100),
    body(customerEmail=None),
    body(customerEmail="john.doe@example.com"),
    body(customerEmail="o'brien+tag@mail.example.co.uk"),
    body(customerEmail="e" * 88 + "@example.com"),
    body(customerAvatar=None),
    body(customerAvatar="https://example.com/avatar.png"),
    body(mode="async"),
    body(mode="wait"),
    body(mode="deferred"),
    body(eventQuantity=None),
    body(eventQuantity=1),
    body(eventQuantity=100),
    body(eventQuantity=3.0),
    body(metadata=None),
    body(metadata={}),
    body(metadata={"plan": "pro", "seats": 3, "tags": ["a"], "nested": {"ok": True}}),
    body(metadata=metadata_of(10_000)),
    body(metadata={"k": "🐊" * 4996}),  # 10,000 characters as JavaScript counts them
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_bodies_are_accepted(payload: dict[str, Any]) -> None:
    assert accept("dub", payload).raw == payload


INVALID = [
    # (payload, path, part of the message)
    (without("clickId"), "clickId", "required property is missing"),
    (body(clickId=None), "clickId", "must be a string"),
    (body(clickId=123), "clickId", "must be a string"),
    (without("eventName"), "eventName", "required property is missing"),
    (body(eventName=""), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName="e" * 256), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName="🐊" * 128), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName="   "), "eventName", "must not be blank"),
    (body(eventName=None), "eventName", "must be a string"),
    (body(customerExternalId=""), "customerExternalId", "must be between 1 and 100 characters long"),
    (body(customerExternalId="c" * 101), "customerExternalId", "must be between 1 and 100 characters long"),
    (body(customerExternalId=" "), "customerExternalId", "must not be blank"),
    (body(customerExternalId=None), "customerExternalId", "must be a string"),
    (body(customerExternalId=42), "customerExternalId", "must be a string"),
    (without("customerExternalId", externalId=""), "externalId", "must be between 1 and 100 characters long"),
    (without("customerExternalId", externalId="c" * 101), "externalId", "must be between 1 and 100 characters long"),
    (without("customerExternalId", externalId=None), "externalId", "must be a string"),
    (body(customerName="n" * 101), "customerName", "must be at most 100 characters long"),
    (body(customerName=["Ann"]), "customerName", "must be a string"),
    (body(customerEmail="john.doe"), "customerEmail", "must be a valid email address"),
    (body(customerEmail="john@localhost"), "customerEmail", "must be a valid email address"),
    (body(customerEmail="john..doe@example.com"), "customerEmail", "must be a valid email address"),
    (body(customerEmail=".john@example.com"), "customerEmail", "must be a valid email address"),
    (body(customerEmail="john doe@example.com"), "customerEmail", "must be a valid email address"),
    (body(customerEmail=""), "customerEmail", "must be a valid email address"),
    (body(customerEmail="e" * 89 + "@example.com"), "customerEmail", "must be at most 100 characters long"),
    (body(customerAvatar="avatar.png"), "customerAvatar", "must be a well-formed URL"),
    (body(customerAvatar="https://exa mple.com/a.png"), "customerAvatar", "must be a well-formed URL"),
    (body(mode="sync"), "mode", "must be 'async', 'wait' or 'deferred'"),
    (body(mode="ASYNC"), "mode", "must be 'async', 'wait' or 'deferred'"),
    (body(mode=None), "mode", "must be a string"),
    (body(eventQuantity=0), "eventQuantity", "must be a whole number between 1 and 100"),
    (body(eventQuantity=-1), "eventQuantity", "must be a whole number between 1 and 100"),
    (body(eventQuantity=101), "eventQuantity", "must be a whole number between 1 and 100"),
    (body(eventQuantity=2.5), "eventQuantity", "must be a whole number between 1 and 100"),
    (body(eventQuantity=True), "eventQuantity", "must be a whole number between 1 and 100"),
    (body(eventQuantity="3"), "eventQuantity", "must be a whole number between 1 and 100"),
    (body(metadata=metadata_of(10_001)), "metadata", "must be at most 10,000 characters long once written as JSON"),
    (body(metadata={"k": "🐊" * 4997}), "metadata", "at most 10,000 characters"),  # 10,002 as JavaScript counts
    (body(metadata=["plan"]), "metadata", "must be an object"),
    (body(metadata="plan=pro"), "metadata", "must be an object"),
    (body(customerId="cus_1"), "customerId", "unknown property"),
    (body(event_name="Sign up"), "event_name", "unknown property"),
    (body(timestamp=1), "timestamp", "unknown property"),
]


@pytest.mark.parametrize(("payload", "path", "message"), INVALID)
def test_invalid_bodies_are_rejected(payload: dict[str, Any], path: str, message: str) -> None:
    errors = reject("dub", payload)

    assert set(errors) == {path}
    assert message in errors[path].message


# -- mapping ----------------------------------------------------------------------------------------


def test_full_body_maps_to_the_lead_event() -> None:
    payload = body(
        customerName="Ann Lee",
        customerEmail="ann@example.com",
        customerAvatar="https://example.com/ann.png",
        mode="wait",
        eventQuantity=3,
        metadata={"plan": "pro"},
    )
    event = accept("dub", payload)

    assert (event.id, event.dialect, event.name) == ("e1", "dub", "Sign up")
    assert event.click_ids.get("dub") == "rLnWe1uz9t282v7g" and event.click_ids.get("pimms") is None
    c = event.customer
    assert (c.external_id, c.first_name, c.last_name, c.name) == ("cus_1", "Ann Lee", None, "Ann Lee")
    assert (c.emails, c.avatar) == (["ann@example.com"], "https://example.com/ann.png")
    assert (event.mode, event.quantity, event.properties) == ("wait", 3, {"plan": "pro"})
    assert (event.value, event.currency, event.source_id) == (None, None, None)
    assert event.raw == payload


def test_deferred_click_maps_to_no_click_id() -> None:
    event = accept("dub", body(clickId="", mode="deferred"))
    assert event.click_ids.get("dub") is None
    assert event.mode == "deferred"
