"""Destinations: the exact body each vendor gets, routing defaults, outcome classification, and the strict fakes."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.destinations import classify, classify_error
from leadrelay.destinations.base import RateLimit, Undeliverable, rate_limit, redact, retry_after
from leadrelay.destinations.dub import DubDestination
from leadrelay.destinations.pimms import PimmsDestination
from leadrelay.destinations.reshape import ReshapeDestination
from leadrelay.dialects.common import json_length
from leadrelay.event import Address, Consent, Context, Customer, LeadEvent
from leadrelay.routing import Router
from leadrelay.sandbox.credentials import DUB_KEY, PIMMS_KEY, RESHAPE_SCRIPT, RESHAPE_TOKEN
from leadrelay.sandbox.vendors import FakeDub, FakePimms, FakeReshape
from leadrelay.vendors import destination_states as enabled_destinations
from tests.fakes.helpers import lead_event, send

BASES = {
    "dub_base_url": "http://dub.test",
    "pimms_base_url": "http://pimms.test",
    "reshape_base_url": "http://reshape.test",
}
ALL = {
    **BASES,
    "dub_api_key": DUB_KEY,
    "pimms_api_key": PIMMS_KEY,
    "reshape_script_id": RESHAPE_SCRIPT,
    "reshape_access_token": RESHAPE_TOKEN,
}


@pytest.fixture
def all_on(make_settings: Any) -> Settings:
    return make_settings(**ALL)


def croct_lead() -> LeadEvent:
    return LeadEvent(
        id="evt-1",
        name="leadGenerated",
        dialect="croct",
        value=120.5,
        currency="EUR",
        source_id="lead-42",
        customer=Customer(
            first_name="Carol",
            last_name="Doe",
            emails=["Carol@Example.com"],
            phones=["+15555983800"],
            avatar="https://example.com/carol.png",
            company="Croct",
            job_title="Head of Marketing",
            address=Address(city="San Francisco", region="California", country="US"),
            custom={"plan": "pro"},
        ),
        click_ids={"dub": "dubClick_1", "pimms": "pimmsClick_1"},
        visitor_id="v" * 32,
        context=Context(
            url="https://shop.example/thanks",
            referrer="https://google.com/",
            landing_url="https://shop.example/?dub_id=dubClick_1",
            user_agent="Mozilla/5.0",
            ip="203.0.113.7",
        ),
        consent=Consent(analytics=True, marketing=False),
        properties={"form": "signup"},
    )


# -- Dub ----------------------------------------------------------------------------------------


def test_dub_body_follows_the_openapi(all_on: Settings) -> None:
    out = DubDestination(all_on).prepare(croct_lead())
    assert out.url == "http://dub.test/track/lead"
    assert out.headers == {"Authorization": f"Bearer {DUB_KEY}"}
    assert out.json == {
        "clickId": "dubClick_1",
        "eventName": "Sign up",
        "customerExternalId": "carol@example.com",
        "customerName": "Carol Doe",
        "customerEmail": "Carol@Example.com",
        "customerAvatar": "https://example.com/carol.png",
        "mode": "async",
        "metadata": {"value": 120.5, "currency": "EUR", "properties": {"form": "signup"}},
    }
    response = send(FakeDub(credential=DUB_KEY), DubDestination(all_on), croct_lead())
    assert response.status_code == 200
    assert set(response.json()) == {"click", "link", "customer"}


def test_customer_external_id_falls_back_to_email_then_visitor(all_on: Settings) -> None:
    dub = DubDestination(all_on)
    event = croct_lead()
    event.customer.external_id = "user_7"
    assert dub.prepare(event).json["customerExternalId"] == "user_7"
    event.customer.external_id = None
    assert dub.prepare(event).json["customerExternalId"] == "carol@example.com"
    event.customer.emails = []
    assert dub.prepare(event).json["customerExternalId"] == "v" * 32


def test_dub_event_names_and_modes_are_configurable(make_settings: Any) -> None:
    s = make_settings(**ALL, dub_events={"leadGenerated": "Trial started"}, dub_mode="wait")
    body = DubDestination(s).prepare(croct_lead()).json
    assert (body["eventName"], body["mode"]) == ("Trial started", "wait")


def test_dub_metadata_stays_within_10000_characters(all_on: Settings) -> None:
    event = croct_lead()
    event.properties = {"small": "kept", "huge": "x" * 20_000, "é": "ü" * 3000}
    body = DubDestination(all_on).prepare(event).json
    assert json_length(body["metadata"]) <= 10_000
    assert body["metadata"]["properties"]["small"] == "kept"
    assert "huge" not in body["metadata"]["properties"]
    assert body["metadata"]["truncated"] is True
    assert send(FakeDub(credential=DUB_KEY), DubDestination(all_on), event).status_code == 200


def test_dub_leaves_out_values_dub_would_reject(all_on: Settings) -> None:
    event = croct_lead()
    event.customer.emails = ["a" * 95 + "@example.com"]  # longer than 100
    event.customer.avatar = "not a url"
    event.customer.first_name = "N" * 150
    body = DubDestination(all_on).prepare(event).json
    assert body["customerEmail"] is None and body["customerAvatar"] is None
    assert len(body["customerName"]) == 100
    assert send(FakeDub(credential=DUB_KEY), DubDestination(all_on), event).status_code == 200


# Addresses near the edges of zod's email rule, which Dub runs on customerEmail; True: Dub takes it.
EMAILS = {
    "carol@example.com": True, "o'brien@example.ie": True, "a+b@sub.example.co.uk": True, "-a@x-.com": True,
    "A@EXAMPLE.COM": True, "a@b.co": True, "a@b.c": False, "a@b.c1": False, "a@example.123": False,
    "a..b@example.com": False, ".a@example.com": False, "a.@example.com": False, "a@example..com": False,
    "a@-x.com": False, "a@example.com.": False, "a@example.com\n": False, "é@example.com": False,
    "a@exämple.com": False, "a!b@example.com": False, "a%b@example.com": False, "a@[127.0.0.1]": False,
    "a@b_c.com": False, "a\u212a@example.com": False, "not an email": False,
}  # fmt: skip


@pytest.mark.parametrize(
    "cls, fake", [(DubDestination, FakeDub(credential=DUB_KEY)), (PimmsDestination, FakePimms(credential=PIMMS_KEY))]
)
@pytest.mark.parametrize(("email", "taken"), EMAILS.items())
def test_an_email_dub_would_refuse_is_left_out_not_sent(
    all_on: Settings, cls: Any, fake: Any, email: str, taken: bool
) -> None:
    """Croct takes any 1-254 characters as an email: one that Dub refuses would lose the whole lead."""
    event = croct_lead()
    event.customer.emails = [email]
    assert cls(all_on).prepare(event).json.get("customerEmail") == (email if taken else None)  # PIMMS: left out
    assert send(fake, cls(all_on), event).status_code == 200


@pytest.mark.parametrize(
    "cls, fake", [(DubDestination, FakeDub(credential=DUB_KEY)), (PimmsDestination, FakePimms(credential=PIMMS_KEY))]
)
def test_event_quantity_goes_along_only_within_1_to_100(all_on: Settings, cls: Any, fake: Any) -> None:
    event = croct_lead()
    for quantity, sent in ((3, 3), (100, 100), (None, None), (0, None), (250, None)):
        event.quantity = quantity
        assert cls(all_on).prepare(event).json.get("eventQuantity") == sent
        assert send(fake, cls(all_on), event).status_code == 200


def test_deferred_attribution_only_when_configured(make_settings: Any) -> None:
    event = croct_lead()
    event.click_ids.pop("dub")
    event.customer.external_id = "user_7"
    assert "dub" not in Router(make_settings(**ALL)).destinations_for(event)
    with pytest.raises(Undeliverable):
        DubDestination(make_settings(**ALL)).prepare(event)
    deferred = make_settings(**ALL, dub_deferred=True)
    assert "dub" in Router(deferred).destinations_for(event)
    body = DubDestination(deferred).prepare(event).json
    assert body["clickId"] == "" and body["customerExternalId"] == "user_7"
    # Dub finds the customer's earlier click; for an unknown customer it answers 400.
    fake = FakeDub(credential=DUB_KEY)
    assert send(fake, DubDestination(deferred), event).status_code == 400
    with_click = croct_lead()
    with_click.customer.external_id = "user_7"
    assert send(fake, DubDestination(deferred), with_click).status_code == 200
    answer = send(fake, DubDestination(deferred), replace(event, name="leadGenerated"))
    assert answer.status_code == 200 and answer.json()["click"]["id"] == "dubClick_1"


# -- PIMMS ------------------------------------------------------------------------------------------


def test_pimms_body_uses_external_id(all_on: Settings) -> None:
    out = PimmsDestination(all_on).prepare(croct_lead())
    assert out.url == "http://pimms.test/track/lead"
    assert out.headers == {"Authorization": f"Bearer {PIMMS_KEY}"}
    assert out.json == {
        "clickId": "pimmsClick_1",
        "eventName": "Sign up",
        "externalId": "carol@example.com",
        "mode": "async",
        "customerName": "Carol Doe",
        "customerEmail": "Carol@Example.com",
        "customerAvatar": "https://example.com/carol.png",
        "metadata": {"value": 120.5, "currency": "EUR", "properties": {"form": "signup"}},
    }
    assert send(FakePimms(credential=PIMMS_KEY), PimmsDestination(all_on), croct_lead()).status_code == 200


def test_pimms_rejects_a_dub_shaped_body(all_on: Settings) -> None:
    """Why PIMMS gets its own body: Dub's `customerExternalId` is not a PIMMS field."""
    dub_shaped = DubDestination(all_on).prepare(croct_lead()).json
    fake = FakePimms(credential=PIMMS_KEY)
    transport = httpx.ASGITransport(app=fake)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://pimms.test") as client:
            return await client.post("/track/lead", json=dub_shaped, headers={"Authorization": f"Bearer {PIMMS_KEY}"})

    response = asyncio.run(go())
    assert response.status_code in (400, 422)
    assert "customerExternalId" in response.json()["error"]["message"]


