"""The webhook destination against a strict Standard Webhooks receiver: signed, retried, dead-lettered, replayed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.arrival import event_of_arrival
from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.destinations.webhook import WebhookDestination
from leadrelay.event import LeadEvent, dump_event
from leadrelay.routing import Router
from leadrelay.sandbox.credentials import WEBHOOK_SECRET
from leadrelay.sandbox.vendors import Fault
from leadrelay.sandbox.webhook import FakeWebhook
from leadrelay.store import SqlStore
from tests.fakes import OTHER_SECRET, Receiver
from tests.fakes.helpers import FAST, deliver_all, enqueue, lead, lead_event, send, states
from tests.support.arrivals import request_seen

Make = Callable[..., Settings]
KEY = WEBHOOK_SECRET.removeprefix("whsec_")


@pytest.fixture
def webhook_settings(make_settings: Make, receiver: Receiver) -> Make:
    """Settings with only the webhook on, pointing at the receiver, with fast retries."""

    def make(**overrides: Any) -> Settings:
        return make_settings(**{**receiver.settings(), **FAST, **overrides})

    return make


def data_of(event: LeadEvent, raw: bool = False) -> dict[str, Any]:
    """The canonical event as `leadrelay events` prints it."""
    return json.loads(dump_event(event, raw=raw))  # type: ignore[no-any-return]


# -- what the receiver gets --------------------------------------------------------------------------------


async def test_every_event_arrives_signed_with_the_canonical_event(store: SqlStore, webhook_settings: Make, receiver: Receiver) -> None:
    s = webhook_settings()
    events = enqueue(store, s, [lead(i) for i in range(5)])
    await deliver_all(s, store)
    assert states(store) == {"webhook": {"delivered": 5}}
    assert receiver.fake.count == 5
    by_id = {body["data"]["id"]: body for body in receiver.fake.accepted}  # accepted: the signature verified
    for event in events:
        body = by_id[event.id]
        assert body["type"] == "leadGenerated"
        assert body["data"] == data_of(event)
        assert "raw" not in body["data"]
    ids = {r.headers["webhook-id"] for r in receiver.fake.requests}
    assert len(ids) == 5  # one message id per event
    [row, *_] = store.list_deliveries(destination="webhook")
    assert row.response == {"received": True}


async def test_the_type_follows_webhook_events_and_raw_is_sent_on_request(store: SqlStore, make_settings: Make) -> None:
    with Receiver(raw=True) as receiver:
        s = make_settings(**receiver.settings(), **FAST, webhook_events={"leadGenerated": "lead.created"}, webhook_raw=True)
        croct = {**lead(1), "payload": {"leadId": "lead-1", "lead": {"firstName": "Carol"}}}
        qualified = {"event": {"name": "lead_qualified", "currency": "USD", "id": "Q-2"}}
        other = {"id": "evt-reshape-2", "dialect": "reshape", "payload": qualified}
        assert Router(s).destinations_for(event_of_arrival(other, request_seen())) == []  # not mapped: not scheduled
        [croct_event, _] = enqueue(store, s, [croct, other])
        await deliver_all(s, store)
        [body] = receiver.fake.accepted
    assert body["type"] == "lead.created"
    assert body["data"] == data_of(croct_event, raw=True)
    assert body["data"]["raw"] == {"leadId": "lead-1", "lead": {"firstName": "Carol"}}


def test_the_receiver_refuses_a_wrong_secret_a_tampered_body_and_a_missing_signature(make_settings: Make) -> None:
    # The strict receiver is what proves the signatures: show it refuses what is not signed right.
    s = make_settings(webhook_url="http://receiver.test/hooks/leads", webhook_secret=WEBHOOK_SECRET)
    wrong = send(FakeWebhook(credential=OTHER_SECRET), WebhookDestination(s), lead_event(1))
    assert wrong.status_code == 401 and "No matching signature" in wrong.json()["error"]

    fake = FakeWebhook(credential=WEBHOOK_SECRET)
    destination = WebhookDestination(s)
    out = destination.prepare(lead_event(2))
    out.json["data"]["value"] = 1_000_000.0
    destination.prepare = lambda event: out  # type: ignore[method-assign]
    assert send(fake, destination, lead_event(2)).status_code == 401
    unsigned = send(fake, replace_headers(WebhookDestination(s), {}), lead_event(3))
    assert unsigned.status_code == 401 and "Missing required headers" in unsigned.json()["error"]
    assert send(fake, WebhookDestination(s), lead_event(4)).status_code == 200
    assert fake.count == 3 and len(fake.accepted) == 1


def replace_headers(destination: WebhookDestination, headers: dict[str, str]) -> WebhookDestination:
    prepare = destination.prepare

    def without(event: LeadEvent) -> Any:
        return replace(prepare(event), headers=headers)

    destination.prepare = without  # type: ignore[method-assign]
    return destination


async def test_a_wrong_secret_is_dead_at_once_and_marks_the_webhook_unhealthy(store: SqlStore, make_settings: Make) -> None:
    with Receiver(verifies_with=OTHER_SECRET) as receiver:
        s = make_settings(**receiver.settings(), **FAST)
        enqueue(store, s, [lead(1)])
        await deliver_all(s, store)
    [row] = store.list_deliveries(destination="webhook", state=None)
    assert (row.state, row.last_status, row.attempts) == ("dead", 401, 1)
    with TestClient(create_app(replace_settings(s, worker=False))) as client:
        health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["destinations"]["webhook"]["healthy"] is False
    assert "signature verification failed" in health["destinations"]["webhook"]["problem"]


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


# -- retries, dead letters, replay ----------------------------------------------------------------------------


async def test_retries_keep_the_webhook_id_and_the_body(store: SqlStore, webhook_settings: Make, receiver: Receiver) -> None:
    s = webhook_settings(delivery_timeout_s=0.5, delivery_lease_s=5.0)
    receiver.fake.script(Fault.error(500), Fault.error(429, retry_after=1), Fault.slow(2), Fault.drop(), Fault.error(503))
    [event] = enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    [row] = store.list_deliveries(destination="webhook", state=None)
    assert (row.state, row.attempts) == ("delivered", 6)
    assert receiver.fake.count == 6
    assert len({r.headers["webhook-id"] for r in receiver.fake.requests}) == 1
    assert all(r.headers["webhook-signature"].startswith("v1,") for r in receiver.fake.requests)
    assert [b["data"]["id"] for b in receiver.fake.accepted] == [event.id]
    # The body is the same at every attempt: a receiver may compare what it got twice.
    assert all(r.body == receiver.fake.accepted[0] for r in receiver.fake.requests)


async def test_a_4xx_is_dead_lettered_and_replay_sends_it_again_under_the_same_id(
    store: SqlStore, webhook_settings: Make, receiver: Receiver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = webhook_settings()
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    receiver.fake.script(Fault.error(422))
    [event] = enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    assert states(store) == {"webhook": {"dead": 1}}
    assert cli(["deliveries"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "webhook" in line and "status=422" in line and "HTTP 422 injected fault" in line and event.id in line
    assert cli(["replay", "--destination", "webhook"]) == 0
    assert capsys.readouterr().out.strip() == "re-queued 1 dead-lettered deliveries"
    await deliver_all(s, store)
    assert states(store) == {"webhook": {"delivered": 1}}
    first, second = receiver.fake.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert [b["data"]["id"] for b in receiver.fake.accepted] == [event.id]


# -- secrets ---------------------------------------------------------------------------------------------------


async def test_the_secret_never_reaches_stored_rows_or_the_commands_output(
    store: SqlStore, webhook_settings: Make, receiver: Receiver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadrelay.sandbox.vendors import Invalid

    def echo(request: Any, body: Any) -> Any:  # a receiver that quotes the secret back, with and without its prefix
        raise Invalid(400, "bad_request", f"expected {WEBHOOK_SECRET} (key {KEY}), got {request.headers['webhook-signature']}")

    receiver.fake.answer = echo  # type: ignore[method-assign]
    s = webhook_settings()
    enqueue(store, s, [lead(1)])
    await deliver_all(s, store)
    [row] = store.list_deliveries(state="dead")
    assert row.last_error is not None and row.last_error.startswith("HTTP 400 expected *** (key ***), got v1,")
    stored = json.dumps(row.__dict__)
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    monkeypatch.setenv("LEADRELAY_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("LEADRELAY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    assert cli(["deliveries", "--state", "all", "--json"]) == 0
    assert cli(["deliveries"]) == 0
    assert cli(["check"]) == 0
    assert cli(["events", "--json", "--raw"]) == 0
    with TestClient(create_app(replace_settings(s, worker=False))) as client:
        health = client.get("/healthz").text
    out = capsys.readouterr()
    assert "destination webhook: on" in out.out
    for text in (stored, out.out, out.err, health):
        assert KEY not in text


# -- settings -----------------------------------------------------------------------------------------------------


def test_check_shows_the_webhook_off_then_on(make_settings: Make, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    make_settings()  # clears the developer's LEADRELAY_* environment
    assert cli(["check"]) == 0
    assert "destination webhook: off: no webhook_url, webhook_secret" in capsys.readouterr().out
    monkeypatch.setenv("LEADRELAY_WEBHOOK_URL", "https://crm.example.com/hooks/leads")
    assert cli(["check"]) == 0
    assert "destination webhook: off: no webhook_secret" in capsys.readouterr().out
    monkeypatch.setenv("LEADRELAY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    assert cli(["check"]) == 0
    out = capsys.readouterr().out
    assert "destination webhook: on" in out and KEY not in out


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("webhook_url", "crm.example.com/hooks", "webhook_url (LEADRELAY_WEBHOOK_URL): must be an http:// or https:// URL with a host"),
        ("webhook_url", "ftp://crm.example.com/hooks", "webhook_url (LEADRELAY_WEBHOOK_URL): must be an http:// or https:// URL with a host"),
        ("webhook_url", "https:///hooks", "webhook_url (LEADRELAY_WEBHOOK_URL): must be an http:// or https:// URL with a host"),
        ("webhook_secret", KEY, "webhook_secret (LEADRELAY_WEBHOOK_SECRET): must be whsec_ followed by the base64 of 24 to 64 random bytes (it does not start with whsec_)"),
        ("webhook_secret", "whsec_not base64!", "(what follows whsec_ is not base64)"),
        ("webhook_secret", "whsec_c2hvcnQ=", "(it holds 5 bytes)"),
        ("webhook_secret", "whsec_" + "A" * 88, "(it holds 66 bytes)"),
    ],
)
def test_a_bad_webhook_setting_is_a_clear_error(
    setting: str, value: str, message: str, tmp_path: Path, make_settings: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    make_settings()
    config = tmp_path / "leadrelay.toml"
    config.write_text(f"{setting} = {json.dumps(value)}\n")
    with pytest.raises(SystemExit) as raised:
        cli(["check", "--config", str(config)])
    assert raised.value.code == 1
    err = capsys.readouterr().err
    assert message in err
    if setting == "webhook_secret":
        assert value not in err


def test_a_valid_secret_may_come_without_padding(make_settings: Make) -> None:
    unpadded = WEBHOOK_SECRET.rstrip("=")
    s = make_settings(webhook_url="http://receiver.test/hooks", webhook_secret=unpadded)
    assert WebhookDestination.missing(s) is None
