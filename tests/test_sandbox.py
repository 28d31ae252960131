"""Sandbox mode: deliveries go to the built-in strict fakes, in-process, and the `_sandbox` API shows them."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.cli import main
from leadrelay.config import ConfigError, Settings, load_settings
from leadrelay.sandbox.api import MAX_BODY_BYTES, MAX_WAIT_S, MAX_WAITERS
from leadrelay.sandbox.credentials import DUB_KEY
from leadrelay.sandbox.live import LiveServer
from leadrelay.sandbox.mode import sandbox_on
from tests.fakes.helpers import FAST

REAL_DUB_KEY = "dub_live_REAL_do_not_show_4f5e6d7c8b9a"
REAL_WEBHOOK = "https://crm.example.com/hooks/secret-path-7a7a"
API = "/lr/_sandbox"


def lead(n: int = 1, **payload: Any) -> str:
    event = {
        "id": f"evt-{n}",
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": {"leadId": f"L-{n}", "currency": "USD", "value": 100, "lead": {"email": f"carol{n}@example.com"}, **payload},
    }
    return json.dumps({"events": [event]})


@pytest.fixture
def sandbox(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    settings = make_settings(sandbox=True, **FAST)
    with TestClient(create_app(settings)) as client:
        yield client


def land_and_sign_up(client: TestClient, click: str, n: int = 1) -> None:
    assert client.get(f"/lr/c?dub_id={click}").status_code == 204
    response = client.post("/lr/e", content=lead(n), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text


def wait(client: TestClient, vendor: str, timeout_s: float = 20, accepted: bool = True, **match: Any) -> dict[str, Any]:
    body = {"vendor": vendor, "match": match, "timeout_s": timeout_s, "accepted": accepted}
    response = client.post(f"{API}/wait", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- when it is on ----------------------------------------------------------------------------


def test_auto_is_on_only_in_development_with_no_destination(make_settings: Callable[..., Settings]) -> None:
    assert sandbox_on(make_settings(sandbox="auto"))
    assert not sandbox_on(make_settings(sandbox="auto", dub_api_key="dub_x"))
    assert not sandbox_on(make_settings(sandbox="auto", environment="production", secret_key="k" * 8 + "abcdefghijklmnopqrstuvwxyz"))
    assert not sandbox_on(make_settings(sandbox=False))
    assert sandbox_on(make_settings(sandbox=True, dub_api_key="dub_x"))


def test_the_embedded_default_is_auto_and_production_refuses_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADRELAY_SANDBOX", raising=False)
    assert load_settings().sandbox == "auto"
    monkeypatch.setenv("LEADRELAY_SANDBOX", "true")
    assert load_settings().sandbox is True
    with pytest.raises(ConfigError) as refused:
        load_settings(environment="production", secret_key="q" * 8 + "abcdefghijklmnopqrstuvwxyz")
    assert "sandbox (LEADRELAY_SANDBOX): cannot be true in production" in str(refused.value)


def test_off_the_sandbox_api_does_not_exist(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(sandbox=False))) as client:
        for path in ("/", "/received/dub", "/events", "/rejections", "/faults"):
            assert client.get(API + path).status_code == 404
        for path in ("/reset", "/wait", "/faults"):
            assert client.post(API + path, json={"vendor": "dub"}).status_code == 404
        health = client.get("/healthz").json()
        assert health["sandbox"] is False and "notice" not in health


def test_healthz_and_the_api_say_nothing_leaves_the_machine(sandbox: TestClient) -> None:
    health = sandbox.get("/healthz").json()
    assert health["sandbox"] is True
    assert "nothing leaves this machine" in health["notice"]
    assert {name: entry["state"] for name, entry in health["destinations"].items()} == {
        "dub": "on", "pimms": "on", "reshape": "on", "webhook": "on"
    }  # fmt: skip
    summary = sandbox.get(f"{API}/").json()
    assert summary["sandbox"] is True and set(summary["vendors"]) == {"dub", "pimms", "reshape", "webhook"}


def test_the_start_up_log_says_so(make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="leadrelay"), TestClient(create_app(make_settings(sandbox=True))):
        pass
    assert any("SANDBOX MODE: nothing leaves this machine" in record.getMessage() for record in caplog.records)


# -- what each vendor received ----------------------------------------------------------------


def test_a_lead_reaches_the_fake_dub_with_its_click_id(sandbox: TestClient) -> None:
    land_and_sign_up(sandbox, "clk_sandbox_1")
    found = wait(sandbox, "dub", clickId="clk_sandbox_1")
    assert found["found"] is True
    request = found["request"]
    assert request["accepted"] is True and request["status"] == 200 and request["problem"] is None
    assert request["body"]["customerEmail"] == "carol1@example.com"
    assert request["headers"]["authorization"] == f"Bearer {DUB_KEY}"  # the sandbox's public fake key
    reshape = wait(sandbox, "reshape", event={"id": "L-1"})
    assert reshape["found"] and reshape["request"]["body"]["user"]["email"] == ["carol1@example.com"]
    assert wait(sandbox, "webhook", data={"id": "evt-1"})["found"]
    events = sandbox.get(f"{API}/events").json()["events"]
    assert [e["id"] for e in events] == ["evt-1"] and events[0]["click_ids"] == {"dub": "clk_sandbox_1"}


def test_real_configured_keys_never_show(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(sandbox=True, dub_api_key=REAL_DUB_KEY, webhook_url=REAL_WEBHOOK, webhook_secret=None, **FAST)
    with TestClient(create_app(settings)) as client:
        land_and_sign_up(client, "clk_secret")
        assert wait(client, "dub", clickId="clk_secret")["found"]
        assert wait(client, "webhook", data={"id": "evt-1"})["found"]
        shown = "".join(
            client.get(API + path).text for path in ("/", "/received/dub", "/received/webhook", "/events", "/faults")
        ) + client.get("/healthz").text
    assert REAL_DUB_KEY not in shown and "secret-path-7a7a" not in shown
    assert DUB_KEY in shown


def test_a_problem_the_vendor_finds_is_shown_in_its_words(sandbox: TestClient) -> None:
    """A request the fake refuses (here one sent through the sandbox's own transport) shows the vendor's message."""
    vendors = sandbox.app.state.service.sandbox  # type: ignore[attr-defined]

    async def send() -> int:
        async with httpx.AsyncClient(transport=vendors.transport) as client:
            body = {"clickId": "c", "eventName": "Sign up", "customerExternalId": "x", "customerEmail": "not an email"}
            response = await client.post("http://dub.sandbox.invalid/track/lead", json=body, headers={"Authorization": f"Bearer {DUB_KEY}"})
            return response.status_code

    assert sandbox.portal.call(send) == 422  # type: ignore[union-attr]
    [request] = sandbox.get(f"{API}/received/dub").json()["requests"]
    assert request["accepted"] is False and request["problem"] == "invalid: customerEmail: Invalid email"
    near = wait(sandbox, "dub", timeout_s=0, clickId="c")
    assert near["found"] is False and [r["problem"] for r in near["refused"]] == ["invalid: customerEmail: Invalid email"]


def test_the_transport_reaches_no_other_host(sandbox: TestClient) -> None:
    vendors = sandbox.app.state.service.sandbox  # type: ignore[attr-defined]

    async def send() -> None:
        async with httpx.AsyncClient(transport=vendors.transport) as client:
            await client.post("https://api.dub.co/track/lead", json={})

    with pytest.raises(httpx.ConnectError, match="nothing leaves this machine"):
        sandbox.portal.call(send)  # type: ignore[union-attr]


# -- faults -------------------------------------------------------------------------------------


def test_dub_answers_503_twice_then_429_with_retry_after_then_200(sandbox: TestClient) -> None:
    script = [{"kind": "error", "status": 503}, {"kind": "error", "status": 503}, {"kind": "error", "status": 429, "retry_after": 0.1}]
    faults = sandbox.post(f"{API}/faults", json={"vendor": "dub", "script": script}).json()["faults"]
    assert [f["status"] for f in faults["dub"]["script"]] == [503, 503, 429]
    land_and_sign_up(sandbox, "clk_retry")
    assert wait(sandbox, "dub", clickId="clk_retry")["found"]
    requests = sandbox.get(f"{API}/received/dub").json()["requests"]
    assert [r["status"] for r in requests] == [503, 503, 429, 200]
    assert requests[2]["fault"] == {"kind": "error", "status": 429, "retry_after": 0.1}
    counts = sandbox.get("/healthz").json()["destinations"]["dub"]["deliveries"]
    assert counts == {"delivered": 1}


def test_a_timeout_and_a_dropped_connection_are_retried(sandbox: TestClient) -> None:
    sandbox.post(f"{API}/faults", json={"vendor": "pimms", "script": [{"kind": "timeout"}, {"kind": "drop"}]})
    assert sandbox.get("/lr/c?pimms_id=pim_1").status_code == 204
    assert sandbox.post("/lr/e", content=lead(), headers={"Content-Type": "text/plain"}).status_code == 200
    assert wait(sandbox, "pimms", clickId="pim_1")["found"]
    statuses = [r["status"] for r in sandbox.get(f"{API}/received/pimms").json()["requests"]]
    assert statuses[-1] == 200 and None in statuses  # the drop answered nothing


def test_a_4xx_dead_letters_and_an_outage_holds_every_request(sandbox: TestClient) -> None:
    sandbox.post(f"{API}/faults", json={"vendor": "dub", "script": [{"kind": "error", "status": 400}]})
    sandbox.post(f"{API}/faults", json={"vendor": "reshape", "outage": {"kind": "error", "status": 503}})
    land_and_sign_up(sandbox, "clk_dead")
    assert wait(sandbox, "dub", accepted=False, timeout_s=20, clickId="clk_dead")["found"]
    assert sandbox.get(f"{API}/faults").json()["faults"]["reshape"]["outage"] == {"kind": "error", "status": 503, "retry_after": None}
    cleared = sandbox.post(f"{API}/faults", json={"vendor": "reshape", "outage": None}).json()
    assert cleared["faults"]["reshape"]["outage"] is None
    assert wait(sandbox, "reshape", event={"id": "L-1"})["found"]


def test_reset_forgets_what_the_vendors_received_and_hides_older_events(sandbox: TestClient) -> None:
    land_and_sign_up(sandbox, "clk_before")
    assert wait(sandbox, "dub", clickId="clk_before")["found"]
    sandbox.post(f"{API}/faults", json={"vendor": "dub", "script": [{"kind": "drop"}]})
    assert sandbox.post(f"{API}/reset", json={}).json()["reset"] is True
    assert sandbox.get(f"{API}/received/dub").json()["requests"] == []
    assert sandbox.get(f"{API}/events").json()["events"] == []
    assert sandbox.get(f"{API}/faults").json()["faults"]["dub"] == {"script": [], "outage": None}
    land_and_sign_up(sandbox, "clk_after", n=2)
    assert wait(sandbox, "dub", clickId="clk_after")["found"]
    assert [e["id"] for e in sandbox.get(f"{API}/events").json()["events"]] == ["evt-2"]


def test_reset_ends_faults_and_lets_pending_deliveries_through_before_forgetting(sandbox: TestClient) -> None:
    """A test that leaves Dub down must not have its lead reach Dub during the next test."""
    sandbox.post(f"{API}/faults", json={"vendor": "dub", "outage": {"kind": "error", "status": 503}})
    land_and_sign_up(sandbox, "clk_left_over")
    assert wait(sandbox, "dub", accepted=False, clickId="clk_left_over")["found"]  # refused at least once
    reset = sandbox.post(f"{API}/reset", json={"settle_s": 20}).json()
    assert reset["pending"] == 0
    assert sandbox.get("/healthz").json()["destinations"]["dub"]["deliveries"] == {"delivered": 1}
    assert sandbox.get(f"{API}/received/dub").json()["requests"] == []
    assert sandbox.get(f"{API}/faults").json()["faults"]["dub"] == {"script": [], "outage": None}
    refused = sandbox.post(f"{API}/reset", json={"settle_s": 31})
    assert refused.status_code == 400 and "settle_s" in refused.json()["error"]["message"]


def test_rejections_are_shown_escaped(sandbox: TestClient) -> None:
    body = lead(3, currency="\x1b[31mEVIL\u2028</script>")
    assert sandbox.post("/lr/e", content=body, headers={"Content-Type": "text/plain"}).status_code == 422
    response = sandbox.get(f"{API}/rejections")
    text = response.text
    assert "\x1b" not in text and "\\u001b[31mEVIL" in text
    assert response.headers["content-type"] == "application/json" and response.headers["x-content-type-options"] == "nosniff"
    [rejection] = json.loads(text)["rejections"]
    assert rejection["event_id"] == "evt-3" and rejection["errors"][0]["path"] == "currency"


# -- hostile ground -------------------------------------------------------------------------------


def test_a_wait_is_bounded(sandbox: TestClient) -> None:
    refused = sandbox.post(f"{API}/wait", json={"vendor": "dub", "timeout_s": MAX_WAIT_S + 1})
    assert refused.status_code == 400 and "timeout_s" in refused.json()["error"]["message"]
    over = wait(sandbox, "dub", timeout_s=0.2, clickId="never")
    assert over["found"] is False and over["refused"] == []


@pytest.mark.parametrize(
    "path, body, content_type, status, says",
    [
        ("/wait", b"{", "application/json", 400, "Invalid JSON"),
        ("/faults", b"{", "application/json", 400, "Invalid JSON"),
        ("/wait", b'{"vendor": "dub", "match": []}', "application/json", 400, "match: Input should be an object"),
        ("/wait", b'{"vendor": "dub", "timeout_s": "forever"}', "application/json", 400, "timeout_s: Input should be a valid number"),
        ("/faults", b'{"vendor": "dub", "script": [{"kind": "error", "status": 200}]}', "application/json", 400, "script.0.error.status"),
        ("/faults", b'{"vendor": "dub", "script": [{"kind": "melt"}]}', "application/json", 400, "script.0: Input tag 'melt'"),
        ("/faults", b'{"vendor": "dub", "script": [{"kind": "slow", "seconds": 1e9}]}', "application/json", 400, "seconds"),
        ("/faults", b'{"vendor": "dub", "script": [{"kind": "error", "status": 429, "retry_after": "1\\u2028"}]}', "application/json", 400, "retry_after"),
        ("/wait", rb'{"vendor": "\u0000\u001b[2J<b>"}', "application/json", 404, "no sandbox vendor"),
        ("/faults", rb'{"vendor": "\u0000\u001b[2J<b>"}', "application/json", 404, "no sandbox vendor"),
        ("/wait", rb'{"vendor": "\ud83d"}', "application/json", 400, ""),
        ("/wait", b"\xff\xfe", "application/json", 400, ""),
        ("/faults", b"vendor=dub", "application/x-www-form-urlencoded", 415, "application/json"),
        ("/reset", b"{}", "text/plain", 415, "application/json"),
        ("/wait", b'{"vendor": "dub"}', "text/plain", 415, "application/json"),
    ],
)
def test_bad_bodies_get_a_precise_4xx(sandbox: TestClient, path: str, body: bytes, content_type: str, status: int, says: str) -> None:
    response = sandbox.post(API + path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert says in response.json()["error"]["message"]
    assert "\x1b" not in response.text and "\x00" not in response.text


def test_the_largest_body_is_taken_and_a_larger_one_refused(sandbox: TestClient) -> None:
    pad = {"vendor": "dub", "match": {"clickId": ""}, "timeout_s": 0}
    size = len(json.dumps(pad))
    pad["match"]["clickId"] = "x" * (MAX_BODY_BYTES - size)
    largest = json.dumps(pad)
    assert len(largest) == MAX_BODY_BYTES
    assert sandbox.post(f"{API}/wait", content=largest, headers={"Content-Type": "application/json"}).status_code == 200
    too_large = sandbox.post(f"{API}/wait", content=largest + " ", headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413


def test_at_most_16_waits_run_at_once(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(sandbox=True, **FAST)
    with LiveServer(create_app(settings), settings=settings) as server, ThreadPoolExecutor(MAX_WAITERS) as pool:
        body = {"vendor": "dub", "match": {"clickId": "clk_many"}, "timeout_s": MAX_WAIT_S}
        waits = [pool.submit(httpx.post, f"{server.url}{API}/wait", json=body, timeout=60) for _ in range(MAX_WAITERS)]
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.url}{API}/").json()["waiting"] < MAX_WAITERS:
            assert time.monotonic() < deadline, "the waits never all started"
            time.sleep(0.05)
        one_more = httpx.post(f"{server.url}{API}/wait", json=body)
        assert one_more.status_code == 429 and one_more.headers["retry-after"] == "1"
        with httpx.Client(base_url=server.url) as visitor:  # the lead they all wait for
            assert visitor.get("/lr/c?dub_id=clk_many").status_code == 204
            assert visitor.post("/lr/e", content=lead(), headers={"Content-Type": "text/plain"}).status_code == 200
        assert all(w.result().json()["found"] for w in waits)
        assert httpx.get(f"{server.url}{API}/").json()["waiting"] == 0


def test_too_many_faults_at_once_are_refused(sandbox: TestClient) -> None:
    script = [{"kind": "drop"}] * 100
    assert sandbox.post(f"{API}/faults", json={"vendor": "dub", "script": script}).status_code == 200
    refused = sandbox.post(f"{API}/faults", json={"vendor": "dub", "script": [{"kind": "drop"}]})
    assert refused.status_code == 400 and "at most 100" in refused.json()["error"]["message"]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1e3", "٣"])
def test_limits_are_bounded(sandbox: TestClient, limit: str) -> None:
    for path in ("/received/dub", "/events", "/rejections"):
        response = sandbox.get(f"{API}{path}", params={"limit": limit})
        assert response.status_code == 400 and "limit" in response.json()["error"]["message"]


def test_another_site_is_refused(sandbox: TestClient) -> None:
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        assert sandbox.get(f"{API}/received/dub", headers=headers).status_code == 403
        refused = sandbox.post(f"{API}/reset", json={}, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site"
    # The site itself (the demo page), and a test's own client (no cookies, no key, no Origin), are answered.
    assert sandbox.get(f"{API}/", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert sandbox.get(f"{API}/").status_code == 200


def test_the_api_is_rate_limited_like_the_collector(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(sandbox=True, rate_limit_per_ip="3/minute")
    with LiveServer(create_app(settings), settings=settings) as server:
        statuses = [httpx.get(f"{server.url}{API}/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# -- the command line ---------------------------------------------------------------------------------


def test_worker_alone_refuses_sandbox_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("LEADRELAY_SANDBOX", "true")
    assert main(["worker"]) == 1
    assert "sandbox mode" in capsys.readouterr().err


def test_check_says_whether_the_sandbox_is_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.delenv("LEADRELAY_SANDBOX", raising=False)
    assert main(["check"]) == 0
    assert "sandbox:          on: nothing leaves this machine" in capsys.readouterr().out
    monkeypatch.setenv("LEADRELAY_DUB_API_KEY", "dub_x")
    assert main(["check"]) == 0
    assert "sandbox:          off (a destination is configured)" in capsys.readouterr().out