def test_pimms_needs_its_click_id_and_only_async_or_wait(make_settings: Any) -> None:
    event = croct_lead()
    event.click_ids.pop("pimms")
    s = make_settings(**ALL, dub_mode="deferred")
    assert "pimms" not in Router(s).destinations_for(event)
    with pytest.raises(Undeliverable):
        PimmsDestination(s).prepare(event)
    pimms_event = replace(croct_lead(), dialect="pimms", name="Sign up", mode="deferred")
    assert PimmsDestination(s).prepare(pimms_event).json["mode"] == "async"


# -- Reshape ----------------------------------------------------------------------------------------


def test_reshape_body_and_headers(all_on: Settings) -> None:
    out = ReshapeDestination(all_on).prepare(croct_lead())
    assert out.url == f"http://reshape.test/reshape/standard/event?id={RESHAPE_SCRIPT}"
    assert out.headers == {"X-Dre-Access-Token": RESHAPE_TOKEN}
    assert out.json == {
        "event": {
            "name": "lead_created",
            "id": "lead-42",
            "value": 120.5,
            "currency": "EUR",
            "properties": {"form": "signup"},
        },
        "context": {
            "url": "https://shop.example/thanks",
            "data_source": "website",
            "user_agent": "Mozilla/5.0",
            "override_ip": "203.0.113.7",
            "landing_url": "https://shop.example/?dub_id=dubClick_1",
            "referring_url": "https://google.com/",
        },
        "user": {
            "email": ["Carol@Example.com"],
            "phone": ["+15555983800"],
            "first_name": "Carol",
            "last_name": "Doe",
            "country": "US",
            "region": "California",
            "city": "San Francisco",
            "properties": {"company": "Croct", "job_title": "Head of Marketing", "plan": "pro"},
        },
        "cookies": {"dub_id": "dubClick_1", "pimms_id": "pimmsClick_1"},
        "consent": {"analytics": True, "marketing": False},
    }
    fake = FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT)
    assert send(fake, ReshapeDestination(all_on), croct_lead()).status_code == 200


