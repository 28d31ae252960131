"""DATA Reshape push objects: the seed's examples, every listed key's rule, unknown keys kept, the mapping."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

import pytest

from tests.dialects.support import accept, answer, reject, reject_all, seed_json

SHA256_MESSAGE = "a SHA-256 hash is 64 hexadecimal characters"
EVENT = {"name": "lead_qualified", "value": 500.0, "currency": "USD", "id": "Q1"}
EMAIL_HASH = hashlib.sha256(b"sarah.johnson@example.com").hexdigest()
PHONE_HASH = hashlib.sha256(b"+40712345678").hexdigest()


def push(**parts: Any) -> dict[str, Any]:
    """A valid lead_qualified push, with `parts` replacing or adding top-level objects."""
    return {"event": dict(EVENT)} | parts


def with_event(**fields: Any) -> dict[str, Any]:
    return {"event": dict(EVENT) | fields}


# -- the seed's examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["complete", "minimal", "js", "curl"])
def test_seed_examples_are_accepted(name: str) -> None:
    payload = seed_json(f"reshape_003_{name}.json")
    event = accept("reshape", payload)
    assert event.name == "lead_qualified"
    assert event.raw == payload
    assert answer("reshape", payload) is None


@pytest.mark.parametrize("name", ["js", "curl"])
def test_unlisted_keys_of_the_seed_examples_are_kept(name: str) -> None:
    event = accept("reshape", seed_json(f"reshape_003_{name}.json"))
    assert event.raw["user"]["new_customer"] is True
    assert event.customer.emails == ["qualified.lead@example.com"]
    assert event.customer.external_id is None


def test_complete_seed_example_maps_to_the_lead_event() -> None:
    event = accept("reshape", seed_json("reshape_003_complete.json"))

    assert (event.id, event.dialect, event.name) == ("e1", "reshape", "lead_qualified")
    assert (event.value, event.currency, event.exchange_rate) == (750.0, "USD", 1.0)
    assert event.source_id == "QUALIFIED_LEAD_456"
    assert event.properties["qualification_method"] == "sales_review"
    assert event.properties["qualification_notes_added"] is True
    ctx = event.context
    assert (ctx.environment, ctx.data_source, ctx.ip) == ("prod", "crm_system", "203.145.67.89")
    assert ctx.user_agent == "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36"
    assert ctx.url == "https://crm.example.com/leads/qualification"
    assert ctx.landing_url == "https://example.com/enterprise-solutions"
    assert ctx.referrer == "https://linkedin.com/company/example"
    c = event.customer
    assert (c.external_id, c.first_name, c.last_name) == ("LEAD_789123", "Sarah", "Johnson")
    assert c.emails == ["sarah.johnson@example.com"]
    assert c.phones == ["+1555987654"]
    assert c.address is not None
    assert asdict(c.address) == {
        "street": "456 Corporate Plaza, Floor 15",
        "district": None,
        "city": "New York",
        "region": "New York",
        "country": "United States",
        "postal_code": "10001",
    }
    assert c.custom["job_title"] == "VP of Operations"
    assert c.custom["decision_maker"] is True
    assert event.consent is None
    assert event.cookies == {}


def test_minimal_seed_example_maps_to_the_lead_event() -> None:
    event = accept("reshape", seed_json("reshape_003_minimal.json"))
    assert (event.value, event.source_id, event.context.data_source) == (400.0, "QUALIFIED_MIN_123", "website")
    assert (event.customer.first_name, event.customer.last_name) == ("Mike", "Davis")
    assert event.customer.address is not None and event.customer.address.country == "Canada"
    assert event.context.ip is None


@pytest.mark.parametrize("key", ["email_hash", "phone_hash"])
def test_seed_sample_hashes_are_rejected(key: str) -> None:
    field = key.split("_")[0]
    sample = seed_json("reshape_003_reference_samples.json")[key]

    errors = reject("reshape", push(user={field: sample}))

    assert set(errors) == {f"user.{field}[0]"}
    assert errors[f"user.{field}[0]"].message == SHA256_MESSAGE
    errors = reject("reshape", push(user={field: sample[0]}))
    assert errors[f"user.{field}"].message == SHA256_MESSAGE


@pytest.mark.parametrize("phone", seed_json("reshape_003_reference_samples.json")["phone_plain"])
def test_seed_sample_phones_are_accepted(phone: str | list[str]) -> None:
    event = accept("reshape", push(user={"phone": phone}))
    assert event.customer.phones == (phone if isinstance(phone, list) else [phone])


# -- lead events need a currency and an id ----------------------------------------------------------


@pytest.mark.parametrize("name", ["lead_created", "lead_qualified", "lead_disqualified"])
@pytest.mark.parametrize("missing", ["currency", "id"])
def test_lead_events_need_currency_and_id(name: str, missing: str) -> None:
    event = {k: v for k, v in EVENT.items() if k != missing} | {"name": name}
    errors = reject("reshape", {"event": event})

    assert set(errors) == {f"event.{missing}"}
    assert errors[f"event.{missing}"].message.startswith("required property is missing")
    assert name in errors[f"event.{missing}"].message


def test_lead_event_with_null_currency_and_id_names_both() -> None:
    errors = reject("reshape", with_event(currency=None, id=None))
    assert set(errors) == {"event.currency", "event.id"}


def test_lead_qualified_value_is_recommended_not_required() -> None:
    event = accept("reshape", {"event": {"name": "lead_qualified", "currency": "USD", "id": "Q1"}})
    assert event.value is None


@pytest.mark.parametrize("name", ["page_view", "add_to_cart", "Lead_Qualified"])
def test_other_events_need_only_a_name(name: str) -> None:
    event = accept("reshape", {"event": {"name": name}})
    assert (event.name, event.currency, event.source_id) == (name, None, None)


def test_checks_of_lead_events_and_of_types_are_reported_together() -> None:
    errors = reject("reshape", {"event": {"name": "lead_created", "value": "500"}, "user": {"email": "x"}})
    assert set(errors) == {"event.value", "event.currency", "event.id", "user.email"}


# -- every listed key ----------------------------------------------------------------------------

VALID = [
    with_event(exchange_rate=4.97),
    with_event(exchange_rate=1),
    with_event(value=0),
    with_event(value=1234),
    with_event(properties={}),
    with_event(properties={"lead_score_after": 95, "nested": {"any": ["thing"]}}),
    push(context={}),
    push(context={"environment": "prod"}),
    push(context={"environment": "dev"}),
    push(context={"data_source": "website"}),
    push(context={"data_source": "crm_system"}),
    push(context={"data_source": "anything the site uses"}),
    push(context={"url": "https://shop.example.com/p?color=silver", "page_type": "product"}),
    push(context={"override_ip": "203.145.67.89"}),
    push(context={"overide_ip": "2001:db8::1"}),
    push(context={"landing_url": "https://example.com/", "referring_url": "https://linkedin.com/"}),
    push(user={}),
    push(user={"id": "CUSTOMER_INTERNAL_ID"}),
    push(user={"email": "sarah.johnson@example.com"}),
    push(user={"email": ["a@example.com", "b.c+tag@example.co.uk"]}),
    push(user={"email": []}),
    push(user={"email": EMAIL_HASH}),
    push(user={"email": [EMAIL_HASH.upper(), "a@example.com"]}),
    push(user={"phone": "+40712345678"}),
    push(user={"phone": "+12"}),
    push(user={"phone": "+123456789012345"}),
    push(user={"phone": [PHONE_HASH]}),
    push(user={"first_name": "John", "last_name": "Doe", "country": "Romania", "region": "Bucuresti"}),
    push(user={"city": "Bucuresti", "street": "Strada Principala 1", "postal_code": "700000"}),
    push(user={"orders_total_number": 5, "orders_canceled_number": 0}),
    push(user={"orders_total_number": 5.0}),
    push(user={"orders_total_value": 1234.99, "orders_refunded_value": 250.99, "predicted_value": 100.99}),
    push(user={"orders_total_value": 0, "predicted_value": -3}),
    push(user={"created_at": 1754926521690}),
    push(user={"created_at": 0}),
    push(user={"properties": {"customer_type": "returning", "preferred_category": ["electronics"]}}),
    push(consent={"analytics": True, "personalization": False, "marketing": True}),
    push(consent={}),
    push(cookies={"_ga": "GA1.1.123.456", "_fbp": "fb.1.1"}),
    push(cookies={}),
    # null is "not given"
    with_event(value=None, exchange_rate=None, properties=None),
    push(context={"environment": None}, user={"email": None}, consent={"marketing": None}),
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_keys_are_accepted(payload: dict[str, Any]) -> None:
    assert accept("reshape", payload).raw == payload


INVALID = [
    # (payload, path, part of the message)
    ({}, "event", "required property is missing"),
    ({"event": None}, "event", "must be an object"),
    ({"event": "lead_qualified"}, "event", "must be an object"),
    ({"event": {"value": 1}}, "event.name", "required property is missing"),
    (with_event(name=""), "event.name", "must not be empty"),
    (with_event(name=7), "event.name", "must be a string"),
    (with_event(value="500.00"), "event.value", "must be a number"),
    (with_event(value=True), "event.value", "must be a number"),
    (with_event(value=float("nan")), "event.value", "must be a finite number"),
    (with_event(currency=""), "event.currency", "must not be empty"),
    (with_event(currency=840), "event.currency", "must be a string"),
    (with_event(exchange_rate="1"), "event.exchange_rate", "must be a number"),
    (with_event(exchange_rate=float("inf")), "event.exchange_rate", "must be a finite number"),
    (with_event(id=""), "event.id", "must not be empty"),
    (with_event(id=456), "event.id", "must be a string"),
    (with_event(properties=["a"]), "event.properties", "must be an object"),
    (push(context="prod"), "context", "must be an object"),
    (push(context={"environment": "staging"}), "context.environment", "must be 'prod' or 'dev'"),
    (push(context={"environment": "PROD"}), "context.environment", "must be 'prod' or 'dev'"),
    (push(context={"url": 5}), "context.url", "must be a string"),
    (push(context={"data_source": ["website"]}), "context.data_source", "must be a string"),
    (push(context={"override_ip": "203.145.67"}), "context.override_ip", "must be an IPv4 or IPv6 address"),
    (push(context={"override_ip": "localhost"}), "context.override_ip", "must be an IPv4 or IPv6 address"),
    (push(context={"overide_ip": "999.1.1.1"}), "context.overide_ip", "must be an IPv4 or IPv6 address"),
    (push(context={"overide_ip": 3415231321}), "context.overide_ip", "must be a string"),
    (push(user="LEAD_1"), "user", "must be an object"),
    (push(user={"id": 789123}), "user.id", "must be a string"),
    (push(user={"email": "sarah.johnson@"}), "user.email", "must be a valid email address"),
    (push(user={"email": ["ok@example.com", "a@b"]}), "user.email[1]", "must be a valid email address"),
    (push(user={"email": "sarah"}), "user.email", "must be an email address or its SHA-256 hash"),
    (push(user={"email": ""}), "user.email", "must be an email address or its SHA-256 hash"),
    (push(user={"email": EMAIL_HASH[:63]}), "user.email", "64 hexadecimal characters"),
    (push(user={"email": EMAIL_HASH + "0"}), "user.email", "64 hexadecimal characters"),
    (push(user={"email": "g" * 64}), "user.email", SHA256_MESSAGE),
    (push(user={"email": 5}), "user.email", "must be a string or a list of strings"),
    (push(user={"email": {"work": "a@example.com"}}), "user.email", "must be a string or a list of strings"),
    (push(user={"email": [5]}), "user.email[0]", "must be a string"),
    (push(user={"phone": "0712345678"}), "user.phone", "must be a phone number in E.164 format"),
    (push(user={"phone": "+0712345678"}), "user.phone", "E.164"),
    (push(user={"phone": "+1"}), "user.phone", "E.164"),
    (push(user={"phone": "+1234567890123456"}), "user.phone", "E.164"),
    (push(user={"phone": "+40 712 345 678"}), "user.phone", "E.164"),
    (push(user={"phone": ["+40712345678", "+40-712"]}), "user.phone[1]", "E.164"),
    (push(user={"phone": "z" * 64}), "user.phone", SHA256_MESSAGE),
    (push(user={"phone": 40712345678}), "user.phone", "must be a string or a list of strings"),
    (push(user={"first_name": 1}), "user.first_name", "must be a string"),
    (push(user={"postal_code": 700000}), "user.postal_code", "must be a string"),
    (push(user={"orders_total_number": -1}), "user.orders_total_number", "must be a whole number"),
    (push(user={"orders_total_number": 1.5}), "user.orders_total_number", "must be a whole number"),
    (push(user={"orders_canceled_number": "0"}), "user.orders_canceled_number", "must be a whole number"),
    (push(user={"orders_canceled_number": True}), "user.orders_canceled_number", "must be a whole number"),
    (push(user={"orders_total_value": "1234.99"}), "user.orders_total_value", "must be a number"),
    (push(user={"orders_refunded_value": False}), "user.orders_refunded_value", "must be a number"),
    (push(user={"predicted_value": "high"}), "user.predicted_value", "must be a number"),
    (push(user={"created_at": -1}), "user.created_at", "must be greater than or equal to 0"),
    (push(user={"created_at": "2025-08-11"}), "user.created_at", "must be a number"),
    (push(user={"properties": "vip"}), "user.properties", "must be an object"),
    (push(consent={"analytics": "yes"}), "consent.analytics", "must be a boolean"),
    (push(consent={"personalization": 1}), "consent.personalization", "must be a boolean"),
    (push(consent={"marketing": "false"}), "consent.marketing", "must be a boolean"),
    (push(consent=True), "consent", "must be an object"),
    (push(cookies={"_ga": 1}), "cookies._ga", "must be a string"),
    (push(cookies="_ga=GA1"), "cookies", "must be an object"),
    (push(cookies=["_ga"]), "cookies[0]", "must be an object"),
    (push(cookies=[{"name": "_ga"}]), "cookies[0].value", "required property is missing"),
    (push(cookies=[{"name": "", "value": "GA1"}]), "cookies[0].name", "must not be empty"),
    (push(cookies=[{"name": "_ga", "value": 1}]), "cookies[0].value", "must be a string"),
    (push(cookies=[{"name": "_ga", "value": "GA1", "domain": ".a.example"}]), "cookies[0].domain", "unknown property"),
    (push(consent={"id": ""}), "consent.id", "must not be empty"),
    (push(consent={"id": 7}), "consent.id", "must be a string"),
]


@pytest.mark.parametrize(("payload", "path", "message"), INVALID)
def test_invalid_keys_are_rejected(payload: dict[str, Any], path: str, message: str) -> None:
    errors = reject("reshape", payload)

    assert set(errors) == {path}
    assert message in errors[path].message


def test_a_hash_error_names_the_item() -> None:
    errors = reject_all("reshape", push(user={"email": ["a@example.com", "3e1u" + "f" * 60, "b@example.com"]}))
    assert [(e.path, e.message, e.rule) for e in errors] == [("user.email[1]", SHA256_MESSAGE, "sha256")]


# -- unlisted keys are kept, everywhere ---------------------------------------------------------------


def test_unlisted_keys_are_kept_untouched() -> None:
    payload = {
        "event": dict(EVENT) | {"source": "crm", "items": [{"sku": 1}]},
        "context": {"environment": "prod", "campaign": {"id": 7}},
        "user": {"id": "U1", "new_customer": True, "loyalty_tier": None},
        "consent": {"analytics": True, "ad_storage": "granted"},
        "ecommerce": {"order_id": "O1"},
    }
    event = accept("reshape", payload)
    assert event.raw == payload
    assert event.raw["user"]["new_customer"] is True


# -- mapping ---------------------------------------------------------------------------------------------


def test_mapping_normalizes_lists_and_reads_both_ip_spellings() -> None:
    payload = push(
        context={"override_ip": "2001:0db8:0000:0000:0000:0000:0000:0001", "url": "https://a.example/x"},
        user={"email": "a@example.com", "phone": "+40712345678", "properties": {"tier": "gold"}},
        consent={"analytics": True, "marketing": False, "ad_storage": "granted"},
        cookies={"_ga": "GA1"},
    )
    event = accept("reshape", payload)

    assert event.customer.emails == ["a@example.com"]
    assert event.customer.phones == ["+40712345678"]
    assert event.customer.custom == {"tier": "gold"}
    assert event.customer.address is None
    assert event.context.ip == "2001:db8::1"
    assert event.context.url == "https://a.example/x"
    assert event.consent is not None
    assert asdict(event.consent) == {"analytics": True, "personalization": None, "marketing": False, "id": None}
    assert event.cookies == {"_ga": "GA1"}
    assert (event.value, event.currency, event.source_id, event.exchange_rate) == (500.0, "USD", "Q1", 1.0)


def test_cookies_given_as_a_list_of_name_and_value_are_read_as_their_map() -> None:
    # Reshape's docs show both forms; the list is forwarded as the map (tests/test_vendor_api_reshape.py).
    listed = [{"name": "_ga", "value": "GA1.1.1"}, {"name": "_fbp", "value": "fb.1"}, {"name": "_ga", "value": "GA1.1.2"}]
    event = accept("reshape", push(cookies=listed, consent={"analytics": True, "id": "consent-42"}))
    assert event.cookies == {"_ga": "GA1.1.2", "_fbp": "fb.1"}  # a later cookie of one name wins, as in a map
    assert event.raw["cookies"] == listed  # kept as sent
    assert event.consent is not None and event.consent.id == "consent-42"


def test_override_ip_wins_over_the_seed_spelling() -> None:
    event = accept("reshape", push(context={"override_ip": "198.51.100.1", "overide_ip": "203.0.113.9"}))
    assert event.context.ip == "198.51.100.1"


def test_exchange_rate_given_is_kept() -> None:
    assert accept("reshape", with_event(currency="RON", exchange_rate=4.97)).exchange_rate == 4.97


# -- checkout_completed: a sale --------------------------------------------------------------------


PURCHASE = {"name": "checkout_completed", "value": 49.99, "currency": "eur", "id": "ORDER_1", "properties": {"payment_processor": "stripe"}}


def test_checkout_completed_is_a_sale_in_the_currencys_smallest_unit() -> None:
    event = accept("reshape", {"event": dict(PURCHASE), "user": {"id": "cus_1"}})
    assert (event.kind, event.name, event.value, event.currency) == ("sale", "checkout_completed", 49.99, "EUR")
    assert event.sale is not None
    assert asdict(event.sale) == {"amount": 4999, "payment_processor": "stripe", "invoice_id": "ORDER_1", "lead_event_name": None}
    yen = accept("reshape", {"event": PURCHASE | {"value": 1580, "currency": "JPY", "properties": {"payment_processor": "visa"}}})
    assert yen.sale is not None and (yen.sale.amount, yen.sale.payment_processor) == (1580, "custom")  # visa: not Dub's


def test_other_events_stay_leads() -> None:
    for name in ("lead_created", "lead_qualified", "lead_closed", "page_view"):
        event = accept("reshape", with_event(name=name))
        assert (event.kind, event.sale) == ("lead", None), name


def test_a_purchase_needs_a_value_a_currency_and_an_id() -> None:
    errors = reject("reshape", {"event": {"name": "checkout_completed"}})
    assert {path: e.message for path, e in errors.items()} == {
        "event.value": "required property is missing: checkout_completed events need its value",
        "event.currency": "required property is missing: checkout_completed events need a currency",
        "event.id": "required property is missing: checkout_completed events need an id, the deduplication key (the order's)",
    }


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"value": -1}, "event.value", "a purchase's value must be between 0 and 9007199254740991"),
        ({"value": 1e300}, "event.value", "a purchase's value must be between 0 and 9007199254740991"),
        ({"value": 1.7e308}, "event.value", "a purchase's value must be between 0 and 9007199254740991"),
        ({"value": 9007199254740992, "currency": "JPY"}, "event.value", "a purchase's value must be between 0"),
        ({"currency": "euro"}, "event.currency", "must be an ISO 4217 currency code: 3 letters, e.g. USD"),
        ({"value": "49.99"}, "event.value", ""),
    ],
)
def test_a_purchase_with_a_value_or_currency_dub_and_reshape_refuse_is_rejected(fields: dict[str, Any], path: str, message: str) -> None:
    errors = reject("reshape", {"event": PURCHASE | fields})
    assert list(errors) == [path]
    assert errors[path].message.startswith(message)
