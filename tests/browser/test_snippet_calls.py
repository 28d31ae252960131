"""The two calling styles: croct.track's promise, reshape.push with the seed's examples, debug output."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.browser.snippet_site import Beacons, Site, loaded, page_html, stored_queue

SEED_LEAD = {  # seed 000's example, made valid: the comma it lacks, no state/continent, well-formed URLs
    "leadId": "1ed2fd65-a027-4f3a-a35f-c6dd97537392",
    "currency": "USD",
    "value": 100,
    "lead": {
        "firstName": "Carol",
        "lastName": "Doe",
        "birthDate": "2000-08-31",
        "gender": "female",
        "email": "carol@croct.com",
        "alternateEmail": "example@croct.com",
        "phone": "+15555983800",
        "alternatePhone": "+15555983800",
        "address": {
            "street": "123 Some Street",
            "district": "Kings Oak",
            "city": "San Francisco",
            "region": "California",
            "country": "US",
        },
        "avatar": "http://croct.com/carol.png",
        "company": "Croct",
        "companyUrl": "http://croct.com",
        "jobTitle": "Head of Marketing",
        "custom": {"points": 1, "favoriteEmoji": "🐊"},
    },
}

# Seed 003's three examples. Its email addresses were mangled to "[email protected]" by the page
# it was copied from; they are put back as addresses here.
RESHAPE_COMPLETE = {
    "event": {
        "name": "lead_qualified",
        "value": 750.00,
        "currency": "USD",
        "exchange_rate": 1,
        "id": "QUALIFIED_LEAD_456",
        "properties": {
            "qualification_method": "sales_review",
            "lead_score_before": 65,
            "lead_score_after": 95,
            "qualification_criteria_met": 8,
            "days_in_pipeline": 14,
            "touchpoints_count": 12,
            "qualification_confidence": 0.92,
            "assigned_sales_rep": "john_sales",
            "next_action_planned": "discovery_call",
            "qualification_notes_added": True,
        },
    },
    "context": {
        "environment": "prod",
        "data_source": "crm_system",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36",
        "overide_ip": "203.145.67.89",
        "url": "https://crm.example.com/leads/qualification",
        "landing_url": "https://example.com/enterprise-solutions",
        "referring_url": "https://linkedin.com/company/example",
    },
    "user": {
        "id": "LEAD_789123",
        "email": ["sarah.johnson@example.com"],
        "phone": ["+1555987654"],
        "first_name": "Sarah",
        "last_name": "Johnson",
        "country": "United States",
        "region": "New York",
        "city": "New York",
        "street": "456 Corporate Plaza, Floor 15",
        "postal_code": "10001",
        "properties": {
            "job_title": "VP of Operations",
            "company_industry": "manufacturing",
            "company_size": "500-1000",
            "annual_revenue": "50M-100M",
            "decision_maker": True,
            "budget_authority": True,
            "preferred_language": "en",
            "lead_source": "linkedin_ads",
            "qualification_status": "sales_qualified",
        },
    },
}
RESHAPE_MINIMAL = {
    "event": {"name": "lead_qualified", "value": 400.00, "currency": "USD", "id": "QUALIFIED_MIN_123"},
    "context": {"environment": "prod", "data_source": "website"},
    "user": {"email": ["mike.davis@example.com"], "first_name": "Mike", "last_name": "Davis", "country": "Canada"},
}
RESHAPE_SNIPPET = {
    "event": {"name": "lead_qualified", "value": 750.00, "currency": "USD", "id": "QUALIFIED_LEAD_456"},
    "context": {"environment": "prod", "data_source": "crm_system"},
    "user": {"email": "sarah@example.com", "new_customer": True},
}


def test_track_resolves_with_the_processed_event(page: Page, site: Site) -> None:
    page.goto(site.add("track", page_html()))
    processed = page.evaluate("(lead) => croct.track('leadGenerated', lead)", SEED_LEAD)

    assert processed["leadId"] == SEED_LEAD["leadId"]
    assert processed["currency"] == "USD"
    assert processed["value"] == 100
    operations = processed["patch"]["operations"]
    assert {"type": "set", "path": "firstName", "value": "Carol"} in operations
    assert {"type": "set", "path": "custom.favoriteEmoji", "value": "🐊"} in operations
    [event] = site.wait_for_events(1)
    assert event.customer.first_name == "Carol"


def test_event_ids_are_version_7_uuids_that_sort_by_the_time_they_were_made(page: Page, site: Site) -> None:
    page.goto(site.add("ids", page_html()))
    before_ms = int(time.time() * 1000)
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", {"leadId": "first"})
    page.wait_for_timeout(20)
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", {"leadId": "second"})
    after_ms = int(time.time() * 1000)

    first, second = sorted(site.wait_for_events(2), key=lambda e: e.source_id or "")
    for event in (first, second):
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event.id), event.id
        made_ms = int(event.id.replace("-", "")[:12], 16)  # the first 48 bits: the time in ms
        assert before_ms - 1000 <= made_ms <= after_ms + 1000
    assert first.id < second.id  # made 20 ms apart: the later sorts after the earlier


def test_track_rejects_with_field_errors_and_the_event_is_not_retried(page: Page, site: Site) -> None:
    beacons = Beacons(page)
    page.goto(site.add("reject", page_html()))
    bad = {"leadId": "x", "value": -1, "lead": {"gender": "robot", "nickname": "Al"}}
    error: dict[str, Any] = page.evaluate(
        """(bad) => croct.track('leadGenerated', bad).then(
            () => null,
            (e) => ({message: e.message, errors: e.errors, isError: e instanceof Error}))""",
        bad,
    )

    assert error["isError"]
    assert error["message"].startswith("Invalid event payload: ")
    paths = {e["path"]: e for e in error["errors"]}
    assert set(paths) >= {"value", "lead.gender", "lead.nickname"}
    assert all(e["message"] and e["rule"] for e in error["errors"])
    # A 4xx is final: nothing is kept for a retry, and the event went out once.
    assert stored_queue(page) == []
    assert len(beacons.requests) == 1
    [rejection] = site.store.list_rejections()
    assert rejection["event_id"] == beacons.ids()[0]


def test_an_unconfigured_croct_event_type_is_rejected_with_a_reason(page: Page, site: Site) -> None:
    page.goto(site.add("type", page_html()))
    message = page.evaluate("croct.track('goalCompleted', {goalId: 'g'}).catch((e) => e.message)")
    assert "goalCompleted" in message


@pytest.mark.parametrize("example", [RESHAPE_COMPLETE, RESHAPE_MINIMAL, RESHAPE_SNIPPET], ids=["complete", "minimal", "js"])
def test_the_seeds_reshape_examples_are_accepted_before_and_after_load(page: Page, site: Site, example: Any) -> None:
    page.goto(site.add("reshape", page_html(stub=False, src="")))
    page.evaluate("(x) => { window.reshape = window.reshape || []; reshape.push(x); }", example)  # before load
    page.evaluate("document.head.appendChild(Object.assign(document.createElement('script'), {src: '/lr/s.js'}))")
    loaded(page)
    page.evaluate("(x) => reshape.push(x)", example)  # after load

    first, second = site.wait_for_events(2)
    assert first.id != second.id  # each push is its own event (and its own dedup key)
    for event in (first, second):
        assert event.dialect == "reshape"
        assert event.name == "lead_qualified"
        assert event.raw == example
        # The page's URL, unless the pushed object names its own.
        assert event.context.url == example["context"].get("url", site.url + "/t/reshape")
    assert site.store.list_rejections() == []


def test_debug_mode_logs_events_responses_and_validation_errors(page: Page, site: Site) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(_text(message)))
    page.goto(site.add("debug", page_html()) + "?leadrelay_debug=1")
    page.evaluate("croct.track('leadGenerated', {leadId: 'ok'})")
    page.evaluate("croct.track('leadGenerated', {lead: {gender: 'robot'}}).catch(() => 0)")

    log = "\n".join(messages)
    assert "[leadrelay] croct leadGenerated" in log  # each event
    assert "[leadrelay] response 200" in log  # each response
    assert "[leadrelay] response 422" in log
    assert "lead.gender: must be" in log  # each validation error, by path


def test_without_debug_mode_the_console_stays_quiet(page: Page, site: Site) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(_text(message)))
    page.goto(site.add("quiet", page_html()))
    page.evaluate("croct.track('leadGenerated', {lead: {gender: 'robot'}}).catch(() => 0)")
    assert not [m for m in messages if "leadrelay" in m]


def _text(message: ConsoleMessage) -> str:
    return message.text
