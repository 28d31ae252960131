"""The console over HTTP, on a real server: off without a token, what it refuses, its limits, the live stream
(bounded, and ended by a shutdown), search, and that no secret reaches a page, a header or a log line."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable, Iterator

import httpx
import pytest

from leadrelay.config import ConfigError, Settings
from leadrelay.store import Finish
from leadrelay.sandbox.live import LiveServer
from tests.fakes import RESHAPE_TOKEN, Vendors
from tests.support.console import ADMIN_TOKEN, console_settings, login, reshape_lead, send, wait_until

PAGES = ("/admin/", "/admin/live", "/admin/rejections", "/admin/search?q=x", "/admin/destinations/reshape")


@pytest.fixture
def server(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(**console_settings(worker=False))


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        assert login(c, server.url).status_code == 303
        yield c


def csrf_of(client: httpx.Client) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/").text)
    assert match
    return match.group(1)


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def test_without_a_token_the_console_is_off_and_says_how_to_turn_it_on(serve: Callable[..., LiveServer]) -> None:
    server = serve(worker=False)
    for method, path in (("GET", "/admin"), ("GET", "/admin/live"), ("POST", "/admin/login"), ("GET", "/admin/stream")):
        answer = httpx.request(method, server.url + path, data={"token": "x" * 40})
        assert answer.status_code == 404
        assert "LEADRELAY_ADMIN_TOKEN" in answer.text and "leadrelay new-secret-key" in answer.text
    assert "lr_admin" not in httpx.post(server.url + "/admin/login", data={"token": "x" * 40}).headers.get("set-cookie", "")


def test_a_weak_token_or_a_path_inside_the_collect_prefix_is_a_configuration_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="admin_token .*at least 32"):
        make_settings(admin_token="short")
    with pytest.raises(ConfigError, match="admin_path .*overlap path_prefix"):
        make_settings(admin_token=ADMIN_TOKEN, admin_path="/lr/admin")


def test_pages_need_a_session_and_carry_a_strict_csp(server: LiveServer, client: httpx.Client) -> None:
    for path in PAGES:
        anonymous = httpx.get(server.url + path)
        assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/admin/login")
        page = client.get(path)
        assert page.status_code == 200, path
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
        assert " style=" not in page.text and "<script>" not in page.text  # nothing inline for the CSP to allow
    assert httpx.get(server.url + "/admin/stream").status_code == 401


def test_login_attempts_are_rate_limited_per_address(serve: Callable[..., LiveServer]) -> None:
    server = serve(**console_settings(worker=False, admin_login_rate="3/minute"))
    with httpx.Client(base_url=server.url) as c:
        for _ in range(3):
            assert login(c, server.url, token="wrong-" + "w" * 40).status_code == 401
        refused = login(c, server.url)  # the right token, once over the limit
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "lr_admin" not in refused.headers.get("set-cookie", "")
        assert "too many requests from this address" in refused.text


def test_the_session_cookie_is_httponly_strict_scoped_and_secure_over_https(serve: Callable[..., LiveServer]) -> None:
    server = serve(**console_settings(worker=False, trust_proxy_headers=True))
    plain = login(httpx.Client(), server.url).headers["set-cookie"]
    assert "HttpOnly" in plain and "SameSite=Strict" in plain and "Path=/admin" in plain and "Max-Age=43200" in plain
    assert "Secure" not in plain
    https = httpx.post(
        server.url + "/admin/login",
        data={"token": ADMIN_TOKEN},
        headers={"X-Forwarded-Proto": "https", "Origin": server.url.replace("http:", "https:")},
    )
    assert https.status_code == 303 and "; Secure" in https.headers["set-cookie"]


def test_changes_need_the_csrf_token_and_the_consoles_own_origin(server: LiveServer, client: httpx.Client) -> None:
    csrf = csrf_of(client)
    form = {"destination": "reshape", "csrf": csrf}
    assert client.post("/admin/replay", data=form, headers=SAME_ORIGIN).status_code == 303
    refusals = [
        ({"destination": "reshape"}, SAME_ORIGIN, 403, "CSRF token"),
        ({**form, "csrf": "0" * 64}, SAME_ORIGIN, 403, "CSRF token"),
        (form, {"Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site: cross-site"),
        (form, {"Sec-Fetch-Site": "same-site"}, 403, "Sec-Fetch-Site: same-site"),
        (form, {"Origin": "http://evil.example"}, 403, "Origin: http://evil.example"),
        (form, {"Origin": "null"}, 403, "Origin: null"),
        ({**form, "destination": "nowhere\x00"}, SAME_ORIGIN, 400, "not a destination"),
    ]
    for data, headers, status, message in refusals:
        answer = client.post("/admin/replay", data=data, headers=headers)
        assert (answer.status_code, message in answer.text) == (status, True), (data, headers)
    anonymous = httpx.post(server.url + "/admin/replay", data=form, headers=SAME_ORIGIN)
    assert anonymous.status_code == 401


def test_forms_are_small_urlencoded_and_their_worst_case_is_a_clear_4xx(server: LiveServer, client: httpx.Client) -> None:
    csrf = csrf_of(client)
    big = client.post("/admin/replay", content=b"csrf=" + csrf.encode() + b"&x=" + b"a" * 9000,
                      headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "at most 8192 bytes" in big.text
    as_json = client.post("/admin/replay", json={"csrf": csrf}, headers=SAME_ORIGIN)
    assert as_json.status_code == 400 and "x-www-form-urlencoded" in as_json.text
    not_utf8 = client.post("/admin/login", content=b"token=%ff%fe\xff",
                           headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert not_utf8.status_code == 400
    escapes = client.post("/admin/erase", data={"csrf": csrf, "email": "\x1b[31m\u202e<b>@x"}, headers=SAME_ORIGIN)
    assert escapes.status_code == 200 and "&lt;b&gt;" in escapes.text and "<b>" not in escapes.text
    long_query = client.get("/admin/search", params={"q": "q" * 201})
    assert long_query.status_code == 400 and "at most 200 characters" in long_query.text


def test_search_finds_by_event_id_customer_id_email_and_click_id(serve: Callable[..., LiveServer]) -> None:
    server = serve(**console_settings(worker=False, click_verification="off"))
    batch = reshape_lead("FIND-1", email="Find.Me@Example.com")
    batch["events"][0]["click_ids"] = {"dub": "clk_findme_1"}
    assert send(server.url, batch).status_code == 200
    assert send(server.url, reshape_lead("OTHER-1", email="other@example.com")).status_code == 200
    with httpx.Client(base_url=server.url) as c:
        login(c, server.url)
        for q in ("FIND-1", "cust-FIND-1", "find.me@example.com", "clk_findme_1"):
            found = c.get("/admin/search", params={"q": q}).text
            assert "1 found" in found and 'data-id="FIND-1"' in found, q
        assert "0 found" in c.get("/admin/search", params={"q": "cust-FIND"}).text  # whole ids, not parts


def test_no_secret_reaches_a_page_a_header_or_a_log(
    serve: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Vendors() as vendors:
        server = serve(**console_settings(vendors, worker=False))
        assert send(server.url, reshape_lead("SECRET-1")).status_code == 200
        store = server.app.state.service.store
        [claim] = store.claim("w", 1, 60)
        echo = {"error": f"bad token {RESHAPE_TOKEN}"}
        store.finish_many("w", [Finish(claim, "dead", 400, f"unauthorized: {RESHAPE_TOKEN}", response=echo)])
        with httpx.Client(base_url=server.url) as c:
            login(c, server.url, token="wrong-" + ADMIN_TOKEN)
            assert login(c, server.url).status_code == 303
            answers = [c.get(path) for path in (*PAGES, "/admin/events/SECRET-1")]
        dead_page = answers[-2].text
        assert "unauthorized: ***" in dead_page
        for answer in answers:
            seen = answer.text + json.dumps(dict(answer.headers))
            assert ADMIN_TOKEN not in seen and RESHAPE_TOKEN not in seen
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert ADMIN_TOKEN not in logged and RESHAPE_TOKEN not in logged


def read_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        if line.startswith("data: "):
            found.append(json.loads(line[6:]))
            if len(found) == count:
                return found
    raise AssertionError("the stream ended early")


def test_the_live_stream_sends_new_events_and_a_shutdown_ends_it(server: LiveServer, client: httpx.Client) -> None:
    lines: list[str] = []
    ended = threading.Event()

    def watch() -> None:
        with client.stream("GET", "/admin/stream") as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            for line in answer.iter_lines():
                lines.append(line)
        ended.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_until(lambda: "retry: 2000" in lines, "the stream to open")
    assert send(server.url, reshape_lead("LIVE-2", email="live2@example.com")).status_code == 200
    wait_until(lambda: any("LIVE-2" in line for line in lines), "the event on the stream")
    [event] = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert (event["id"], event["customer"], event["dialect"]) == ("LIVE-2", "cust-LIVE-2", "reshape")
    server.stop()  # uvicorn waits for every connection: the stream must end by itself
    assert not server.thread.is_alive() and ended.wait(5)


def test_a_reconnecting_stream_catches_up_and_viewers_are_bounded(server: LiveServer, client: httpx.Client) -> None:
    assert send(server.url, reshape_lead("MISSED-1")).status_code == 200
    with client.stream("GET", "/admin/stream", headers={"Last-Event-ID": "1"}) as answer:
        lines = answer.iter_lines()  # kept: a dropped iterator closes the connection
        [missed] = read_events(lines, 1)
        assert missed["id"] == "MISSED-1"
        server.app.state.service.console.feed.max_viewers = 1
        second = client.get("/admin/stream")
        assert second.status_code == 429 and "at most 1 live views" in second.text
    feed = server.app.state.service.console.feed
    wait_until(lambda: not feed.viewers, "the closed stream to let go of its place")


def test_a_form_of_the_largest_size_allowed_is_taken(server: LiveServer, client: httpx.Client) -> None:
    csrf = csrf_of(client)
    head = f"destination=reshape&csrf={csrf}&pad=".encode()
    body = head + b"p" * (8192 - len(head))
    answer = client.post(
        "/admin/replay", content=body, headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert len(body) == 8192 and answer.status_code == 303


def test_dubs_remembered_404_dead_letters_carry_the_clis_warning(serve: Callable[..., LiveServer]) -> None:
    with Vendors() as vendors:
        dub = {k: v for k, v in vendors.settings().items() if k.startswith("dub_")}
        server = serve(**console_settings(worker=False, click_verification="off", **dub))
        store = server.app.state.service.store
        for event_id in ("DUB-404", "DUB-400"):
            batch = reshape_lead(event_id)
            batch["events"][0]["click_ids"] = {"dub": "dub_abc"}
            assert send(server.url, batch).status_code == 200
        claims = {c.event_id: c for c in store.claim("w", 10, 60, destinations=["dub"])}
        store.finish_many(
            "w",
            [
                Finish(claims["DUB-404"], "dead", 404, "not_found: clickId dub_abc not found"),
                Finish(claims["DUB-400"], "dead", 400, "bad_request: nope"),
            ],
        )
        with httpx.Client(base_url=server.url) as c:
            login(c, server.url)
            page = c.get("/admin/destinations/dub").text
            assert "Dub answered 404 (no such click) less than 7 days ago" in page
            assert page.count("Replay anyway") == 1 and "(1 of Dub&#x27;s left dead: see their warning)" in page
            event_page = c.get("/admin/events/DUB-404").text
            assert "Dub answered 404" in event_page and "Replay anyway" in event_page
            csrf = csrf_of(c)
            c.post("/admin/replay", data={"csrf": csrf, "destination": "dub"}, headers=SAME_ORIGIN)
            assert [d.event_id for d in store.list_deliveries(state="dead")] == ["DUB-404"]
            forced = {"csrf": csrf, "destination": "dub", "event": "DUB-404", "force": "1"}
            assert c.post("/admin/replay", data=forced, headers=SAME_ORIGIN).status_code == 303
            assert store.list_deliveries(state="dead") == []


def test_a_store_that_cannot_be_read_is_a_503_page_not_a_500(server: LiveServer, client: httpx.Client) -> None:
    import sqlite3

    store = server.app.state.service.store

    def failing(*args: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    store.newest_events = failing
    answer = client.get("/admin/live")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "the store cannot be read right now" in answer.text
