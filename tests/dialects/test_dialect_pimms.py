"""PIMMS `POST /track/lead` bodies (seed 002 and PIMMS' documented behaviour): every rule, the mapping."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dialects.support import accept, answer, reject, reject_all, seed_json

BODY = {"clickId": "pmNbW9XyZ", "eventName": "Sign up"}
RENAMED = "PIMMS does not know customerExternalId (Dub's name): send the customer id as externalId"


def body(**fields: Any) -> dict[str, Any]:
    return BODY | fields


def without(*keys: str, **fields: Any) -> dict[str, Any]:
    return {k: v for k, v in body(**fields).items() if k not in keys}


def test_seed_002_example_is_accepted() -> None:
    example = seed_json("pimms_002_example.json")
    event = accept("pimms", example)

    assert (event.name, event.click_ids.get("pimms"), event.click_ids.get("dub")) == ("Sign up", "<id>", None)
    assert event.customer.external_id is None
    assert event.mode == "async"
    assert event.raw == example
    assert answer("pimms", example) is None


# -- a Dub-shaped body ---------------------------------------------------------------------------------


def test_dub_customer_external_id_is_rejected_with_a_precise_message() -> None:
    errors = reject("pimms", body(customerExternalId="cus_1"))

    assert set(errors) == {"customerExternalId"}
    assert errors["customerExternalId"].message == RENAMED
    assert errors["customerExternalId"].rule == "dub_property"


def test_dub_customer_external_id_is_rejected_even_next_to_external_id() -> None:
    errors = reject("pimms", body(customerExternalId="cus_1", externalId="cus_1"))
    assert set(errors) == {"customerExternalId"}


def test_a_whole_dub_body_gets_every_difference() -> None:
    dub_body = {"clickId": "", "eventName": "Sign up", "customerExternalId": "cus_1", "mode": "deferred"}
    errors = [(e.path, e.rule) for e in reject_all("pimms", dub_body)]
    assert errors == [("clickId", "length"), ("mode", "mode"), ("customerExternalId", "dub_property")]


# -- every rule, at its boundaries ----------------------------------------------------------------------

VALID = [
    body(clickId="c"),
    body(eventName="e"),
    body(eventName="e" * 255),
    body(externalId="x"),
    body(externalId="x" * 100),
    body(customerName="n" * 100),
    body(customerName=None),
    body(customerEmail="jane@example.com"),
    body(customerEmail="e" * 88 + "@example.com"),
    body(customerEmail=None),
    body(customerAvatar="https://example.com/jane.png"),
    body(customerAvatar=None),
    body(eventQuantity=1),
    body(eventQuantity=250),
    body(eventQuantity=2.0),
    body(eventQuantity=None),
    body(metadata={}),
    body(metadata={"plan": "pro", "seats": [1, 2]}),
    body(metadata=None),
    body(mode="async"),
    body(mode="wait"),
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_bodies_are_accepted(payload: dict[str, Any]) -> None:
    assert accept("pimms", payload).raw == payload


INVALID = [
    # (payload, path, part of the message)
    (without("clickId"), "clickId", "required property is missing"),
    (body(clickId=""), "clickId", "must not be empty"),
    (body(clickId=None), "clickId", "must be a string"),
    (body(clickId=7), "clickId", "must be a string"),
    (without("eventName"), "eventName", "required property is missing"),
    (body(eventName=""), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName="e" * 256), "eventName", "must be between 1 and 255 characters long"),
    (body(eventName="  "), "eventName", "must not be blank"),
    (body(externalId=""), "externalId", "must be between 1 and 100 characters long"),
    (body(externalId="x" * 101), "externalId", "must be between 1 and 100 characters long"),
    (body(externalId=" "), "externalId", "must not be blank"),
    (body(externalId=None), "externalId", "must be a string"),
    (body(externalId=123), "externalId", "must be a string"),
    (body(customerName="n" * 101), "customerName", "must be at most 100 characters long"),
    (body(customerEmail="jane"), "customerEmail", "must be a valid email address"),
    (body(customerEmail="e" * 89 + "@example.com"), "customerEmail", "must be at most 100 characters long"),
    (body(customerAvatar="jane.png"), "customerAvatar", "must be a well-formed URL"),
    (body(eventQuantity=0), "eventQuantity", "must be a whole number greater than or equal to 1"),
    (body(eventQuantity=1.5), "eventQuantity", "must be a whole number"),
    (body(eventQuantity="2"), "eventQuantity", "must be a whole number"),
    (body(eventQuantity=False), "eventQuantity", "must be a whole number"),
    (body(metadata=["plan"]), "metadata", "must be an object"),
    (body(mode="deferred"), "mode", "must be 'async' or 'wait' (PIMMS has no 'deferred' mode)"),
    (body(mode="sync"), "mode", "must be 'async' or 'wait'"),
    (body(mode=None), "mode", "must be a string"),
    (body(customerId="cus_1"), "customerId", "unknown property"),
    (body(click_id="x"), "click_id", "unknown property"),
]


@pytest.mark.parametrize(("payload", "path", "message"), INVALID)
def test_invalid_bodies_are_rejected(payload: dict[str, Any], path: str, message: str) -> None:
    errors = reject("pimms", payload)

    assert set(errors) == {path}
    assert message in errors[path].message


def test_full_body_maps_to_the_lead_event() -> None:
    payload = body(
        externalId="user_42",
        customerName="Jane Roe",
        customerEmail="jane@example.com",
        customerAvatar="https://example.com/jane.png",
        eventQuantity=2,
        metadata={"plan": "pro"},
        mode="wait",
    )
    event = accept("pimms", payload)

    assert (event.id, event.dialect, event.name) == ("e1", "pimms", "Sign up")
    assert event.click_ids.get("pimms") == "pmNbW9XyZ" and event.click_ids.get("dub") is None
    c = event.customer
    assert (c.external_id, c.first_name, c.name, c.emails, c.avatar) == (
        "user_42", "Jane Roe", "Jane Roe", ["jane@example.com"], "https://example.com/jane.png",
    )  # fmt: skip
    assert (event.mode, event.quantity, event.properties) == ("wait", 2, {"plan": "pro"})
    assert event.raw == payload
