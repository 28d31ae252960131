"""Delivery: retries, the offline queue, unloads, one request per moment, single-page apps."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route

from tests.browser.snippet_site import Beacons, Site, loaded, page_html, stored_queue

LEAD = {"leadId": "L-7", "currency": "EUR", "value": 3}


def test_an_event_is_retried_until_the_server_is_back(page: Page, site: Site) -> None:
    beacons = Beacons(page)
    page.goto(site.add("retry", page_html()))
    loaded(page)
    site.stop()
    with page.expect_event("requestfailed"):
        page.evaluate("(lead) => { window.tracked = croct.track('leadGenerated', lead); }", LEAD)
    site.restart()

    assert page.evaluate("window.tracked")["leadId"] == "L-7"
    [event] = site.wait_for_events(1)
    ids = beacons.ids()
    assert len(ids) >= 2 and set(ids) == {event.id}  # one id, kept through every attempt
    assert stored_queue(page) == []


def test_a_5xx_is_retried_with_the_same_event_id(page: Page, site: Site) -> None:
    intake = site.service.intake
    write = intake.write
    calls: list[int] = []

    async def storage_down_once(items: Any) -> Any:
        calls.append(len(items))
        if len(calls) == 1:
            raise RuntimeError("the database is restarting")
        return await write(items)

    intake.write = storage_down_once
    beacons = Beacons(page)
    page.goto(site.add("flaky", page_html()))
    assert page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)["leadId"] == "L-7"

    [event] = site.wait_for_events(1)
    first, second = beacons.ids()
    assert first == second == event.id


def test_an_event_whose_answer_was_lost_is_sent_again_and_stored_once(page: Page, site: Site) -> None:
    lost: list[str] = []

    def deliver_but_lose_the_answer(route: Route) -> None:
        if lost:
            route.continue_()
            return
        route.fetch()  # the server stores the event...
        lost.append(route.request.url)
        route.abort("connectionreset")  # ...but the page never hears back

    page.route("**/lr/e", deliver_but_lose_the_answer)
    beacons = Beacons(page)
    page.goto(site.add("lost", page_html()))
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)

    first, second = beacons.ids()
    assert first == second
    assert [e.id for e in site.events()] == [first]


def test_offline_then_a_new_page_load_delivers_the_event_once(context: BrowserContext, site: Site) -> None:
    url = site.add("offline", page_html())
    page = context.new_page()
    page.goto(url)
    loaded(page)
    context.set_offline(True)
    page.evaluate("reshape.push({event: {name: 'lead_created', currency: 'USD', id: 'OFF-1'}})")
    page.wait_for_function("(localStorage.getItem('lr_q') || '').includes('OFF-1')")
    [queued] = stored_queue(page)
    page.close()  # its unload flush fails too: still offline

    context.set_offline(False)
    page = context.new_page()
    page.goto(url)
    [event] = site.wait_for_events(1)
    assert event.id == queued["id"]
    assert event.source_id == "OFF-1"
    page.wait_for_function("localStorage.getItem('lr_q') === '[]'")
    page.reload()  # nothing is left to send again
    loaded(page)
    assert [e.id for e in site.events()] == [queued["id"]]


def test_events_are_flushed_when_the_visitor_navigates_away(page: Page, site: Site) -> None:
    url = site.add("leaving", page_html('<a id="next" href="/t/next">next</a>'))
    site.add("next", page_html())
    page.goto(url)
    loaded(page)
    # One event made just before the navigation, one by the page's own pagehide handler.
    page.evaluate(
        """() => {
            addEventListener('pagehide', () => reshape.push({event: {name: 'page_left'}}));
            document.getElementById('next').addEventListener('click',
                () => reshape.push({event: {name: 'cta_clicked'}}));
        }"""
    )
    with page.expect_navigation():
        page.click("#next")
    names = {e.name for e in site.wait_for_events(2)}
    assert names == {"cta_clicked", "page_left"}
    assert all(e.context.url == url for e in site.events())


def test_an_event_waiting_for_its_retry_is_sent_when_the_page_is_hidden(page: Page, site: Site) -> None:
    """A tab put in the background may never run its timers again: what waits for a retry goes at once."""
    page.clock.install()
    page.goto(site.add("hidden", page_html()))
    loaded(page)
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)  # from here on, no timer fires unless we say so
    site.stop()
    page.evaluate("(lead) => { croct.track('leadGenerated', lead); }", LEAD)
    with page.expect_event("requestfailed"):
        page.clock.run_for(10)  # the first attempt, which fails: the retry waits for a timer
    site.restart()
    assert len(stored_queue(page)) == 1 and site.events() == []  # still queued, nothing stored

    page.evaluate(
        """() => {
            Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    [event] = site.wait_for_events(1)
    assert event.source_id == "L-7"


def test_a_full_queue_drops_the_oldest_and_says_so_in_debug_mode(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(_text(m)))
    page.goto(site.add("full", page_html(attrs=" data-debug")))
    loaded(page)
    context.set_offline(True)
    page.evaluate("for (let i = 0; i <= 100; i++) reshape.push({event: {name: 'e' + i}})")

    names = [e["payload"]["event"]["name"] for e in stored_queue(page)]
    assert len(names) == 100
    assert names[0] == "e1" and names[-1] == "e100"  # e0, the oldest, was dropped
    assert any("queue full" in m for m in messages)
    context.set_offline(False)


def test_single_page_app_navigation_records_the_current_url(page: Page, site: Site) -> None:
    url = site.add("app", page_html())
    page.goto(url + "?from=ad")
    loaded(page)
    page.evaluate("history.pushState({}, '', '/t/app/pricing?plan=pro')")
    page.evaluate("(lead) => croct.track('leadGenerated', lead)", LEAD)
    page.evaluate("history.pushState({}, '', '/t/app/thanks'); reshape.push({event: {name: 'signup_done'}})")
    page.go_back()  # popstate: still the same page and snippet
    page.evaluate("reshape.push({event: {name: 'back_on_pricing'}})")

    events = {e.name: e for e in site.wait_for_events(3)}
    assert events["leadGenerated"].context.url == site.url + "/t/app/pricing?plan=pro"
    assert events["signup_done"].context.url == site.url + "/t/app/thanks"
    assert events["back_on_pricing"].context.url == site.url + "/t/app/pricing?plan=pro"
    assert {e.context.landing_url for e in events.values()} == {url + "?from=ad"}


def _text(message: ConsoleMessage) -> str:
    return message.text


def test_tabs_sharing_the_offline_queue_keep_each_others_events(context: BrowserContext, site: Site) -> None:
    url = site.add("tabs", page_html())
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(url)
        loaded(page)
    context.set_offline(True)
    first.evaluate("reshape.push({event: {name: 'from_first_tab'}})")
    first.wait_for_function("(localStorage.getItem('lr_q') || '').includes('from_first_tab')")
    second.evaluate("reshape.push({event: {name: 'from_second_tab'}})")  # writes the queue it shares
    second.wait_for_function("(localStorage.getItem('lr_q') || '').includes('from_second_tab')")
    first.close()
    second.close()

    context.set_offline(False)
    page = context.new_page()
    page.goto(url)
    assert {e.name for e in site.wait_for_events(2)} == {"from_first_tab", "from_second_tab"}


def test_without_fetch_the_beacon_carries_the_events(page: Page, site: Site) -> None:
    page.add_init_script("window.fetch = undefined;")
    page.goto(site.add("beacon", page_html()))
    loaded(page)
    page.evaluate("reshape.push({event: {name: 'lead_created', currency: 'USD', id: 'B-1'}})")
    [event] = site.wait_for_events(1)
    assert event.source_id == "B-1"
    assert stored_queue(page) == []  # handed to the browser: not sent again on the next load
