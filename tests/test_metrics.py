"""/metrics: scraped and parsed as Prometheus parses it, its counts move as events and deliveries happen."""

from __future__ import annotations

import socket
from typing import Any, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import ConfigError, Settings
from leadrelay.metrics import Metrics, MetricsListener
from leadrelay.store import SqlStore
from leadrelay.sandbox.vendors import Fault
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead
from tests.support.arrivals import accepted
from tests.test_erasure import croct
from tests.test_trust import croct_lead, post

TOKEN = "metrics-token-for-the-tests-0123456789"
Make = Callable[..., Settings]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a scrape, read by prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def value(got: dict[Any, float], name: str, **labels: str) -> float:
    return got.get((name, tuple(sorted(labels.items()))), 0.0)


def test_events_are_counted_by_dialect_and_verdict(make_settings: Make) -> None:
    settings = make_settings(metrics_token=TOKEN, worker=False, dub_api_key="dub_metrics_key")
    with TestClient(create_app(settings)) as client:
        before = scrape(client)
        assert value(before, "leadrelay_events_total", dialect="croct", verdict="accepted") == 0
        first = croct_lead("m1")
        post(client, [first, croct_lead("m2")])
        post(client, [first, {"id": "x", "dialect": "croct", "type": "leadGenerated", "payload": {"value": "ten"}}])
        post(client, [{"id": "y", "dialect": "\x1b[31mnot-a-dialect", "payload": {}}])
        client.get("/lr/c?dub_id=real")
        post(client, [croct_lead("held", click_ids={"dub": "forged"})])
        got = scrape(client)
    assert value(got, "leadrelay_events_total", dialect="croct", verdict="accepted") == 3
    assert value(got, "leadrelay_events_total", dialect="croct", verdict="duplicate") == 1
    assert value(got, "leadrelay_events_total", dialect="croct", verdict="rejected") == 1
    assert value(got, "leadrelay_events_total", dialect="-", verdict="rejected") == 1  # no attacker-chosen label
    assert value(got, "leadrelay_clicks_held_back_total", dialect="croct") == 1
    assert value(got, "leadrelay_store_up") == 1
    assert value(got, "leadrelay_deliveries", destination="dub", state="pending") == 1  # only the lead with a click
    assert value(got, "leadrelay_backlog", destination="dub") == 1
    assert value(got, "leadrelay_backlog_oldest_seconds", destination="dub") >= 0


def test_rate_limit_refusals_are_counted(make_settings: Make) -> None:
    settings = make_settings(metrics_token=TOKEN, worker=False, rate_limit_per_ip="5/day")  # a window no test straddles
    app = create_app(settings)
    with TestClient(app, client=("203.0.113.7", 4000)) as client:
        codes = [post(client, [croct_lead(f"r{i}")]).status_code for i in range(7)]
        assert codes.count(429) == 2
        # The scrape itself counts against the address's limit (it is refused too, and counted).
        assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
    text = app.state.service.metrics.exposition().decode()
    assert value(samples(text), "leadrelay_rate_limited_total", limit="ip") == 3


async def test_deliveries_are_counted_with_their_latency_and_attempts(
    store: SqlStore, delivery_settings: Make, vendors: Vendors
) -> None:
    s = delivery_settings()
    metrics = Metrics(store)
    vendors.dub.script(Fault.error(503))  # one retry, then delivered
    vendors.pimms.outage = Fault.error(400)  # dead at once
    enqueue(store, s, [lead(1), lead(2)])
    await deliver_all(s, store, metrics=metrics)
    got = samples(metrics.exposition().decode())
    assert value(got, "leadrelay_delivery_attempts_total", destination="dub", outcome="retry") == 1
    assert value(got, "leadrelay_delivery_attempts_total", destination="dub", outcome="delivered") == 2
    assert value(got, "leadrelay_delivery_attempts_total", destination="pimms", outcome="dead") == 2
    assert value(got, "leadrelay_delivery_seconds_count", destination="dub") == 3
    assert value(got, "leadrelay_delivery_seconds_bucket", destination="dub", le="+Inf") == 3
    assert value(got, "leadrelay_delivery_attempts_used_count", destination="dub", state="delivered") == 2
    assert value(got, "leadrelay_delivery_attempts_used_sum", destination="dub", state="delivered") == 3  # 1 + 2
    assert value(got, "leadrelay_delivery_attempts_used_bucket", destination="dub", state="delivered", le="1.0") == 1
    assert value(got, "leadrelay_deliveries", destination="dub", state="delivered") == 2
    assert value(got, "leadrelay_deliveries", destination="pimms", state="dead") == 2
    assert value(got, "leadrelay_backlog_overdue_seconds") == 0


