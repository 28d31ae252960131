"""The newcomer's first minute: the demo page shows a lead's whole path, from the click id to each vendor."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.sandbox.live import LiveServer
from leadrelay.sandbox.vendors import Fault
from tests.fakes import Vendors
from tests.fakes.helpers import FAST

HOSTILE_KEY = "<img src=x onerror=window.pwned=1>"
HOSTILE_NAME = "<script>window.pwned=1</script>"


@pytest.fixture
def live(make_settings: Callable[..., Settings]) -> Iterator[tuple[LiveServer, Vendors]]:
    """The demo against strict fake vendors on loopback, as a site with every vendor's keys would run it."""
    with Vendors() as vendors:
        settings = make_settings(**vendors.settings(), **FAST)
        with LiveServer(create_app(settings), settings=settings) as server:
            yield server, vendors


def test_the_demo_shows_the_click_the_event_and_each_destination(page: Page, live: tuple[LiveServer, Vendors]) -> None:
    server, vendors = live
    page.goto(server.url + "/?dub_id=demo_click_1")
    expect(page.locator("[data-click=dub]")).to_have_text("demo_click_1 (cookie set by leadrelay)")
    expect(page.locator("[data-click=pimms]")).to_have_text("none")
    expect(page.locator("#mode")).to_have_text("Live · events go to the vendors configured")
    page.fill("input[name=firstName]", "Grace")
    page.fill("input[name=email]", "grace@example.com")
    page.click("button[type=submit]")

    shown = page.locator(".event[data-state=accepted]")
    expect(shown.locator("[data-fact=status] .pill")).to_have_text("stored")
    expect(shown.locator("[data-fact=click-ids]")).to_have_text("dub: demo_click_1")
    store = server.app.state.service.store
    [event] = store.list_events()
    expect(shown.locator(".event-id")).to_have_text(event.id)
    assert event.customer.first_name == "Grace" and event.click_ids == {"dub": "demo_click_1"}

    dub = shown.locator("[data-destination=dub]")
    expect(dub).to_have_attribute("data-state", "delivered")
    expect(dub).to_contain_text("as “Sign up” · 1 attempt")
    expect(shown.locator("[data-destination=reshape]")).to_have_attribute("data-state", "delivered")
    pimms = shown.locator("[data-destination=pimms]")
    expect(pimms).to_have_attribute("data-state", "skipped")
    expect(pimms.locator(".why")).to_contain_text("PIMMS: no pimms_id")
    [received] = vendors.dub.accepted
    assert received["clickId"] == "demo_click_1" and received["eventName"] == "Sign up"


def test_a_vendor_that_is_down_shows_as_retrying_with_its_error(page: Page, live: tuple[LiveServer, Vendors]) -> None:
    server, vendors = live
    vendors.dub.outage = Fault.error(503)
    page.goto(server.url + "/?dub_id=demo_click_1")
    expect(page.locator("[data-click=dub]")).to_contain_text("cookie set by leadrelay")
    page.click("button[type=submit]")
    dub = page.locator(".event[data-state=accepted] [data-destination=dub]")
    expect(dub).to_have_attribute("data-state", "retrying")
    expect(dub.locator(".last-error")).to_contain_text("HTTP 503")
    vendors.dub.outage = None
    expect(dub).to_have_attribute("data-state", "delivered")  # the page keeps following it


def test_the_invalid_lead_button_shows_each_field_error(page: Page, live: tuple[LiveServer, Vendors]) -> None:
    server, _ = live
    page.goto(server.url + "/")
    page.click("#invalid")
    rejected = page.locator(".event[data-state=rejected]")
    expect(rejected.locator("[data-fact=status] .pill")).to_have_text("rejected")
    errors = rejected.locator(".errors li")
    expect(errors.filter(has_text="lead.gender")).to_contain_text("must be 'male', 'female', 'neutral' or 'unknown'")
    expect(errors.filter(has_text="lead.birthDate")).to_contain_text("a real date")
    expect(errors.filter(has_text="leadId")).to_contain_text("between 1 and 100 characters")
    assert errors.count() >= 4
    assert server.app.state.service.store.list_events() == []


