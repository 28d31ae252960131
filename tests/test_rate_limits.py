"""Rate limits per client IP and per visitor (429 with Retry-After), and the bounded budget of kept rejections."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.maintenance import Maintenance
from leadrelay.store import Rejected, open_store
from leadrelay.dialects import FieldError

ENDPOINT = "/lr/e"
REDIS_URL = os.environ.get("LEADRELAY_TEST_REDIS_URL")


def croct(**payload: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": payload}


def post(client: TestClient, *events: dict[str, Any]) -> Any:
    return client.post(ENDPOINT, content=json.dumps({"events": list(events)}), headers={"Content-Type": "text/plain"})


def store_of(client: TestClient) -> Any:
    return client.app.state.service.store  # type: ignore[attr-defined]


def test_an_address_over_its_limit_gets_429_with_retry_after(make_settings: Any) -> None:
    app = create_app(make_settings(rate_limit_per_ip="3/minute"))
    with TestClient(app, client=("203.0.113.7", 4000)) as client, TestClient(app, client=("198.51.100.2", 4000)) as other:
        assert [post(client, croct()).status_code for _ in range(3)] == [200, 200, 200]
        refused = post(client, croct())
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "at most 3 per 1 minute" in refused.json()["error"]["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # The click endpoint writes too, and counts; the snippet itself and other addresses do not.
        assert client.get("/lr/c?dub_id=abc").status_code == 429
        assert client.get("/lr/s.js").status_code == 200
        assert post(other, croct()).status_code == 200
        assert store_of(client).count("events") == 4


def test_a_visitor_over_its_limit_gets_429_whatever_its_addresses(make_settings: Any) -> None:
    app = create_app(make_settings(rate_limit_per_visitor="2/minute", trust_proxy_headers=True))
    # From behind the proxy (127.0.0.1, in forwarded_allow_ips), whose X-Forwarded-For is believed.
    with TestClient(app, headers={"Content-Type": "text/plain"}, client=("127.0.0.1", 4000)) as client:

        def send(address: str) -> Any:
            return client.post(ENDPOINT, content=json.dumps([croct()]), headers={"X-Forwarded-For": address})

        first = send("203.0.113.1")  # no cookie yet: the visitor is made by this request, and counted from the next
        assert first.status_code == 200 and "lr_vid" in client.cookies
        assert [send(f"203.0.113.{n}").status_code for n in (2, 3)] == [200, 200]
        fourth = send("203.0.113.4")
        assert fourth.status_code == 429 and "this visitor" in fourth.json()["error"]["message"]


@pytest.mark.parametrize(
    ("peer", "limited"),
    [
        (("127.0.0.1", 4000), False),  # the proxy (in forwarded_allow_ips): each request is its visitor's address
        (("203.0.113.50", 4000), True),  # a peer past the proxy: a forged X-Forwarded-For does not spread its count
    ],
)
def test_the_address_counted_is_a_trusted_proxys_word_or_the_peers(make_settings: Any, peer: tuple[str, int], limited: bool) -> None:
    app = create_app(make_settings(rate_limit_per_ip="2/minute", trust_proxy_headers=True))
    with TestClient(app, headers={"Content-Type": "text/plain"}, client=peer) as client:
        statuses = []
        for n in range(3):
            client.cookies.clear()  # no visitor cookie either: only the address is counted
            response = client.post(ENDPOINT, content=json.dumps([croct()]), headers={"X-Forwarded-For": f"198.51.100.{n}"})
            statuses.append(response.status_code)
    assert statuses == ([200, 200, 429] if limited else [200, 200, 200])


def test_a_refused_request_is_not_read(make_settings: Any) -> None:
    app = create_app(make_settings(rate_limit_per_ip="1/minute"))
    with TestClient(app, client=("203.0.113.9", 4000)) as client:
        assert post(client, croct()).status_code == 200
        # A body that is not even JSON: the limit answers before anything reads it.
        refused = client.post(ENDPOINT, content=b"\xff" * 1000, headers={"Content-Type": "text/plain"})
        assert refused.status_code == 429


def test_rate_limit_settings_are_checked(make_settings: Any) -> None:
    with pytest.raises(ValueError, match="600/minute"):
        make_settings(rate_limit_per_ip="lots")
    with pytest.raises(ValueError, match="redis://"):
        make_settings(rate_limit_storage="mysql://nope")


@pytest.mark.skipif(not REDIS_URL, reason="LEADRELAY_TEST_REDIS_URL is not set")
def test_instances_sharing_redis_share_the_count(make_settings: Any) -> None:
    storage = f"{REDIS_URL.rstrip('/')}/15"  # type: ignore[union-attr]
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    one = create_app(make_settings(rate_limit_storage=storage, rate_limit_per_ip="4/minute"))
    two = create_app(make_settings(rate_limit_storage=storage, rate_limit_per_ip="4/minute"))
    with TestClient(one, client=(address, 1)) as a, TestClient(two, client=(address, 2)) as b:
        answers = [post(client, croct()).status_code for client in (a, b, a, b)]
        assert answers == [200, 200, 200, 200]
        assert post(a, croct()).status_code == 429
        assert post(b, croct()).status_code == 429


def test_an_unreachable_limit_storage_lets_visitors_through(make_settings: Any) -> None:
    app = create_app(make_settings(rate_limit_storage="redis://127.0.0.1:1", rate_limit_per_ip="1/minute"))
    with TestClient(app, client=("203.0.113.5", 1)) as client:
        assert [post(client, croct()).status_code for _ in range(3)] == [200, 200, 200]


def test_garbage_costs_a_bounded_number_of_rows(make_settings: Any) -> None:
    """The first N rejections of one shape from one address are kept whole; the rest are only counted."""
    app = create_app(make_settings(rejections_kept_per_hour=5, rejections_kept_total_per_hour=8, max_batch_events=50))
    bad = [croct(lead={"gender": "robot"}) for _ in range(50)]
    other_shape = [croct(value=-1) for _ in range(50)]
    with TestClient(app, client=("203.0.113.66", 1)) as client, TestClient(app, client=("203.0.113.67", 1)) as second:
        for _ in range(6):
            assert post(client, *bad).status_code == 422  # every event still gets its precise errors
        answer = post(client, *other_shape).json()["results"][0]
        assert answer["errors"][0]["path"] == "value"
        post(second, *bad)
        store = store_of(client)
        assert store.count("rejections") == 8  # 5 of one shape, 3 of the other, then the total budget
        tallies = {(t["source"], t["shape"]): t["count"] for t in store.rejection_tallies()}
        assert tallies[("203.0.113.66", "croct: literal_error")] == 300 - 5
        assert tallies[("203.0.113.66", "croct: greater_than_equal")] == 50 - 3
        assert tallies[("203.0.113.67", "croct: literal_error")] == 50


def test_rejections_are_purged_after_their_retention(make_settings: Any) -> None:
    settings = make_settings(rejection_retention_days=1)
    # The store alone: a running app's own maintenance would race this run for the same rows.
    store = open_store(settings.database_url)
    store.setup()
    try:
        old = time.time() - 2 * 86400
        error = [FieldError(path="value", message="must be a number", rule="float_type")]
        store.write_intake(
            [Rejected("old", "croct", error, "{}", received_at=old) for _ in range(2500)]
            + [Rejected("new", "croct", error, "{}", received_at=time.time())]
        )
        removed = asyncio.run(Maintenance(settings, store).run_once())
        assert removed.rejections == 2500
        assert [r["event_id"] for r in store.list_rejections()] == ["new"]
    finally:
        store.close()


def test_local_windows_forget_the_last_window_whole() -> None:
    """Counting many addresses costs no scan: a window's counts are dropped together when it ends."""
    from limits import parse

    from leadrelay.trust.rate_limits import LocalWindows

    windows, item = LocalWindows(), parse("2/minute")
    start = 6000.0  # a window's start
    for n in range(50_000):
        windows.hit(item, "ip", f"10.{n}", start)
    assert windows.hit(item, "ip", "10.7", start + 1) == (True, start + 60)
    assert windows.hit(item, "ip", "10.7", start + 2) == (False, start + 60)
    assert windows.hit(item, "ip", "10.7", start + 60) == (True, start + 120)
    assert len(windows._windows["ip"][1]) == 1
