"""The operator's console in Chromium: logging in, live events, rejections by error, replaying a dead letter,
erasing a person, and what it refuses (a wrong token, a forged or expired session, a cross-site POST)."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import BrowserContext, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from leadrelay.sandbox.vendors import Fault
from leadrelay.sandbox.live import LiveServer
from tests.browser.snippet_site import Site, page_html
from tests.fakes import Vendors
from tests.support.console import ADMIN_TOKEN, SECRET_KEY, console_settings, reshape_lead, send, wait_until


@pytest.fixture
def console(make_site: Callable[..., Site], vendors: Vendors) -> Site:
    return make_site(**console_settings(vendors, worker=True))


def log_in(page: Page, site: Site, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{site.url}/admin/")
    expect(page).to_have_url(f"{site.url}/admin/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def dead_letter(site: Site, vendors: Vendors, event_id: str) -> None:
    vendors.reshape.script(Fault.error(400))  # a refusal: dead at once
    assert send(site.url, reshape_lead(event_id)).status_code == 200
    wait_until(lambda: site.store.destination_counts().get("reshape", {}).get("dead") == 1, "the dead letter")


def test_an_operator_logs_in_with_the_token_and_a_wrong_one_is_refused(page: Page, console: Site) -> None:
    log_in(page, console, token="not-the-token-" + "x" * 30)
    expect(page.locator(".problem")).to_have_text("That is not the admin token.")
    expect(page.locator("h1")).to_have_text("Log in")

    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("table")).to_contain_text("reshape")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "lr_admin"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/admin")
    assert cookie["expires"] > time.time()
    assert ADMIN_TOKEN not in cookie["value"] and ADMIN_TOKEN not in page.content()
    assert page.evaluate("document.cookie").find("lr_admin") == -1  # HttpOnly: no script reads it

    page.click("nav button:has-text('Log out')")
    expect(page.locator("h1")).to_have_text("Log in")
    page.goto(f"{console.url}/admin/live")
    expect(page).to_have_url(f"{console.url}/admin/login")


def test_a_lead_tracked_on_another_page_arrives_live_and_expands(context: BrowserContext, console: Site, vendors: Vendors) -> None:
    operator = context.new_page()
    log_in(operator, console)
    operator.goto(f"{console.url}/admin/live")
    expect(operator.locator("#live-status")).to_contain_text("live")

    visitor = context.new_page()
    visitor.goto(console.add("signup", page_html()))
    visitor.evaluate(
        "reshape.push({event: {name: 'lead_created', currency: 'EUR', value: 9, id: 'LIVE-1'},"
        " user: {id: 'LIVE_CUSTOMER', email: 'live@example.com'}})"
    )
    [event] = console.wait_for_events(1)

    row = operator.locator(f"#live li[data-id='{event.id}']")
    expect(row).to_contain_text("LIVE_CUSTOMER")
    expect(row).to_contain_text("reshape")
    wait_until(lambda: vendors.reshape.accepted, "the delivery")
    row.locator("summary time").click()
    detail = row.locator(".detail")
    expect(detail).to_contain_text("Canonical form")
    expect(detail).to_contain_text('"LIVE-1"')  # the raw payload
    expect(detail.locator("table", has_text="body sent")).to_contain_text("delivered")
    expect(detail).to_contain_text('"override_ip"')  # the body Reshape was sent, as sent


def test_rejections_are_grouped_by_error_with_counts(page: Page, console: Site) -> None:
    bad = {"leadId": "L", "currency": "USD", "value": 1, "lead": {"birthDate": "2021-02-30"}}
    for n in range(3):
        batch = {"events": [{"id": f"bad-{n}", "dialect": "croct", "type": "leadGenerated", "payload": bad}]}
        assert send(console.url, batch).status_code == 422
    log_in(page, console)
    page.click("nav a:has-text('Rejections')")
    group = page.locator("ul.groups li", has_text="lead.birthDate")
    expect(group).to_contain_text("3 events: lead.birthDate must be a real date")
    group.locator("a:has-text('newest example')").click()
    expect(page.locator("pre")).to_contain_text("2021-02-30")


def test_a_dead_letter_is_replayed_after_the_vendor_recovers_and_turns_delivered(
    page: Page, console: Site, vendors: Vendors
) -> None:
    dead_letter(console, vendors, "DEAD-1")
    log_in(page, console)
    page.click("table a:has-text('reshape')")
    letters = page.locator("table", has_text="vendor's reason")
    expect(letters).to_contain_text("DEAD-1")
    expect(letters).to_contain_text("400")

    # The fake answers 2xx again (its script of faults is spent): replay this one.
    letters.locator("button:has-text('Replay')").click()
    expect(page.locator("h1")).to_have_text("Destination reshape")
    wait_until(lambda: console.store.destination_counts()["reshape"].get("delivered") == 1, "the replayed delivery")
    page.reload()
    expect(page.locator("dl.facts")).to_contain_text("delivered1")
    expect(page.locator("body")).to_contain_text("no dead letters")
    page.goto(f"{console.url}/admin/events/DEAD-1")
    expect(page.locator("table", has_text="body sent")).to_contain_text("delivered")
    assert [b["event"]["id"] for b in vendors.reshape.accepted] == ["DEAD-1"]


def test_replaying_a_whole_destination(page: Page, console: Site, vendors: Vendors) -> None:
    vendors.reshape.script(Fault.error(400), Fault.error(422))
    for n in range(2):
        assert send(console.url, reshape_lead(f"ALL-{n}")).status_code == 200
    wait_until(lambda: console.store.destination_counts().get("reshape", {}).get("dead") == 2, "two dead letters")
    log_in(page, console)
    page.goto(f"{console.url}/admin/destinations/reshape")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Replay all 2 dead letters')")
    wait_until(lambda: console.store.destination_counts()["reshape"].get("delivered") == 2, "both replayed")


def test_erasing_a_person_from_an_event_page(page: Page, console: Site, vendors: Vendors) -> None:
    assert send(console.url, reshape_lead("ERASE-1", email="erase.me@example.com")).status_code == 200
    assert send(console.url, reshape_lead("KEEP-1", email="keep.me@example.com")).status_code == 200
    wait_until(lambda: len(vendors.reshape.accepted) == 2, "both delivered")
    log_in(page, console)
    page.fill("nav input[name=q]", "erase.me@example.com")
    page.click("nav button:has-text('Search')")
    expect(page.locator("main")).to_contain_text("1 found")
    page.click("ul.events a:has-text('ERASE-1')")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Erase everything about email')")
    expect(page.locator("[role=status]")).to_contain_text("1 events, 1 deliveries")
    assert console.store.stored_event("ERASE-1") is None
    assert console.store.stored_event("KEEP-1") is not None
    page.goto(f"{console.url}/admin/search?q=erase.me%40example.com")
    expect(page.locator("main")).to_contain_text("0 found")


# -- refusals ------------------------------------------------------------------------------------


def test_a_forged_session_is_refused(page: Page, console: Site) -> None:
    signed_elsewhere = URLSafeTimedSerializer("another-key-" + "k" * 40, salt="leadrelay.console")
    for value in ("garbage", signed_elsewhere.dumps({"sid": "x", "tok": "y"})):
        page.context.add_cookies([{"name": "lr_admin", "value": value, "url": console.url}])
        page.goto(f"{console.url}/admin/")
        expect(page).to_have_url(f"{console.url}/admin/login")


def test_an_expired_session_is_refused(page: Page, console: Site) -> None:
    log_in(page, console)
    expect(page.locator("h1")).to_have_text("Overview")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "lr_admin"]
    payload = URLSafeTimedSerializer(SECRET_KEY, salt="leadrelay.console").loads(cookie["value"])

    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 13 * 3600  # admin_session_hours is 12

    old = URLSafeTimedSerializer(SECRET_KEY, salt="leadrelay.console", signer=Yesterday).dumps(payload)
    page.context.add_cookies([{**cookie, "value": old}])
    page.goto(f"{console.url}/admin/")
    expect(page).to_have_url(f"{console.url}/admin/login")


@pytest.fixture
def other_site() -> Iterator[Callable[[str], str]]:
    """Another origin serving one page that auto-submits a form: `make(html) -> url`."""
    pages: dict[str, str] = {}

    async def serve(request: Request) -> HTMLResponse:
        return HTMLResponse(pages["page"])

    with LiveServer(Starlette(routes=[Route("/", serve)])) as server:

        def make(html: str, host: str = "localhost") -> str:
            pages["page"] = html
            return server.url.replace("127.0.0.1", host) + "/"

        yield make


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"], ids=["cross-site", "same-site-other-origin"])
def test_a_replay_posted_from_another_site_is_refused(
    page: Page, console: Site, vendors: Vendors, other_site: Callable[..., str], host: str
) -> None:
    dead_letter(console, vendors, "CSRF-1")
    log_in(page, console)
    expect(page.locator("h1")).to_have_text("Overview")
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/admin/replay") else None)
    form = (
        f'<form id="f" method="post" action="{console.url}/admin/replay">'
        '<input name="destination" value="reshape"><input name="csrf" value="guessed"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    page.goto(other_site(form, host=host))
    page.wait_for_load_state()
    wait_until(lambda: answers, "the answer to the forged POST")
    # localhost: SameSite=Strict keeps the cookie home (no session: 401); 127.0.0.1 on another port is the
    # same site, so the cookie goes, and Sec-Fetch-Site: same-site is refused (403).
    assert answers == ([401] if host == "localhost" else [403])
    time.sleep(0.3)  # what a replay would have done by now, were it taken (nothing is expected to change)
    assert console.store.destination_counts()["reshape"] == {"dead": 1}


def test_stored_markup_is_shown_as_text(page: Page, console: Site, vendors: Vendors) -> None:
    attack = "<script>window.pwned = 1</script><img src=x onerror='window.pwned = 2'>"
    assert send(console.url, reshape_lead("XSS-1", properties={"note": attack}, name="lead_created")).status_code == 200
    batch = reshape_lead("XSS-2")
    batch["events"][0]["payload"]["user"]["email"] = attack
    assert send(console.url, batch).status_code == 422
    log_in(page, console)
    for path in ("/admin/events/XSS-1", "/admin/rejections", "/admin/live", "/admin/search?q=" + "%3Cscript%3E"):
        page.goto(console.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.pwned") is None, path
    page.goto(f"{console.url}/admin/events/XSS-1")
    expect(page.locator("pre").first).to_contain_text(attack)
    page.goto(f"{console.url}/admin/rejections")
    page.click("a:has-text('newest example')")
    expect(page.locator("pre")).to_contain_text(attack)
    assert page.evaluate("window.pwned") is None