def test_reshape_event_id_falls_back_to_the_event_id_and_value_currency_are_filled(all_on: Settings) -> None:
    event = replace(croct_lead(), source_id=None, value=None, currency=None)
    body = ReshapeDestination(all_on).prepare(event).json
    assert body["event"] == {"name": "lead_created", "id": "evt-1", "value": 0, "currency": "USD", "properties": {"form": "signup"}}


def test_reshape_events_keep_their_name_and_unlisted_fields(all_on: Settings) -> None:
    raw = {
        "event": {"name": "lead_qualified", "id": "Q-1", "value": 500, "currency": "USD"},
        "user": {"id": "LEAD_789", "orders_total_value": 1234.99, "new_customer": True},
    }
    event = LeadEvent(
        id="evt-9",
        name="lead_qualified",
        dialect="reshape",
        value=500,
        currency="USD",
        source_id="Q-1",
        customer=Customer(external_id="LEAD_789"),
        raw=raw,
    )
    body = ReshapeDestination(all_on).prepare(event).json
    assert body["event"]["name"] == "lead_qualified"
    assert body["user"] == {"id": "LEAD_789", "orders_total_value": 1234.99, "new_customer": True}
    fake = FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT)
    assert send(fake, ReshapeDestination(all_on), event).status_code == 200


