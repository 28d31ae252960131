"""The sign-up page (index.html) end to end, in Chromium, against a sandboxed leadrelay.

Copy this file next to your pages and run `pytest test_signup.py` where leadrelay is installed
(`pip install leadrelay pytest-playwright`): the plugin's `leadrelay` fixture starts leadrelay in
sandbox mode, serving this folder at `/`, and tells what each fake vendor received.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from leadrelay.sandbox.client import SandboxClient, error, timeout


@pytest.fixture(scope="session")
def leadrelay_site() -> Path:
    return Path(__file__).parent


def sign_up(page: Page, leadrelay: SandboxClient, click_id: str) -> None:
    """A visitor lands from a Dub short link (…?dub_id=) and signs up."""
    page.goto(f"{leadrelay.url}/?dub_id={click_id}")
    page.fill("input[name=firstName]", "Carol")
    page.fill("input[name=lastName]", "Doe")
    page.fill("input[name=email]", "carol@example.com")
    page.fill("input[name=company]", "Example Inc")
    page.click("button[type=submit]")
    expect(page.locator("#status")).to_have_text("Thanks! Check your inbox.")


def test_a_sign_up_reaches_dub_with_its_click_id(page: Page, leadrelay: SandboxClient) -> None:
    sign_up(page, leadrelay, "clk_signup_1")
    lead = leadrelay.wait_for("dub", clickId="clk_signup_1")
    assert lead["body"]["eventName"] == "Sign up"
    assert lead["body"]["customerEmail"] == "carol@example.com"
    assert lead["body"]["customerName"] == "Carol Doe"
    reshape = leadrelay.wait_for("reshape", user={"email": ["carol@example.com"]})
    assert reshape["body"]["event"]["name"] == "lead_created"
    [event] = leadrelay.events()
    assert event["click_ids"] == {"dub": "clk_signup_1"} and event["customer"]["company"] == "Example Inc"
    assert leadrelay.rejections() == []


def test_the_lead_reaches_dub_when_dub_fails_first(page: Page, leadrelay: SandboxClient) -> None:
    leadrelay.fault("dub", 503, error(429, retry_after=1), timeout())
    sign_up(page, leadrelay, "clk_signup_2")
    leadrelay.wait_for("dub", timeout_s=30, clickId="clk_signup_2")
    assert [request["status"] for request in leadrelay.received("dub")] == [503, 429, None, 200]
