"""End to end in Chromium: a page's croct.track reaches the site's own webhook receiver, signed."""

from __future__ import annotations

from typing import Callable

import pytest
from playwright.sync_api import Page

from tests.browser.snippet_site import Site, page_html
from tests.fakes import Receiver
from tests.fakes.helpers import FAST
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

SIGNUP = """<p id="state">waiting</p>
<script>
croct.track('leadGenerated', {
  leadId: 'lead-webhook-1', currency: 'EUR', value: 250,
  lead: {firstName: 'Carol', lastName: 'Doe', email: 'carol@example.com', custom: {plan: 'pro'}}
}).then(function () { document.getElementById('state').textContent = 'tracked'; },
        function (e) { document.getElementById('state').textContent = 'failed: ' + e.message; });
</script>"""


def test_a_lead_in_the_browser_reaches_the_receiver_signed(page: Page, make_site: Callable[..., Site], receiver: Receiver) -> None:
    site = make_site(worker=True, webhook_events={"leadGenerated": "lead.created"}, **receiver.settings(), **FAST)
    url = site.add("signup", page_html(SIGNUP))
    page.goto(f"{url}?dub_id=dubClick_wh")
    page.wait_for_function("document.getElementById('state').textContent !== 'waiting'")
    assert page.text_content("#state") == "tracked"

    [body] = wait_until(lambda: receiver.fake.accepted, "the signed event at the receiver")  # accepted: verified
    [request] = receiver.fake.requests
    [stored] = site.events()
    assert request.headers["webhook-id"].startswith("msg_")
    assert body["type"] == "lead.created"
    data = body["data"]
    assert data["id"] == stored.id and data["name"] == "leadGenerated" and data["dialect"] == "croct"
    assert (data["value"], data["currency"], data["source_id"]) == (250, "EUR", "lead-webhook-1")
    customer = data["customer"]
    assert (customer["first_name"], customer["last_name"], customer["emails"]) == ("Carol", "Doe", ["carol@example.com"])
    assert customer["custom"] == {"plan": "pro"}
    assert data["click_ids"] == {"dub": "dubClick_wh"}
    assert data["visitor_id"] == stored.visitor_id
    assert data["context"]["url"] == f"{url}?dub_id=dubClick_wh"
    assert data["context"]["user_agent"] == page.evaluate("navigator.userAgent")
    assert site.store.delivery_counts() == {"webhook": {"delivered": 1}}