def test_reshape_leaves_out_emails_and_phones_it_would_refuse(all_on: Settings) -> None:
    """Croct takes any 1-254 characters as an email and any 1-30 as a phone; Reshape wants addresses and E.164."""
    lead = croct_lead()
    lead.customer.emails = ["0", "carol@croct.com"]
    lead.customer.phones = ["555-1234", "+15555983800", "a" * 64]  # the last one: a SHA-256 hex digest
    body = ReshapeDestination(all_on).prepare(lead).json
    assert body["user"]["email"] == ["carol@croct.com"]
    assert body["user"]["phone"] == ["+15555983800", "a" * 64]
    fake = FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT)
    assert send(fake, ReshapeDestination(all_on), lead).status_code == 200


def test_a_reshape_events_empty_email_list_is_not_forwarded(all_on: Settings) -> None:
    raw = {"event": {"name": "lead_created"}, "user": {"email": [], "phone": "+40712345678"}}
    event = LeadEvent(id="evt-e", name="lead_created", dialect="reshape", customer=Customer(phones=["+40712345678"]), raw=raw)
    body = ReshapeDestination(all_on).prepare(event).json
    assert body["user"] == {"phone": ["+40712345678"]}
    fake = FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT)
    assert send(fake, ReshapeDestination(all_on), event).status_code == 200


# -- routing --------------------------------------------------------------------------------------------


def reshape_event(name: str) -> LeadEvent:
    return LeadEvent(id=f"e-{name}", name=name, dialect="reshape", source_id="x", currency="USD", value=1)


def test_a_destination_without_credentials_is_off(make_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    s = make_settings(dub_api_key=DUB_KEY)
    assert enabled_destinations(s) == {
        "dub": "on",
        "pimms": "off: no pimms_api_key",
        "reshape": "off: no reshape_base_url, reshape_script_id, reshape_access_token",
        "webhook": "off: no webhook_url, webhook_secret",
    }
    assert Router(s).destinations_for(croct_lead()) == ["dub"]
    assert cli(["check"]) == 0
    out = capsys.readouterr().out
    assert "destination pimms:   off: no pimms_api_key" in out


def test_routing_defaults_for_a_site_with_one_vendor(make_settings: Any) -> None:
    dub_only = Router(make_settings(dub_api_key=DUB_KEY))
    assert dub_only.destinations_for(croct_lead()) == ["dub"]
    assert dub_only.destinations_for(replace(reshape_event("lead_created"), click_ids={"dub": "c"})) == ["dub"]
    # A disqualified lead is not a Dub conversion.
    assert dub_only.destinations_for(replace(reshape_event("lead_disqualified"), click_ids={"dub": "c"})) == []
    assert dub_only.destinations_for(replace(croct_lead(), click_ids={})) == []

    reshape_only = Router(make_settings(reshape_base_url="http://r.test", reshape_script_id=RESHAPE_SCRIPT, reshape_access_token="t"))
    assert reshape_only.destinations_for(croct_lead()) == ["reshape"]
    for name in ("lead_created", "lead_qualified", "lead_disqualified"):
        assert reshape_only.destinations_for(reshape_event(name)) == ["reshape"]

    nothing = Router(make_settings())
    assert nothing.destinations_for(croct_lead()) == []


def test_routing_is_configuration(make_settings: Any) -> None:
    s = make_settings(**ALL, dub_events={"*": "*"}, pimms_events={}, reshape_events={"leadGenerated": "lead_qualified"})
    router = Router(s)
    assert router.destinations_for(croct_lead()) == ["dub", "reshape"]
    assert DubDestination(s).prepare(croct_lead()).json["eventName"] == "leadGenerated"
    assert ReshapeDestination(s).prepare(croct_lead()).json["event"]["name"] == "lead_qualified"
    # Events in a vendor's own dialect always go to it.
    pimms_event = replace(croct_lead(), dialect="pimms", name="Free trial")
    assert "pimms" in router.destinations_for(pimms_event)


def test_routing_says_why_a_destination_skips_an_event(make_settings: Any) -> None:
    router = Router(make_settings(**ALL, reshape_events={}))
    without_clicks = replace(croct_lead(), click_ids={})
    skipped = router.skipped(without_clicks)
    assert skipped["pimms"].startswith("no pimms_id")
    assert skipped["dub"].startswith("no dub_id") and "dub_deferred" in skipped["dub"]
    assert skipped["reshape"] == "the event 'leadGenerated' is not mapped to one of its events (reshape_events)"
    assert "webhook" not in skipped
    # What it explains is what it routes: every destination is either taken or explained, never both.
    for event in (without_clicks, croct_lead(), reshape_event("lead_disqualified")):
        taken = router.destinations_for(event)
        assert sorted(taken + list(router.skipped(event))) == sorted(router.destinations)
        assert not set(taken) & set(router.skipped(event))
    deferred = Router(make_settings(**ALL, dub_deferred=True))
    assert deferred.skipped(without_clicks)["dub"] == "no dub_id, and no customer id to attribute the lead to later (deferred attribution)"


# -- outcomes -----------------------------------------------------------------------------------------


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {}, headers=headers)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, "delivered"), (202, "delivered"), (408, "retry"), (429, "retry"), (500, "retry"), (503, "retry"),
     (400, "dead"), (404, "dead"), (409, "dead"), (410, "dead"), (422, "dead"), (401, "dead"), (403, "dead"), (301, "dead")],
)
def test_classification(all_on: Settings, status: int, verdict: str) -> None:
    error = {"error": {"code": "x", "message": "the vendor's words", "doc_url": "u"}}
    outcome = classify(DubDestination(all_on), answer(status, error if status >= 400 else {"click": {"id": "c"}}))
    assert outcome.verdict == verdict
    assert outcome.unhealthy == (status in (401, 403))
    if status >= 400:
        assert outcome.error == f"HTTP {status} x: the vendor's words"