def test_store_gauges_on_either_database(both_stores: SqlStore) -> None:
    both_stores.write_intake([accepted(croct(f"g{i}@example.com"), ["dub", "webhook"]) for i in range(4)])
    both_stores.set_health("dub", False, 401, "HTTP 401 unauthorized")
    got = samples(Metrics(both_stores).exposition().decode())
    assert value(got, "leadrelay_deliveries", destination="webhook", state="pending") == 4
    assert value(got, "leadrelay_backlog", destination="dub") == 4
    assert value(got, "leadrelay_destination_healthy", destination="dub") == 0
    assert value(got, "leadrelay_backlog_oldest_seconds", destination="dub") > 0  # the fake clock is in the past


@pytest.mark.parametrize(
    ("headers", "status", "challenge"),
    [
        ({}, 401, "Bearer"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "Bearer"),
        ({"Authorization": "Bearer "}, 401, "Bearer"),
        ({"Authorization": "Bearer wrong-token"}, 401, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {TOKEN}x"}, 401, 'Bearer error="invalid_token"'),
        ({"Authorization": "Bearer \x7f\x1b[2J" + "é" * 3000}, 401, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example", "Cookie": "lr_vid=x"}, 200, None),
    ],
)
def test_metrics_need_the_token(make_settings: Make, headers: dict[str, str], status: int, challenge: str | None) -> None:
    settings = make_settings(metrics_token=TOKEN, worker=False)
    with TestClient(create_app(settings)) as client:
        encoded = {k: v.encode() for k, v in headers.items()}  # bytes as sent: UTF-8, control characters and all
        response = client.get("/metrics", headers=encoded)
    assert response.status_code == status
    if challenge is not None:
        assert response.headers["www-authenticate"] == challenge
        assert response.json()["error"]["code"] == "unauthorized"
        assert TOKEN not in response.text
    else:
        assert "leadrelay_events_total" in response.text or "leadrelay_store_up" in response.text


def test_metrics_are_off_without_a_token_or_a_bind(client_settings: Settings) -> None:
    with TestClient(create_app(client_settings)) as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404 and "metrics_token" in response.json()["error"]["message"]


@pytest.fixture
def client_settings(make_settings: Make) -> Settings:
    return make_settings(worker=False)


def test_a_weak_token_or_a_bad_bind_is_a_configuration_problem(make_settings: Make) -> None:
    with pytest.raises(ConfigError, match="metrics_token"):
        make_settings(metrics_token="short")
    with pytest.raises(ConfigError, match="metrics_bind"):
        make_settings(metrics_bind="localhost")


def test_the_separate_bind_serves_the_metrics_without_a_token(store: SqlStore) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics = Metrics(store)
    metrics.judged("croct", "accepted", 2)
    listener = MetricsListener(metrics, f"127.0.0.1:{port}")
    listener.start()
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        listener.stop()
    got = samples(text)
    assert value(got, "leadrelay_events_total", dialect="-", verdict="accepted") == 2  # this Metrics knows no dialect
    assert value(got, "leadrelay_store_up") == 1


def test_a_worker_process_serves_its_metrics_on_its_own_address(db_url: str, store: SqlStore, tmp_path: Any) -> None:
    """The multi-process case: `leadrelay worker` in its own process, scraped on its --metrics-bind."""
    import os
    import subprocess
    import sys
    import time

    store.write_intake([accepted(croct(f"w{i}@example.com"), ["dub"]) for i in range(2)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env["LEADRELAY_DATABASE_URL"] = db_url
    env["LEADRELAY_SANDBOX"] = "false"  # no destination: sandbox mode would be on, and a worker refuses it
    worker = subprocess.Popen(
        [sys.executable, "-m", "leadrelay", "worker", "--metrics-bind", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline, text = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not text:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                time.sleep(0.2)
        got = samples(text)
        assert value(got, "leadrelay_store_up") == 1
        assert value(got, "leadrelay_backlog", destination="dub") == 2  # dub is off for this worker: they wait
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
