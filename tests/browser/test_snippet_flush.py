"""leadrelay.flush(): it settles once every queued event has its answer, and never hangs."""

from __future__ import annotations

from playwright.sync_api import Page, Route

from tests.browser.snippet_site import Beacons, Site, loaded, page_html, stored_queue

LEAD = {"leadId": "L-9", "currency": "USD", "value": 5, "lead": {"firstName": "Ada"}}
BAD_LEAD = {"leadId": "L-10", "lead": {"gender": "robot"}}

# Records, in order, when each promise settles: the events' own and flush's.
TRACK_THEN_FLUSH = """async ([lead, bad]) => {
  const log = [];
  croct.track('leadGenerated', lead).then(() => log.push('stored'), (e) => log.push('refused ' + e.message));
  croct.track('leadGenerated', bad).then(() => log.push('stored bad'), (e) => log.push('rejected ' + e.errors[0].path));
  const left = await leadrelay.flush();
  log.push('flushed ' + left);
  return log;
}"""


def test_flush_settles_after_every_answer(page: Page, site: Site) -> None:
    page.goto(site.add("flush", page_html()))
    loaded(page)
    log = page.evaluate(TRACK_THEN_FLUSH, [LEAD, BAD_LEAD])
    assert sorted(log[:2]) == ["rejected lead.gender", "stored"]  # both answers came first
    assert log[2] == "flushed 0"
    assert [event.source_id for event in site.events()] == ["L-9"]  # stored when flush resolved
    assert stored_queue(page) == []


def test_flush_with_nothing_queued_resolves_at_once_without_a_request(page: Page, site: Site) -> None:
    beacons = Beacons(page)
    page.goto(site.add("empty", page_html()))
    loaded(page)
    assert page.evaluate("leadrelay.flush()") == 0
    assert beacons.requests == []


def test_flush_sends_a_batch_of_many_and_waits_for_all_of_them(page: Page, site: Site) -> None:
    # 120 events are three requests (50 a request): flush waits for the last answer.
    beacons = Beacons(page)
    page.goto(site.add("many", page_html()))
    loaded(page)
    left = page.evaluate(
        """async () => {
          for (let i = 0; i < 120; i++) leadrelay.push({event: {name: 'lead_created', currency: 'USD', id: 'M-' + i}});
          return leadrelay.flush();
        }"""
    )
    # The queue keeps at most 100: the 20 oldest were dropped (and their promises told so).
    assert left == 0
    assert len(site.events()) == 100
    assert len(beacons.requests) >= 2


def test_flush_with_the_server_down_resolves_with_what_is_left_and_keeps_it(page: Page, site: Site) -> None:
    page.goto(site.add("down", page_html()))
    loaded(page)
    site.stop()
    left = page.evaluate("(lead) => { croct.track('leadGenerated', lead).catch(() => {}); return leadrelay.flush(); }", LEAD)
    assert left == 1  # the attempt failed: flush does not wait for the retries
    [queued] = stored_queue(page)
    assert queued["payload"]["leadId"] == "L-9"  # still queued, for the next attempt or page load

    site.restart()
    assert page.evaluate("leadrelay.flush()") == 0  # flush does not wait out the back-off: it sends now
    assert [event.source_id for event in site.events()] == ["L-9"]


def test_flush_resolves_within_its_time_limit_when_the_server_never_answers(page: Page, site: Site) -> None:
    held: list[Route] = []
    page.goto(site.add("hung", page_html()))
    loaded(page)
    page.route("**/lr/e", lambda route: held.append(route))  # accepted, never answered
    left = page.evaluate("(lead) => { croct.track('leadGenerated', lead); return leadrelay.flush(300); }", LEAD)
    assert left == 1
    assert len(held) == 1
    page.unroute("**/lr/e")


def test_flush_through_the_stub_waits_for_the_calls_queued_before_it(page: Page, site: Site) -> None:
    # The calls run before the script tag is even parsed: only the stub exists.
    head = (
        "<script>window.log = [];"
        f"croct.track('leadGenerated', {LEAD!r}).then(() => log.push('stored'));"
        "leadrelay.flush().then((left) => log.push('flushed ' + left));"
        "window.stubOnly = !leadrelay.loaded;</script>"
    )
    page.goto(site.add("stub", page_html(head=head)))
    page.wait_for_function("log.length == 2")
    assert page.evaluate("log") == ["stored", "flushed 0"]
    assert page.evaluate("stubOnly") is True


def test_flush_through_the_stub_of_a_blocked_script_resolves_with_undefined(page: Page, site: Site) -> None:
    head = "<script>leadrelay.flush(200).then((left) => { window.left = left === undefined ? 'undefined' : left; });</script>"
    page.goto(site.add("blocked", page_html(head=head, src="/lr/blocked-by-an-ad-blocker.js")))
    page.wait_for_function("window.left !== undefined")
    assert page.evaluate("left") == "undefined"
    assert page.evaluate("leadrelay.loaded") is None