def test_a_vendors_long_explanation_is_kept_short(all_on: Settings) -> None:
    outcome = classify(DubDestination(all_on), answer(400, {"error": {"code": "bad_request", "message": "why " * 1000}}))
    assert outcome.error is not None
    assert outcome.error.startswith("HTTP 400 bad_request: why why")
    assert len(outcome.error) == len("HTTP 400 ") + 500


def test_transport_errors_are_retried() -> None:
    assert classify_error(httpx.ConnectError("refused")).verdict == "retry"
    assert classify_error(httpx.ReadTimeout("slow")).verdict == "retry"
    assert classify_error(httpx.RemoteProtocolError("peer closed")).verdict == "retry"
    assert classify_error(TimeoutError()).verdict == "retry"


NOW = 1_763_799_960.0  # Sat, 22 Nov 2025 08:26:00 GMT, the start of a minute


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7),
        ("1.5", 1.5),
        ("Sat, 22 Nov 2025 09:06:00 GMT", 40 * 60),
        ("Sat, 22 Nov 2025 08:24:20 GMT", 0),  # a date passed
        (str(int(NOW * 1000) + 30_000), 30),  # Dub's: the limiter's reset, an epoch time in milliseconds
        (str(int(NOW) + 30), 30),  # an epoch time in seconds
        (str(int(NOW * 1000) - 5_000), 0),  # a moment passed
    ],
    ids=["seconds", "fraction", "http-date", "past-date", "epoch-ms", "epoch-s", "past-epoch-ms"],
)
def test_retry_after_in_each_form_vendors_send(value: str, seconds: float) -> None:
    assert retry_after(httpx.Headers({"Retry-After": value}), now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "", "-5", "nan", "inf", "Mon, 99 Foo 2020 25:61:61 +9999"])
def test_an_unreadable_retry_after_is_none(value: str) -> None:
    assert retry_after(httpx.Headers({"Retry-After": value} if value else {}), now=NOW) is None


