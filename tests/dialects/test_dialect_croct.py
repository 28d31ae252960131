"""Croct `leadGenerated`: every published rule at its boundaries, the seed's examples, the mapping and the answer."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pytest

from leadrelay.dialects.croct import SUPPORTED_TYPES

from tests.dialects.support import accept, answer, reject, reject_all, seed_json, seed_text

CARROT_URL = "https://croct.com/carol.png"
URL_MESSAGE = "must be a well-formed URL"


def lead(**fields: Any) -> dict[str, Any]:
    return {"lead": fields}


def url_of(length: int) -> str:
    """A valid URL exactly `length` characters long."""
    base = "https://croct.com/"
    return base + "a" * (length - len(base))


def custom(**attributes: Any) -> dict[str, Any]:
    return lead(custom=attributes)


# -- the seed's examples ------------------------------------------------------------------


def test_seed_snippet_is_accepted_verbatim() -> None:
    snippet = seed_text("croct_000_track_snippet.txt")
    match = re.fullmatch(r"croct\.track\('(\w+)', \{ (\w+): '([^']*)'\}\);", snippet)
    assert match, snippet
    type_, key, value = match.groups()
    payload = {key: value}

    event = accept("croct", payload, type_)

    assert event.name == "leadGenerated"
    assert event.customer.external_id == "1ed2fd65-a027-4f3a-a35f-c6dd97537392"
    assert event.raw == payload
    assert answer("croct", payload, type_) == {}


def test_seed_payload_example_is_not_json() -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(seed_text("croct_000_payload_example.txt"))


def test_fixed_seed_payload_only_adds_the_missing_comma() -> None:
    raw = seed_text("croct_000_payload_example.txt")
    fixed = seed_text("croct_000_payload_example_fixed.json")
    comma = raw.index('" "currency"') + 1
    assert fixed == raw[:comma] + "," + raw[comma:]


def test_fixed_seed_payload_is_rejected_exactly_where_it_breaks_the_rules() -> None:
    errors = reject("croct", seed_json("croct_000_payload_example_fixed.json"), "leadGenerated")

    assert set(errors) == {"lead.address.state", "lead.address.continent", "lead.avatar", "lead.companyUrl"}
    assert errors["lead.address.state"].message == "unknown property"
    assert errors["lead.address.continent"].message == "unknown property"
    assert URL_MESSAGE in errors["lead.avatar"].message
    assert URL_MESSAGE in errors["lead.companyUrl"].message


def repaired_seed() -> dict[str, Any]:
    payload: dict[str, Any] = seed_json("croct_000_payload_example_fixed.json")
    del payload["lead"]["address"]["state"], payload["lead"]["address"]["continent"]
    payload["lead"]["avatar"] = "http://croct.com/carol.png"
    payload["lead"]["companyUrl"] = "http://croct.com"
    return payload


def test_repaired_seed_payload_maps_to_the_lead_event() -> None:
    payload = repaired_seed()

    event = accept("croct", payload, "leadGenerated")

    assert (event.id, event.name, event.dialect) == ("e1", "leadGenerated", "croct")
    assert (event.value, event.currency, event.source_id) == (100, "USD", "1ed2fd65-a027-4f3a-a35f-c6dd97537392")
    c = event.customer
    assert (c.first_name, c.last_name, c.name) == ("Carol", "Doe", "Carol Doe")
    assert c.emails == ["carol@croct.com", "example@croct.com"]
    assert c.phones == ["+15555983800", "+15555983800"]
    assert (c.birth_date, c.gender, c.job_title) == ("2000-08-31", "female", "Head of Marketing")
    assert (c.avatar, c.company, c.company_url) == ("http://croct.com/carol.png", "Croct", "http://croct.com")
    assert c.address is not None
    assert asdict(c.address) == {
        "street": "123 Some Street",
        "district": "Kings Oak",
        "city": "San Francisco",
        "region": "California",
        "country": "US",
        "postal_code": None,
    }
    assert c.custom == {"points": 1, "favoriteEmoji": "🐊"}
    assert c.external_id is None
    assert event.raw == payload


def test_answer_is_the_processed_event_with_its_patch() -> None:
    payload = repaired_seed()
    processed = answer("croct", payload, "leadGenerated")

    assert processed is not None
    assert list(processed) == ["leadId", "currency", "value", "patch"]
    assert (processed["leadId"], processed["currency"], processed["value"]) == (
        "1ed2fd65-a027-4f3a-a35f-c6dd97537392",
        "USD",
        100,
    )
    operations = processed["patch"]["operations"]
    assert all(op["type"] == "set" for op in operations)
    assert [op["path"] for op in operations] == [
        "firstName", "lastName", "birthDate", "gender", "email", "alternateEmail", "phone", "alternatePhone",
        "address", "avatar", "company", "companyUrl", "jobTitle", "custom.points", "custom.favoriteEmoji",
    ]  # fmt: skip
    assert operations[0]["value"] == "Carol"
    assert operations[8]["value"] == payload["lead"]["address"]
    assert operations[-1]["value"] == "🐊"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, {}),
        ({"value": 0}, {"value": 0}),
        ({"currency": "EUR", "lead": {}}, {"currency": "EUR", "patch": {"operations": []}}),
        ({"lead": {"custom": {}}}, {"patch": {"operations": []}}),
        ({"userId": "u1"}, {}),
    ],
)
def test_answer_keeps_only_the_present_keys(payload: dict[str, Any], expected: dict[str, Any]) -> None:
    assert answer("croct", payload, "leadGenerated") == expected


# -- the event type -------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["userSignedUp", "goalCompleted", "leadgenerated", None])
def test_other_event_types_are_rejected(type_: str | None) -> None:
    errors = reject("croct", {}, type_)

    assert set(errors) == {"type"}
    assert "supported types: leadGenerated" in errors["type"].message
    if type_:
        assert f"'{type_}'" in errors["type"].message


def test_supported_types_lists_lead_generated() -> None:
    assert "leadGenerated" in SUPPORTED_TYPES


# -- every property, at its boundaries ---------------------------------------------------------

VALID = [
    {"userId": "u" * 100},
    {"userId": "u"},
    {"leadId": "l" * 100},
    {"leadId": "l"},
    {"currency": "USD"},
    {"currency": "XBT"},
    {"currency": "c" * 10},
    {"value": 0},
    {"value": 0.01},
    {"value": 100},
    {"value": 1e12},
    {"lead": {}},
    lead(firstName="f" * 50),
    lead(firstName="f"),
    lead(firstName="🐊" * 25),  # 50 characters as JavaScript counts them
    lead(lastName="l" * 50),
    lead(jobTitle="j" * 50),
    lead(birthDate="2000-08-31"),
    lead(birthDate="2024-02-29"),
    lead(birthDate="1900-01-01"),
    lead(gender="male"),
    lead(gender="female"),
    lead(gender="neutral"),
    lead(gender="unknown"),
    lead(email="e" * 254),
    lead(email="x"),
    lead(alternateEmail="e" * 254),
    lead(phone="p" * 30),
    lead(phone="+1 555 555 5555"),
    lead(alternatePhone="p" * 30),
    lead(address={}),
    lead(address={"street": "s" * 100, "district": "d" * 100, "city": "c" * 100}),
    lead(address={"region": "r" * 100, "country": "c" * 100, "postalCode": "p" * 20}),
    lead(address={"street": "s", "district": "d", "city": "c", "region": "r", "country": "c", "postalCode": "p"}),
    lead(avatar=CARROT_URL),
    lead(avatar="http://croct.com"),
    lead(avatar="https://cdn.croct.io:8443/a/b.png?size=64#top"),
    lead(avatar="http://[2001:db8::1]/a.png"),
    lead(avatar=url_of(500)),
    lead(companyUrl="https://croct.com"),
    lead(companyUrl=url_of(200)),
    lead(company="c" * 200),
    lead(company="c"),
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_properties_are_accepted(payload: dict[str, Any]) -> None:
    event = accept("croct", payload, "leadGenerated")
    assert event.raw == payload


INVALID = [
    # (payload, path, part of the message)
    ({"userId": "u" * 101}, "userId", "must be between 1 and 100 characters long"),
    ({"userId": ""}, "userId", "must be between 1 and 100 characters long"),
    ({"userId": 42}, "userId", "must be a string"),
    ({"leadId": "l" * 101}, "leadId", "must be between 1 and 100 characters long"),
    ({"leadId": ""}, "leadId", "must be between 1 and 100 characters long"),
    ({"leadId": 12345}, "leadId", "must be a string"),
    ({"currency": ""}, "currency", "must be between 1 and 10 characters long"),
    ({"currency": "c" * 11}, "currency", "must be between 1 and 10 characters long"),
    ({"currency": 840}, "currency", "must be a string"),
    ({"value": -0.01}, "value", "must be greater than or equal to 0"),
    ({"value": -1}, "value", "must be greater than or equal to 0"),
    ({"value": True}, "value", "must be a number"),
    ({"value": "100"}, "value", "must be a number"),
    ({"value": float("nan")}, "value", "finite number"),
    ({"value": float("inf")}, "value", "finite number"),
    ({"lead": "Carol"}, "lead", "must be an object"),
    ({"lead": []}, "lead", "must be an object"),
    (lead(firstName="f" * 51), "lead.firstName", "must be between 1 and 50 characters long"),
    (lead(firstName=""), "lead.firstName", "must be between 1 and 50 characters long"),
    (lead(firstName="🐊" * 25 + "a"), "lead.firstName", "must be between 1 and 50 characters long"),
    (lead(firstName=7), "lead.firstName", "must be a string"),
    (lead(lastName="l" * 51), "lead.lastName", "must be between 1 and 50 characters long"),
    (lead(lastName=""), "lead.lastName", "must be between 1 and 50 characters long"),
    (lead(jobTitle="j" * 51), "lead.jobTitle", "must be between 1 and 50 characters long"),
    (lead(jobTitle=""), "lead.jobTitle", "must be between 1 and 50 characters long"),
    (lead(birthDate="2023-02-30"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="2023-02-29"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="2000-13-01"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="2000-8-31"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="31/08/2000"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="2000-08-31T00:00:00"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="20000831"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate="\uff12\uff10\uff10\uff10-08-31"), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(birthDate=""), "lead.birthDate", "must be a real date in YYYY-MM-DD"),
    (lead(gender="other"), "lead.gender", "must be 'male', 'female', 'neutral' or 'unknown'"),
    (lead(gender="Male"), "lead.gender", "must be 'male', 'female', 'neutral' or 'unknown'"),
    (lead(email="e" * 255), "lead.email", "must be between 1 and 254 characters long"),
    (lead(email=""), "lead.email", "must be between 1 and 254 characters long"),
    (lead(alternateEmail="e" * 255), "lead.alternateEmail", "must be between 1 and 254 characters long"),
    (lead(alternateEmail=""), "lead.alternateEmail", "must be between 1 and 254 characters long"),
    (lead(phone="p" * 31), "lead.phone", "must be between 1 and 30 characters long"),
    (lead(phone=""), "lead.phone", "must be between 1 and 30 characters long"),
    (lead(phone=15555983800), "lead.phone", "must be a string"),
    (lead(alternatePhone="p" * 31), "lead.alternatePhone", "must be between 1 and 30 characters long"),
    (lead(alternatePhone=""), "lead.alternatePhone", "must be between 1 and 30 characters long"),
    (lead(address="123 Some Street"), "lead.address", "must be an object"),
    (lead(address={"street": "s" * 101}), "lead.address.street", "must be between 1 and 100 characters long"),
    (lead(address={"street": ""}), "lead.address.street", "must be between 1 and 100 characters long"),
    (lead(address={"district": "d" * 101}), "lead.address.district", "must be between 1 and 100 characters long"),
    (lead(address={"district": ""}), "lead.address.district", "must be between 1 and 100 characters long"),
    (lead(address={"city": "c" * 101}), "lead.address.city", "must be between 1 and 100 characters long"),
    (lead(address={"city": ""}), "lead.address.city", "must be between 1 and 100 characters long"),
    (lead(address={"region": "r" * 101}), "lead.address.region", "must be between 1 and 100 characters long"),
    (lead(address={"region": ""}), "lead.address.region", "must be between 1 and 100 characters long"),
    (lead(address={"country": "c" * 101}), "lead.address.country", "must be between 1 and 100 characters long"),
    (lead(address={"country": ""}), "lead.address.country", "must be between 1 and 100 characters long"),
    (lead(address={"postalCode": "p" * 21}), "lead.address.postalCode", "must be between 1 and 20 characters long"),
    (lead(address={"postalCode": ""}), "lead.address.postalCode", "must be between 1 and 20 characters long"),
    (lead(address={"postalCode": 94103}), "lead.address.postalCode", "must be a string"),
    (lead(address={"state": "California"}), "lead.address.state", "unknown property"),
    (lead(address={"continent": "NA"}), "lead.address.continent", "unknown property"),
    (lead(address={"postal_code": "94103"}), "lead.address.postal_code", "unknown property"),
    (lead(avatar="http: //croct.com/carol.png"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="croct.com/carol.png"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="/carol.png"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="http://"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="https://cro ct.com"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="https://croct.com/carol.png "), "lead.avatar", URL_MESSAGE),
    (lead(avatar="https://croct.com:99999/"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="http://[2001:db8::1/a.png"), "lead.avatar", URL_MESSAGE),
    (lead(avatar="mailto:carol@croct.com"), "lead.avatar", URL_MESSAGE),
    (lead(avatar=""), "lead.avatar", URL_MESSAGE),
    (lead(avatar=url_of(501)), "lead.avatar", "must be at most 500 characters long"),
    (lead(companyUrl="http: //croct.com"), "lead.companyUrl", URL_MESSAGE),
    (lead(companyUrl="croct.com"), "lead.companyUrl", URL_MESSAGE),
    (lead(companyUrl=url_of(201)), "lead.companyUrl", "must be at most 200 characters long"),
    (lead(company="c" * 201), "lead.company", "must be between 1 and 200 characters long"),
    (lead(company=""), "lead.company", "must be between 1 and 200 characters long"),
    # optional means "may be left out", not "may be null"
    ({"leadId": None}, "leadId", "must not be null"),
    ({"lead": None}, "lead", "must not be null"),
    (lead(firstName=None), "lead.firstName", "must not be null"),
    (lead(address={"city": None}), "lead.address.city", "must not be null"),
    # unknown properties, at every level (userId is the one extra the seed itself uses)
    ({"type": "leadGenerated"}, "type", "unknown property"),
    ({"customerId": "c1"}, "customerId", "unknown property"),
    (lead(interests=["crm"]), "lead.interests", "unknown property"),
    (lead(name="Carol Doe"), "lead.name", "unknown property"),
]


@pytest.mark.parametrize(("payload", "path", "message"), INVALID)
def test_invalid_properties_are_rejected(payload: dict[str, Any], path: str, message: str) -> None:
    errors = reject("croct", payload, "leadGenerated")

    assert set(errors) == {path}
    assert message in errors[path].message


def test_a_null_does_not_hide_the_other_broken_rules_of_its_object() -> None:
    errors = reject_all(
        "croct",
        {
            "leadId": None,
            "currency": "c" * 11,
            **lead(firstName=None, lastName="l" * 51, address={"city": None, "state": "CA"}),
        },
        "leadGenerated",
    )
    assert [(e.path, e.rule) for e in errors] == [
        ("leadId", "null"),
        ("currency", "length"),
        ("lead.firstName", "null"),
        ("lead.lastName", "length"),
        ("lead.address.city", "null"),
        ("lead.address.state", "extra_forbidden"),
    ]
    by_path = {e.path: e.message for e in errors}
    assert by_path["currency"] == "must be between 1 and 10 characters long"
    assert by_path["lead.address.state"] == "unknown property"


def test_exact_messages_read_well() -> None:
    errors = reject(
        "croct",
        lead(firstName="", birthDate="2023-02-30", address={"state": "CA"}, custom={f"a{i}": i for i in range(11)}),
        "leadGenerated",
    )
    assert {path: e.message for path, e in errors.items()} == {
        "lead.firstName": "must be between 1 and 50 characters long",
        "lead.birthDate": "must be a real date in YYYY-MM-DD",
        "lead.address.state": "unknown property",
        "lead.custom": "at most 10 attributes",
    }


def test_every_broken_rule_is_reported_at_once() -> None:
    errors = reject("croct", {"leadId": "", "value": -1, "lead": {"gender": "x", "custom": {"1a": 1}}}, "leadGenerated")
    assert set(errors) == {"leadId", "value", "lead.gender", "lead.custom.1a"}


# -- custom attributes -----------------------------------------------------------------------------

VALID_CUSTOM = [
    {f"attr{i}": i for i in range(10)},
    {"a" * 20: 1},
    {"_private": 1, "A1_b2": 2, "x": 3, "_": 4},
    {"s": "s" * 100, "n": -1.5, "i": 0, "t": True, "f": False, "z": None},
    {"emoji": "🐊" * 50},
    {"list": list(range(30))},
    {"list": []},
    {"map": {f"k{i}": i for i in range(30)}},
    {"map": {}},
    {"map": {"k" * 50: 1, "": 2, "any key at all!": 3}},
    {"list": [1, "a", True, None, [1, "b", None], {"k": "v", "n": None}]},
    {"map": {"p": 1, "l": [1, 2, "x"], "m": {"a": 1, "b": False}}},
    {"list": [list(range(30)), {f"k{i}": i for i in range(30)}]},
    {"list": [["s" * 100]], "map": {"m": {"k": "s" * 100}}},
]


@pytest.mark.parametrize("attributes", VALID_CUSTOM)
def test_valid_custom_attributes_are_accepted(attributes: dict[str, Any]) -> None:
    event = accept("croct", custom(**attributes), "leadGenerated")
    assert event.customer.custom == attributes


DEEP = "too deeply nested"

INVALID_CUSTOM = [
    # (custom, path, part of the message)
    ({f"attr{i}": i for i in range(11)}, "lead.custom", "at most 10 attributes"),
    ({"a" * 21: 1}, "lead.custom." + "a" * 21, "attribute names must be at most 20 characters long"),
    ({"1st": 1}, "lead.custom.1st", "must start with a letter or underscore"),
    ({"favorite-emoji": 1}, "lead.custom.favorite-emoji", "followed by letters, digits or underscores"),
    ({"with space": 1}, "lead.custom.with space", "must start with a letter or underscore"),
    ({"café": 1}, "lead.custom.café", "must start with a letter or underscore"),
    ({"": 1}, "lead.custom.", "must start with a letter or underscore"),
    ({"s": "s" * 101}, "lead.custom.s", "must be at most 100 characters long"),
    ({"s": "🐊" * 50 + "a"}, "lead.custom.s", "must be at most 100 characters long"),
    ({"n": float("nan")}, "lead.custom.n", "must be a finite number"),
    ({"list": list(range(31))}, "lead.custom.list", "a list may hold at most 30 elements"),
    ({"map": {f"k{i}": i for i in range(31)}}, "lead.custom.map", "a map may hold at most 30 entries"),
    ({"map": {"k" * 51: 1}}, "lead.custom.map." + "k" * 51, "map keys must be at most 50 characters long"),
    ({"list": ["s" * 101]}, "lead.custom.list[0]", "must be at most 100 characters long"),
    ({"list": [1, ["s" * 101]]}, "lead.custom.list[1][0]", "must be at most 100 characters long"),
    ({"map": {"m": {"k": "s" * 101}}}, "lead.custom.map.m.k", "must be at most 100 characters long"),
    ({"list": [list(range(31))]}, "lead.custom.list[0]", "a list may hold at most 30 elements"),
    ({"list": [{f"k{i}": i for i in range(31)}]}, "lead.custom.list[0]", "a map may hold at most 30 entries"),
    ({"list": [{"k" * 51: 1}]}, "lead.custom.list[0]." + "k" * 51, "map keys must be at most 50 characters long"),
    ({"map": {"l": list(range(31))}}, "lead.custom.map.l", "a list may hold at most 30 elements"),
    ({"list": [[[1]]]}, "lead.custom.list[0][0]", DEEP),
    ({"list": [[{}]]}, "lead.custom.list[0][0]", DEEP),
    ({"list": [{"k": [1]}]}, "lead.custom.list[0].k", DEEP),
    ({"map": {"a": {"b": {}}}}, "lead.custom.map.a.b", DEEP),
    ({"map": {"a": [[1]]}}, "lead.custom.map.a[0]", DEEP),
    ({"map": {"a": {"b": [1]}}}, "lead.custom.map.a.b", DEEP),
]


@pytest.mark.parametrize(("attributes", "path", "message"), INVALID_CUSTOM)
def test_invalid_custom_attributes_are_rejected(attributes: dict[str, Any], path: str, message: str) -> None:
    errors = reject("croct", custom(**attributes), "leadGenerated")

    assert set(errors) == {path}
    assert message in errors[path].message


@pytest.mark.parametrize("value", ["points", ["points"], 10])
def test_custom_must_be_a_map(value: Any) -> None:
    errors = reject("croct", lead(custom=value), "leadGenerated")
    assert errors["lead.custom"].message == "must be an object"


def test_custom_reports_every_problem() -> None:
    attributes = {f"a{i}": i for i in range(10)} | {"1x": "s" * 101}
    errors = [(e.path, e.rule) for e in reject_all("croct", custom(**attributes), "leadGenerated")]
    assert errors == [
        ("lead.custom", "too_many_attributes"),
        ("lead.custom.1x", "attribute_name"),
        ("lead.custom.1x", "length"),
    ]