def test_stored_strings_are_shown_as_text_never_run(page: Page, live: tuple[LiveServer, Vendors]) -> None:
    server, _ = live
    page.goto(server.url + "/")
    page.wait_for_function("window.leadrelay && leadrelay.loaded")
    # An unknown property named like markup: its error's path is the attacker's own string.
    page.evaluate("(key) => croct.track('leadGenerated', {lead: {[key]: 1}}).catch(() => {})", HOSTILE_KEY)
    expect(page.locator(".event[data-state=rejected] .errors code")).to_have_text(f"lead.{HOSTILE_KEY}")
    page.fill("input[name=firstName]", HOSTILE_NAME)
    page.click("button[type=submit]")
    expect(page.locator(".event[data-state=accepted] [data-destination=dub]")).to_have_attribute("data-state", "skipped")
    assert page.locator("#path img, #path script").count() == 0
    assert page.evaluate("window.pwned") is None
    [event] = server.app.state.service.store.list_events()
    assert event.customer.first_name == HOSTILE_NAME


def test_the_page_runs_no_script_but_its_own(page: Page, live: tuple[LiveServer, Vendors]) -> None:
    server, _ = live
    response = page.goto(server.url + "/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None)
    page.wait_for_function("window.leadrelay && leadrelay.loaded")
    page.click("button[type=submit]")
    expect(page.locator(".event [data-fact=status] .pill")).to_have_text("stored")
    assert errors == []  # the stub, the snippet, the style and demo.js all pass the policy


@pytest.fixture
def sandboxed(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    """The demo as `./run serve` runs it with no vendor key: sandbox mode, every vendor a fake in the process."""
    settings = make_settings(sandbox=True, **FAST)
    with LiveServer(create_app(settings), settings=settings) as server:
        yield server


def received_by(server: LiveServer, vendor: str) -> list[Any]:
    """What the sandbox's fake `vendor` recorded, accepted."""
    fake = server.app.state.service.sandbox.fakes[vendor]
    return [r.body for r in fake.requests if r.status is not None and 200 <= r.status < 300]


def test_in_sandbox_mode_the_demo_shows_exactly_what_each_fake_vendor_received(page: Page, sandboxed: LiveServer) -> None:
    page.goto(sandboxed.url + "/?dub_id=demo_click_1&pimms_id=demo_pimms_1")
    expect(page.locator("#mode")).to_have_text("Sandbox mode · nothing leaves this machine")
    expect(page.locator("[data-click=pimms]")).to_have_text("demo_pimms_1 (cookie set by leadrelay)")
    page.fill("input[name=firstName]", HOSTILE_NAME)
    page.click("button[type=submit]")
    shown = page.locator(".event[data-state=accepted]")
    for vendor in ("dub", "pimms", "reshape", "webhook"):
        item = shown.locator(f"[data-destination={vendor}]")
        expect(item).to_have_attribute("data-state", "delivered")
        expect(item.locator(".caption")).to_contain_text("received · accepted")
        body = json.loads(item.locator(".received pre").inner_text())
        assert received_by(sandboxed, vendor)[-1] == body  # what the page shows is what the fake got
    dub = json.loads(shown.locator("[data-destination=dub] .received pre").inner_text())
    assert dub["clickId"] == "demo_click_1" and dub["eventName"] == "Sign up"
    assert dub["customerName"] == HOSTILE_NAME  # shown as text: the page ran none of it
    pimms = json.loads(shown.locator("[data-destination=pimms] .received pre").inner_text())
    assert pimms["clickId"] == "demo_pimms_1"
    assert page.evaluate("window.pwned") is None
    assert page.locator("#path script, #path img").count() == 0
