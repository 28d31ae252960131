"""The newcomer's first minute: the demo page's form tracks a lead that ends up stored."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from leadrelay.sandbox.live import LiveServer


def test_demo_form_tracks_a_lead_that_is_stored(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.fill("input[name=firstName]", "Grace")
    page.fill("input[name=email]", "grace@example.com")
    page.click("button[type=submit]")
    result = page.locator("#result")
    expect(result).to_have_attribute("data-state", "accepted")
    expect(result).to_contain_text('"firstName"')
    store = live_server.app.state.service.store
    [event] = store.list_events()
    assert event.dialect == "croct"
    assert event.name == "leadGenerated"
    assert event.customer.first_name == "Grace"
    assert event.customer.emails == ["grace@example.com"]
    assert event.context.url == live_server.url + "/"
