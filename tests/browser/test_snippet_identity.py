"""Click ids and the visitor id: cookies set by the server, read back, never trusted when forged."""

from __future__ import annotations

import time
from typing import Any, Callable

from itsdangerous import Signer
from playwright.sync_api import BrowserContext, BrowserType, Page

from leadrelay.identity import CLICK_MAX_AGE
from tests.browser.snippet_site import Site, loaded, page_html, stored_queue

LEAD = {"leadId": "L-1"}


def land(page: Page, url: str) -> Any:
    """Open `url` and wait for the snippet's click-capture request; returns its response."""
    with page.expect_response(lambda r: "/lr/c?" in r.url) as info:
        page.goto(url)
    return info.value


def cookies(context: BrowserContext) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in context.cookies()}


def verify(site: Site, value: str) -> str:
    return Signer(site.settings.signing_key, salt="leadrelay.visitor").unsign(value).decode()


def test_click_ids_in_the_url_become_server_set_cookies(page: Page, site: Site) -> None:
    response = land(page, site.add("landing", page_html()) + "?dub_id=clk_1&pimms_id=pm-1&utm_source=x")

    assert response.status == 204
    set_cookie = [h["value"] for h in response.headers_array() if h["name"].lower() == "set-cookie"]
    dub = next(v for v in set_cookie if v.startswith("dub_id="))
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in dub.split(";")}
    assert attributes["max-age"] == f"Max-Age={CLICK_MAX_AGE}"  # 90 days
    assert attributes["path"] == "Path=/"
    assert attributes["samesite"].lower() == "samesite=lax"
    assert "httponly" not in attributes and "secure" not in attributes  # like Dub's own script, over http
    assert "domain" not in attributes  # an IP address: a host-only cookie

    jar = cookies(page.context)
    for name, value in (("dub_id", "clk_1"), ("pimms_id", "pm-1")):
        assert jar[name]["value"] == value
        assert jar[name]["sameSite"] == "Lax"
        assert not jar[name]["httpOnly"]
        assert abs(jar[name]["expires"] - (time.time() + CLICK_MAX_AGE)) < 3600
    assert jar["lr_vid"]["httpOnly"]

    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    [event] = site.wait_for_events(1)
    assert (event.click_ids.get("dub"), event.click_ids.get("pimms")) == ("clk_1", "pm-1")
    assert event.visitor_id == verify(site, cookies(page.context)["lr_vid"]["value"])


def test_the_cookie_domain_drops_www(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any], site: Site
) -> None:
    args = [*browser_type_launch_args.get("args", []), "--host-resolver-rules=MAP *.shop.test 127.0.0.1"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        page = browser.new_page()
        site.add("www", page_html())
        land(page, f"http://www.shop.test:{site.server.port}/t/www?dub_id=clk_www")
        jar = cookies(page.context)
        assert jar["dub_id"]["domain"] == ".shop.test"
        assert jar["lr_vid"]["domain"] == ".shop.test"
    finally:
        browser.close()


def test_last_click_wins_by_default(page: Page, site: Site) -> None:
    url = site.add("landing", page_html())
    land(page, url + "?dub_id=first")
    land(page, url + "?dub_id=second")
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    assert site.wait_for_events(1)[0].click_ids.get("dub") == "second"


def test_first_click_is_a_setting(page: Page, make_site: Callable[..., Site]) -> None:
    site = make_site(attribution="first-click")
    url = site.add("landing", page_html())
    land(page, url + "?dub_id=first")
    land(page, url + "?dub_id=second")
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    assert site.wait_for_events(1)[0].click_ids.get("dub") == "first"
    assert cookies(page.context)["dub_id"]["value"] == "first"


def test_a_cookie_written_by_dubs_own_script_is_read_but_held_back(page: Page, site: Site) -> None:
    """Not set through /lr/c, the server never saw that click for this visitor: it is not forwarded."""
    url = site.add("plain", page_html())
    page.context.add_cookies([{"name": "dub_id", "value": "from_dub_js", "url": site.url}])
    page.goto(url)
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    [event] = site.wait_for_events(1)
    assert event.click_ids == {}
    assert [m.code for m in event.marks] == ["click_held_back"] and "'from_dub_js'" in event.marks[0].message


def test_with_click_verification_off_a_cookie_written_by_dubs_own_script_counts(
    page: Page, make_site: Callable[..., Site]
) -> None:
    site = make_site(click_verification="off")
    url = site.add("plain", page_html())
    page.context.add_cookies([{"name": "dub_id", "value": "from_dub_js", "url": site.url}])
    page.goto(url)
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    [event] = site.wait_for_events(1)
    assert (event.click_ids.get("dub"), event.marks) == ("from_dub_js", [])


def test_a_forged_visitor_cookie_is_ignored_and_replaced(page: Page, site: Site) -> None:
    genuine = Signer(site.settings.signing_key, salt="leadrelay.visitor").sign("genuine").decode()
    altered = "victim" + genuine[len("genuine") :]  # a real signature on another id
    url = site.add("forged", page_html())
    for forged in ("attacker.not-a-signature", altered):
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "lr_vid", "value": forged, "url": site.url}])
        page.goto(url)
        page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
        replaced = cookies(page.context)["lr_vid"]["value"]
        assert replaced != forged
        visitor = verify(site, replaced)  # the server's own, signed
        assert visitor not in ("attacker", "victim")
        page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
        first, second = site.events()[-2:]
        assert first.visitor_id == second.visitor_id == visitor


def test_a_queued_event_keeps_the_click_ids_of_the_moment_it_was_made(
    context: BrowserContext, site: Site
) -> None:
    url = site.add("landing", page_html())
    page = context.new_page()
    land(page, url + "?dub_id=old_click")
    context.set_offline(True)
    page.evaluate("reshape.push({event: {name: 'demo_requested'}})")
    page.wait_for_function("(localStorage.getItem('lr_q') || '').includes('demo_requested')")
    page.close()

    context.set_offline(False)
    page = context.new_page()
    land(page, url + "?dub_id=new_click")  # the queued event goes out after this
    loaded(page)
    page.evaluate("reshape.push({event: {name: 'lead_created', currency: 'USD', id: 'n1'}})")
    events = {e.name: e for e in site.wait_for_events(2)}
    assert events["demo_requested"].click_ids.get("dub") == "old_click"
    assert events["lead_created"].click_ids.get("dub") == "new_click"
    page.wait_for_function("(localStorage.getItem('lr_q') || '[]') === '[]'")
    assert stored_queue(page) == []
