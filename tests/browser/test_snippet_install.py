"""Installing the snippet: the stub's queue, a blocked script, module use, a strict CSP, other libraries."""

from __future__ import annotations

import base64
import hashlib
import re

from playwright.sync_api import Page

from leadrelay.demo import STUB
from tests.browser.snippet_site import Beacons, Site, loaded, page_html

LEAD = {"leadId": "lead-1", "currency": "USD", "value": 10, "lead": {"firstName": "Ada", "email": "ada@example.com"}}


def test_calls_made_before_the_script_arrives_are_replayed_in_order_in_one_request(page: Page, site: Site) -> None:
    # The page calls both styles before the snippet exists; the test then adds the script tag.
    url = site.add("early", page_html(src=""))
    beacons = Beacons(page)
    page.goto(url)
    page.evaluate(
        """(lead) => {
            window.reshape = window.reshape || [];
            reshape.push({event: {name: "first_visit"}});
            window.tracked = croct.track("leadGenerated", lead);
            reshape.push({event: {name: "lead_created", currency: "EUR", id: "R-2", value: 5}});
            leadrelay.consent(true);
        }""",
        LEAD,
    )
    page.evaluate("document.head.appendChild(Object.assign(document.createElement('script'), {src: '/lr/s.js'}))")
    processed = page.evaluate("window.tracked")

    assert processed["leadId"] == "lead-1"
    [batch] = beacons.batches()  # made in the same moment: one request
    assert [(e["dialect"], e.get("type"), e["payload"].get("event", {}).get("name")) for e in batch] == [
        ("reshape", None, "first_visit"),
        ("croct", "leadGenerated", None),
        ("reshape", None, "lead_created"),
    ]
    assert beacons.requests[0].headers["content-type"].startswith("text/plain")  # no CORS preflight
    stored = site.wait_for_events(3)
    assert {e.name for e in stored} == {"first_visit", "leadGenerated", "lead_created"}


def test_a_detached_stub_function_still_works_after_load(page: Page, site: Site) -> None:
    url = site.add("detached", page_html())
    page.goto(url)
    page.evaluate("window.savedTrack = croct.track; 0")  # may be the stub's function
    loaded(page)
    processed = page.evaluate("(lead) => savedTrack('leadGenerated', lead)", LEAD)
    assert processed["leadId"] == "lead-1"


def test_a_blocked_script_never_breaks_the_pages_calls(page: Page, site: Site) -> None:
    page.route("**/lr/s.js", lambda route: route.abort("blockedbyclient"))
    with_stub = site.add("blocked", page_html())
    without_stub = site.add("blocked-bare", page_html(stub=False))

    page.goto(with_stub)
    outcome = page.evaluate(
        """() => {
            window.reshape = window.reshape || [];
            reshape.push({event: {name: "lead_created"}});
            var p = croct.track("leadGenerated", {});
            leadrelay.consent(false);
            return typeof p.then;
        }"""
    )
    assert outcome == "function"

    page.goto(without_stub)  # Reshape's own documented line keeps working without leadrelay
    assert page.evaluate("window.reshape = window.reshape || []; reshape.push({event: {name: 'x'}})") == 1


def test_the_script_runs_as_a_module_configured_by_a_data_leadrelay_element(page: Page, site: Site) -> None:
    head = '<meta data-leadrelay data-api="/lr" data-croct="lrCroct"><script type="module">import "/lr/s.js";</script>'
    url = site.add("module", page_html(src="", stub=False, head=head))
    page.goto(url)
    loaded(page)
    processed = page.evaluate("(lead) => lrCroct.track('leadGenerated', lead)", LEAD)
    assert processed["leadId"] == "lead-1"
    assert page.evaluate("typeof window.croct") == "undefined"


def test_a_strict_content_security_policy_is_enough(page: Page, site: Site) -> None:
    # The README's CSP lines: the stub by its hash, the snippet and its beacons by 'self'.
    stub_js = re.fullmatch(r"<script>(.*)</script>", STUB).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(stub_js.encode()).digest()).decode()
    csp = f"default-src 'none'; img-src data:; script-src 'self' 'sha256-{digest}'; connect-src 'self'"
    url = site.add("csp", page_html(attrs=" data-debug"), headers={"Content-Security-Policy": csp})
    page.add_init_script(
        "window.violations = []; document.addEventListener('securitypolicyviolation',"
        " function (e) { violations.push(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    page.goto(url)
    loaded(page)
    processed = page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    assert processed["leadId"] == "lead-1"
    assert page.evaluate("violations") == []


def test_an_existing_croct_library_is_left_alone(page: Page, site: Site) -> None:
    real_croct = "<script>window.croct = {track: function () { return Promise.resolve('real croct'); }};</script>"
    url = site.add("coexist", page_html(stub=False, head=real_croct))
    page.goto(url)
    loaded(page)

    assert page.evaluate("croct.track('leadGenerated', {})") == "real croct"
    processed = page.evaluate("(lead) => leadrelay.track('leadGenerated', lead)", LEAD)
    assert processed["leadId"] == "lead-1"
    [event] = site.wait_for_events(1)
    assert event.dialect == "croct"


def test_global_names_are_configurable(page: Page, site: Site) -> None:
    real_reshape = "<script>window.reshape = {push: function () { window.realReshapeCalls = 1; }};</script>"
    attrs = ' data-croct="" data-reshape="lrReshape"'
    url = site.add("names", page_html(stub=False, head=real_reshape, attrs=attrs))
    page.goto(url)
    loaded(page)

    assert page.evaluate("typeof window.croct") == "undefined"
    page.evaluate("reshape.push({event: {name: 'x'}}); lrReshape.push({event: {name: 'page_viewed'}})")
    assert page.evaluate("window.realReshapeCalls") == 1
    [event] = site.wait_for_events(1)
    assert event.name == "page_viewed"
