"""Forged clicks in Chromium: a visitor lands from a Dub link, then a lead claims another click id.

Dub (the strict fake, which knows only the click that happened) receives the click the
visitor landed with, or nothing: never the forged one.
"""

from __future__ import annotations

from typing import Callable

import pytest
from playwright.sync_api import Page

from tests.browser.snippet_site import loaded, page_html
from tests.fakes import Vendors
from tests.support.relay import Relay
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

LEAD = {"leadId": "L-landed", "currency": "USD", "value": 100, "lead": {"email": "carol@example.com"}}


@pytest.fixture
def shop(start_relay: Callable[..., Relay], vendors: Vendors) -> Relay:
    vendors.dub.known_clicks = {"real"}
    return start_relay()


def land(page: Page, url: str) -> None:
    """Open the landing page from a Dub link and wait until the server has set its click cookie."""
    with page.expect_response(lambda r: "/lr/c?" in r.url):
        page.goto(url + "?dub_id=real")
    loaded(page)


def test_a_lead_whose_envelope_says_forged_reaches_dub_with_the_real_click(page: Page, shop: Relay) -> None:
    site, vendors = shop, shop.vendors
    land(page, site.add("landing", page_html()))
    # A script on the page posts a lead of its own, in the snippet's format, claiming another click.
    answer = page.evaluate(
        """(lead) => fetch('/lr/e', {method: 'POST', body: JSON.stringify({events: [{
             id: 'page-lead-1', dialect: 'croct', type: 'leadGenerated', payload: lead,
             click_ids: {dub: 'forged'}, ts: Date.now()}]})}).then((r) => r.json())""",
        LEAD,
    )
    assert answer["results"][0]["status"] == "accepted"
    wait_until(lambda: vendors.dub.accepted, "the lead at Dub")
    assert [body["clickId"] for body in vendors.dub.accepted] == ["real"]
    [event] = site.wait_for_events(1)
    assert event.click_ids == {"dub": "real"} and [m.code for m in event.marks] == ["click_held_back"]
    wait_until(lambda: vendors.reshape.accepted, "the lead at Reshape")
    assert "forged" not in vendors.sent()


def test_a_click_cookie_overwritten_on_the_page_reaches_dub_as_nothing(page: Page, shop: Relay) -> None:
    site, vendors = shop, shop.vendors
    land(page, site.add("landing", page_html()))
    page.evaluate("document.cookie = 'dub_id=forged; path=/'")  # the snippet then sends it in click_ids too
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    [event] = site.wait_for_events(1)
    assert event.click_ids == {} and "'forged'" in event.marks[0].message
    wait_until(lambda: vendors.reshape.accepted, "the lead at Reshape")
    assert site.store.list_deliveries(destination="dub") == [] and vendors.dub.count == 0
    assert "forged" not in vendors.sent()


def test_a_dub_shaped_body_from_the_page_is_401(page: Page, shop: Relay) -> None:
    site, vendors = shop, shop.vendors
    land(page, site.add("landing", page_html()))
    answer = page.evaluate(
        """() => fetch('/lr/e', {method: 'POST', body: JSON.stringify({events: [{id: 'dub-from-page', dialect: 'dub',
             payload: {clickId: 'forged', eventName: 'Sign up', customerExternalId: 'c-1'}}]})})
           .then((r) => r.json().then((body) => ({status: r.status, body: body})))"""
    )
    assert answer["status"] == 401
    assert "Authorization: Bearer <one of server_keys>" in answer["body"]["error"]["message"]
    assert site.events() == [] and vendors.dub.count == 0