def test_the_rate_limit_headers_are_read_with_dubs_reset_in_milliseconds() -> None:
    headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": str(int(NOW * 1000) + 20_000)}
    assert rate_limit(httpx.Headers(headers), now=NOW) == RateLimit(remaining=12, reset_s=20.0, limit=600)
    assert rate_limit(httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "45"}), now=NOW) == RateLimit(0, 45.0)
    assert rate_limit(httpx.Headers({"X-RateLimit-Limit": "600"}), now=NOW) is None  # no budget said
    assert rate_limit(httpx.Headers({"X-RateLimit-Remaining": "lots"}), now=NOW) is None
    outcome = classify(DubDestination(Settings(dub_api_key=DUB_KEY)), answer(200, {"link": {}}, headers=headers))
    assert outcome.rate_limit is not None and outcome.rate_limit.remaining == 12


# -- secrets ------------------------------------------------------------------------------------------


def test_secrets_never_show(all_on: Settings) -> None:
    shown = repr(all_on) + str(all_on.model_dump()) + json.dumps(all_on.model_dump(mode="json"))
    for secret in (DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN):
        assert secret not in shown
    assert redact(f"echo Bearer {DUB_KEY}", [DUB_KEY]) == "echo Bearer ***"
    assert redact({"error": {"message": f"bad {PIMMS_KEY}"}}, [PIMMS_KEY]) == {"error": {"message": "bad ***"}}


SLASHED_KEY = "dub_live/SECRET/key"
SPELLINGS = {
    "php-slash": "dub_live\\/SECRET\\/key",  # PHP's json_encode writes '/' as '\\/'
    "unicode-escape": "\\u0064ub_live/SECRET/key",
    "mixed": "\\u0064ub_live\\/SECRET\\u002Fkey",
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_a_key_the_vendor_echoes_json_escaped_is_not_kept(make_settings: Any, spelling: str) -> None:
    dub = DubDestination(make_settings(**{**ALL, "dub_api_key": SLASHED_KEY}))

    def answer_with(status: int, body: str) -> httpx.Response:
        return httpx.Response(status, content=body.encode(), headers={"Content-Type": "application/json"})

    ok = classify(dub, answer_with(200, f'{{"click": {{"id": "c"}}, "link": {{"id": "l"}}, "echo": "Bearer {spelling}"}}'))
    refused = classify(dub, answer_with(400, f'{{"error": {{"code": "bad_request", "message": "bad key {spelling}"}}}}'))
    cut = "x" * (4000 - len('{"message": "') - 8)  # the answer is kept as text, cut at 4,000 characters: inside the key
    long = classify(dub, answer_with(500, f'{{"message": "{cut}{spelling}{"y" * 200}"}}'))
    assert ok.verdict == "delivered" and ok.response["echo"] == "Bearer ***"
    assert refused.error == "HTTP 400 bad_request: bad key ***"
    assert long.response["truncated"] is True and long.response["text"].endswith("***yyyyy")
    for outcome in (ok, refused, long):
        kept = json.dumps(outcome.response, ensure_ascii=False) + (outcome.error or "")
        assert "SECRET" not in kept and "dub_live" not in kept



@pytest.mark.parametrize("charset", [None, "utf-8", "utf-16"])
def test_a_key_the_vendor_echoes_as_it_is_is_not_kept_whatever_the_answers_charset(make_settings: Any, charset: str | None) -> None:
    """An ordinary answer's body is not searched (nothing in its bytes can spell a key); one that names a
    charset, or holds the key's bytes, is."""
    dub = DubDestination(make_settings(**ALL))
    body = f'{{"click": {{"id": "c"}}, "link": {{"id": "l"}}, "echo": "Bearer {DUB_KEY}"}}'
    kind = "application/json" if charset is None else f"application/json; charset={charset}"
    answer = httpx.Response(200, content=body.encode(charset or "utf-8"), headers={"Content-Type": kind})
    ok = classify(dub, answer)
    assert ok.verdict == "delivered" and ok.response["echo"] == "Bearer ***"
    plain = classify(dub, httpx.Response(200, json={"click": {"id": "c"}, "link": {"id": "l"}}))
    assert plain.response == {"click": {"id": "c"}, "link": {"id": "l"}}

def test_redact_reaches_keys_and_every_string_of_a_structure() -> None:
    value = {SLASHED_KEY: [f"a {SLASHED_KEY}", {"b": SPELLINGS["mixed"]}], "n": 1}
    assert redact(value, [SLASHED_KEY]) == {"***": ["a ***", {"b": "***"}], "n": 1}


def test_fakes_refuse_wrong_credentials(all_on: Settings, make_settings: Any) -> None:
    wrong = make_settings(**{**ALL, "dub_api_key": "dub_wrong", "reshape_access_token": "nope"})
    dub = send(FakeDub(credential=DUB_KEY), DubDestination(wrong), croct_lead())
    assert dub.status_code == 401 and dub.json()["error"]["code"] == "unauthorized"
    reshape = send(FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT), ReshapeDestination(wrong), croct_lead())
    assert reshape.status_code == 401


