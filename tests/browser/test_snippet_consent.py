"""Consent: events wait in memory until it is granted, a refusal discards them, GPC is honoured."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.snippet_site import Beacons, Site, loaded, page_html, stored_queue, tick

LEAD = {"leadId": "C-1"}


def test_events_wait_for_consent_then_go_once_it_is_granted(page: Page, site: Site) -> None:
    beacons = Beacons(page)
    page.goto(site.add("pending", page_html(attrs=' data-consent="pending"')) + "?dub_id=clk_c")
    loaded(page)
    page.evaluate("(lead) => { window.tracked = croct.track('leadGenerated', lead); }", LEAD)
    page.evaluate("reshape.push({event: {name: 'newsletter'}})")
    tick(page)

    assert beacons.requests == []
    assert stored_queue(page) == []  # in memory only: nothing written to the visitor's storage
    assert "dub_id" not in {c["name"] for c in page.context.cookies()}  # no click cookie either

    with page.expect_response(lambda r: "/lr/c?" in r.url):
        page.evaluate("leadrelay.consent(true)")
    assert page.evaluate("window.tracked")["leadId"] == "C-1"
    events = site.wait_for_events(2)
    assert {e.name for e in events} == {"leadGenerated", "newsletter"}
    [batch] = beacons.batches()  # in the order they were made, in one request
    assert [e["dialect"] for e in batch] == ["croct", "reshape"]
    assert all(e.click_ids.get("dub") == "clk_c" for e in events)


def test_a_refusal_discards_the_waiting_events(page: Page, site: Site) -> None:
    beacons = Beacons(page)
    page.goto(site.add("refused", page_html(attrs=' data-consent="pending"')))
    loaded(page)
    page.evaluate("(lead) => { window.tracked = croct.track('leadGenerated', lead).catch((e) => e.message); }", LEAD)
    page.evaluate("leadrelay.consent(false)")
    assert "consent" in page.evaluate("window.tracked")
    assert "consent" in page.evaluate("(lead) => croct.track('leadGenerated', lead).catch((e) => e.message)", LEAD)
    tick(page)
    assert beacons.requests == []
    assert site.events() == []


def test_consent_given_before_the_script_loads_is_replayed(page: Page, site: Site) -> None:
    page.goto(site.add("early", page_html(attrs=' data-consent="pending"', src="")))
    page.evaluate("(lead) => { leadrelay.consent(true); window.tracked = croct.track('leadGenerated', lead); }", LEAD)
    page.evaluate("document.head.appendChild(Object.assign(document.createElement('script'), {src: '/lr/s.js'}))")
    assert page.evaluate("window.tracked")["leadId"] == "C-1"


def test_global_privacy_control_is_honoured_until_the_visitor_consents(page: Page, site: Site) -> None:
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    beacons = Beacons(page)
    page.goto(site.add("gpc", page_html()))
    loaded(page)
    refused = page.evaluate("(lead) => croct.track('leadGenerated', lead).catch((e) => e.message)", LEAD)
    assert "consent" in refused
    tick(page)
    assert beacons.requests == []

    page.evaluate("leadrelay.consent(true)")  # the visitor's explicit choice wins over the browser default
    assert page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)["leadId"] == "C-1"
    assert len(site.wait_for_events(1)) == 1
