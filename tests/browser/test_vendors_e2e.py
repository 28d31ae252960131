"""End to end in Chromium: a visitor lands from Dub and PIMMS links, becomes a lead, and each fake vendor gets exactly its body."""

from __future__ import annotations

from typing import Any, Callable

from playwright.sync_api import Page

from leadrelay.sandbox.credentials import RESHAPE_SCRIPT
from tests.support.relay import Relay
from tests.support.waiting import wait_until

PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script src="/lr/s.js"></script></head><body><p id="state">waiting</p>
<script>
croct.track('leadGenerated', {
  leadId: 'lead-e2e-1', currency: 'USD', value: 100,
  lead: {firstName: 'Carol', lastName: 'Doe', email: 'carol@example.com', company: 'Croct'}
}).then(function () { document.getElementById('state').textContent = 'tracked'; },
        function (e) { document.getElementById('state').textContent = 'failed: ' + e.message; });
reshape.push({
  event: {name: 'lead_created', value: 500, currency: 'EUR', id: 'RS-77', properties: {form: 'demo'}},
  user: {id: 'LEAD_77', email: 'sarah@example.com', first_name: 'Sarah', last_name: 'Johnson'},
  consent: {analytics: true, marketing: true}
});
</script></body></html>"""


def by(bodies: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, dict[str, Any]]:
    return {key(b): b for b in bodies}


def test_a_lead_reaches_every_vendor_with_its_exact_body(page: Page, relay: Relay) -> None:
    vendors = relay.vendors
    url = relay.add("signup", PAGE) + "?dub_id=dubClick_e2e&pimms_id=pimmsClick_e2e"
    page.goto(url)
    page.wait_for_function("document.getElementById('state').textContent !== 'waiting'")
    assert page.text_content("#state") == "tracked"
    agent = page.evaluate("navigator.userAgent")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert (cookies["dub_id"], cookies["pimms_id"]) == ("dubClick_e2e", "pimmsClick_e2e")

    for fake in (vendors.dub, vendors.pimms, vendors.reshape):
        wait_until(lambda: len(fake.accepted) >= 2, "both leads at every vendor")
    # The fakes have the leads a moment before the worker records their answers.
    delivered = {name: {"delivered": 2} for name in ("dub", "pimms", "reshape")}
    wait_until(lambda: relay.store.delivery_counts() == delivered, "both leads recorded as delivered")

    dub = by(vendors.dub.accepted, lambda b: b["customerExternalId"])
    assert dub == {
        "carol@example.com": {
            "clickId": "dubClick_e2e",
            "eventName": "Sign up",
            "customerExternalId": "carol@example.com",
            "customerName": "Carol Doe",
            "customerEmail": "carol@example.com",
            "customerAvatar": None,
            "mode": "async",
            "metadata": {"value": 100, "currency": "USD"},
        },
        "LEAD_77": {
            "clickId": "dubClick_e2e",
            "eventName": "Sign up",
            "customerExternalId": "LEAD_77",
            "customerName": "Sarah Johnson",
            "customerEmail": "sarah@example.com",
            "customerAvatar": None,
            "mode": "async",
            "metadata": {"value": 500, "currency": "EUR", "properties": {"form": "demo"}},
        },
    }
    assert all(r.headers["authorization"].startswith("Bearer dub_") for r in vendors.dub.requests)

    pimms = by(vendors.pimms.accepted, lambda b: b["externalId"])
    assert pimms == {
        "carol@example.com": {
            "clickId": "pimmsClick_e2e",
            "eventName": "Sign up",
            "externalId": "carol@example.com",
            "mode": "async",
            "customerName": "Carol Doe",
            "customerEmail": "carol@example.com",
            "metadata": {"value": 100, "currency": "USD"},
        },
        "LEAD_77": {
            "clickId": "pimmsClick_e2e",
            "eventName": "Sign up",
            "externalId": "LEAD_77",
            "mode": "async",
            "customerName": "Sarah Johnson",
            "customerEmail": "sarah@example.com",
            "metadata": {"value": 500, "currency": "EUR", "properties": {"form": "demo"}},
        },
    }

    context = {
        "url": url,
        "data_source": "website",
        "user_agent": agent,
        "override_ip": "127.0.0.1",
        "landing_url": url,
    }
    reshape = by(vendors.reshape.accepted, lambda b: b["event"]["id"])
    assert reshape == {
        "lead-e2e-1": {
            "event": {"name": "lead_created", "id": "lead-e2e-1", "value": 100, "currency": "USD"},
            "context": context,
            "user": {"email": ["carol@example.com"], "first_name": "Carol", "last_name": "Doe", "properties": {"company": "Croct"}},
            "cookies": {"dub_id": "dubClick_e2e", "pimms_id": "pimmsClick_e2e"},
        },
        "RS-77": {
            "event": {
                "name": "lead_created",
                "id": "RS-77",
                "value": 500,
                "currency": "EUR",
                "exchange_rate": 1,
                "properties": {"form": "demo"},
            },
            "context": context,
            "user": {"id": "LEAD_77", "email": ["sarah@example.com"], "first_name": "Sarah", "last_name": "Johnson"},
            "cookies": {"dub_id": "dubClick_e2e", "pimms_id": "pimmsClick_e2e"},
            "consent": {"analytics": True, "marketing": True},
        },
    }
    assert all(r.query == {"id": RESHAPE_SCRIPT} for r in vendors.reshape.requests)
    assert (vendors.dub.count, vendors.pimms.count, vendors.reshape.count) == (2, 2, 2)