def test_fake_dub_answers_a_repeat_with_link_null(all_on: Settings) -> None:
    fake = FakeDub(credential=DUB_KEY)
    first = send(fake, DubDestination(all_on), croct_lead())
    again = send(fake, DubDestination(all_on), croct_lead())
    assert first.json()["link"] is not None and again.json()["link"] is None
    assert fake.recorded_count == 1 and len(fake.recorded) == 1


def test_fake_dub_remembers_customer_and_event_name_for_7_days(all_on: Settings, make_settings: Any) -> None:
    now = [NOW]
    fake = FakeDub(credential=DUB_KEY, clock=lambda: now[0])
    dub = DubDestination(all_on)
    assert send(fake, dub, croct_lead()).json()["link"] is not None
    renamed = DubDestination(make_settings(**ALL, dub_events={"leadGenerated": "sign-up"}))  # Dub's key: "sign-up"
    now[0] += 7 * 86400 - 60
    assert send(fake, renamed, replace(croct_lead(), id="evt-2")).json()["link"] is None
    now[0] += 120  # 7 days and a minute after the first
    assert send(fake, dub, replace(croct_lead(), id="evt-3")).json()["link"] is not None
    assert fake.recorded_count == 2
    deferred = DubDestination(make_settings(**ALL, dub_mode="deferred"))  # no dedup in deferred mode
    assert send(fake, deferred, croct_lead()).json()["link"] is not None


def test_fake_dub_writes_its_dedup_key_before_it_looks_for_the_click(all_on: Settings) -> None:
    fake = FakeDub(credential=DUB_KEY, known_clicks=set())
    refused = send(fake, DubDestination(all_on), croct_lead())
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == "Click event not found for clickId: dubClick_1"
    fake.known_clicks = None  # the click exists now; the lead is sent again, corrected or not
    again = send(fake, DubDestination(all_on), croct_lead())
    assert again.status_code == 200 and again.json()["link"] is None
    assert fake.recorded_count == 0


def test_fake_dub_limits_each_key_per_minute_as_dubs_limiter_does(all_on: Settings) -> None:
    now = [NOW + 30]  # half way through a minute
    fake = FakeDub(credential=DUB_KEY, rate_limit=3, clock=lambda: now[0])
    dub = DubDestination(all_on)
    reset = str(int((NOW + 60) * 1000))  # the minute's end, in milliseconds since the epoch
    answers = [send(fake, dub, replace(croct_lead(), id=f"evt-{n}", customer=Customer(external_id=f"c{n}"))) for n in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["x-ratelimit-limit"] for a in answers} == {"3"}
    assert {a.headers["x-ratelimit-reset"] for a in answers} == {a.headers["retry-after"] for a in answers} == {reset}
    assert answers[3].json()["error"]["code"] == "rate_limit_exceeded"
    assert (fake.rate_limited, fake.recorded_count) == (1, 3)
    now[0] += 45  # 15 s into the next minute, 3/4 of the last one still counts: floor(0.75 x 3) = 2 used
    assert send(fake, dub, replace(croct_lead(), id="evt-5", customer=Customer(external_id="c5"))).headers["x-ratelimit-remaining"] == "0"
    assert send(fake, dub, replace(croct_lead(), id="evt-6", customer=Customer(external_id="c6"))).status_code == 429
    now[0] += 60
    assert send(fake, dub, replace(croct_lead(), id="evt-7", customer=Customer(external_id="c7"))).status_code == 200


def test_lead_helper_builds_events_every_fake_accepts(all_on: Settings) -> None:
    event = lead_event(3)
    assert send(FakeDub(credential=DUB_KEY), DubDestination(all_on), event).status_code == 200
    assert send(FakePimms(credential=PIMMS_KEY), PimmsDestination(all_on), event).status_code == 200
    fake = FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT)
    assert send(fake, ReshapeDestination(all_on), event).status_code == 200
