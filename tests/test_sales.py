"""Sales: a Dub `track/sale` body judged, stored once per invoice id, routed by kind, and delivered to the strict fakes."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.destinations.base import Undeliverable
from leadrelay.destinations.dub import DubDestination
from leadrelay.destinations.pimms import PimmsDestination
from leadrelay.destinations.reshape import ReshapeDestination
from leadrelay.dialects.dub import sale_event_id
from leadrelay.event import LeadEvent
from leadrelay.routing import Router
from leadrelay.store import SqlStore
from tests.fakes import DUB_KEY, RESHAPE_TOKEN, Receiver, Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead, send, settled, states, wait_for
from leadrelay.worker import Worker
from tests.support.arrivals import request_seen
from leadrelay.arrival import event_of_arrival
from tests.support.keys import SERVER

Make = Callable[..., Settings]

SALE_BODY = {
    "customerExternalId": "cus_1",
    "amount": 4999,
    "currency": "eur",
    "eventName": "Invoice paid",
    "paymentProcessor": "stripe",
    "invoiceId": "in_1",
    "leadEventName": "Sign up",
    "customerName": "Ann Lee",
    "customerEmail": "ann@example.com",
    "customerAvatar": None,
    "metadata": {"plan": "pro", "seats": 3},
}


def sale(payload: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any]:
    """A Dub track/sale envelope as a site's backend sends it to /lr/e (with its server key)."""
    return {"id": f"sale-{uuid.uuid4().hex[:12]}", "dialect": "dub", "type": "sale", "payload": payload or SALE_BODY} | envelope


def sale_event(payload: dict[str, Any] | None = None) -> LeadEvent:
    return event_of_arrival(sale(payload), request_seen())


# -- routing by kind -------------------------------------------------------------------------------------


def test_a_sale_goes_to_dub_reshape_and_the_webhook_never_to_pimms(delivery_settings: Make) -> None:
    with Receiver() as receiver:
        s = delivery_settings(**receiver.settings(), pimms_events={"*": "*"})
        event = sale_event(SALE_BODY | {"clickId": "dubClick_1"})
        event.click_ids["pimms"] = "pimmsClick_1"  # even with a PIMMS click id: PIMMS publishes no /track/sale
        assert Router(s).destinations_for(event) == ["dub", "reshape", "webhook"]
        assert PimmsDestination(s).kinds == ("lead",)


def test_a_site_can_keep_sales_from_reshape(delivery_settings: Make) -> None:
    s = delivery_settings(reshape_sales=False)
    assert Router(s).destinations_for(sale_event()) == ["dub"]
    assert Router(s).destinations_for(event_of_arrival(lead(1), request_seen())) == ["dub", "pimms", "reshape"]
    with pytest.raises(Undeliverable, match="a sale is not sent to Reshape"):
        ReshapeDestination(s).prepare(sale_event())


def test_leads_are_routed_as_before(delivery_settings: Make) -> None:
    event = event_of_arrival(lead(1), request_seen())
    assert event.kind == "lead" and event.sale is None
    assert Router(delivery_settings()).destinations_for(event) == ["dub", "pimms", "reshape"]


def test_check_names_the_kinds_each_destination_takes(
    vendors: Vendors, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in vendors.env().items():
        monkeypatch.setenv(name, value)
    assert cli(["check"]) == 0
    out = capsys.readouterr().out
    assert "destination dub:     on (leads and sales)" in out
    assert "destination pimms:   on (leads)" in out
    assert "destination reshape: on (leads and sales)" in out
    assert "destination webhook: off: no webhook_url, webhook_secret\n" in out


# -- what each vendor gets -------------------------------------------------------------------------------


def test_dub_gets_the_sale_at_track_sale_with_the_sites_key(delivery_settings: Make, vendors: Vendors) -> None:
    destination = DubDestination(delivery_settings())
    out = destination.prepare(sale_event())
    assert out.url.endswith("/track/sale") and out.headers == {"Authorization": f"Bearer {DUB_KEY}"}
    assert out.json == SALE_BODY  # every field as sent, the currency as Dub writes it
    vendors.dub.customers["cus_1"] = {"name": "Ann Lee", "email": None, "avatar": None, "externalId": "cus_1"}
    response = send(vendors.dub, destination, sale_event())
    assert response.status_code == 200, response.text
    assert response.json()["sale"] == {
        "amount": 4999,
        "currency": "eur",
        "paymentProcessor": "stripe",
        "invoiceId": "in_1",
        "metadata": {"plan": "pro", "seats": 3},
    }
    assert vendors.dub.sales == [SALE_BODY]


def test_the_fake_dub_is_strict_about_sales(delivery_settings: Make, vendors: Vendors) -> None:
    destination = DubDestination(delivery_settings())
    event = sale_event()
    out = destination.prepare(event)
    for broken, message in [
        ({"amount": 19.5}, "amount: Expected integer"),
        ({"amount": -1}, "amount: Number must be greater than or equal to 0"),
        ({"paymentProcessor": "visa"}, "paymentProcessor: Invalid enum value"),
        ({"mode": "async"}, "Unrecognized key(s) in object: 'mode'"),
        ({"customerExternalId": ""}, "customerExternalId: String must contain at least 1 character"),
    ]:
        destination.prepare = lambda _event, body=out.json | broken: type(out)(out.url, body, out.headers)  # type: ignore[method-assign, misc]
        response = send(vendors.dub, destination, event)
        assert response.status_code == 422 and message in response.json()["error"]["message"], (broken, response.text)
    assert vendors.dub.sales == []


def test_dub_answers_a_repeat_invoice_with_its_first_answer_and_records_nothing(delivery_settings: Make, vendors: Vendors) -> None:
    destination = DubDestination(delivery_settings())
    vendors.dub.customers["cus_1"] = {"name": "Ann Lee", "email": None, "avatar": None, "externalId": "cus_1"}
    first = send(vendors.dub, destination, sale_event())
    again = send(vendors.dub, destination, sale_event(SALE_BODY | {"amount": 1}))
    assert first.json() == again.json() and len(vendors.dub.sales) == 1


def test_reshape_gets_a_sale_as_checkout_completed(delivery_settings: Make, vendors: Vendors) -> None:
    destination = ReshapeDestination(delivery_settings())
    out = destination.prepare(sale_event())
    assert out.headers == {"X-Dre-Access-Token": RESHAPE_TOKEN}
    assert out.json["event"] == {
        "name": "checkout_completed",
        "id": "in_1",  # the invoice id: Reshape de-duplicates on it, as Dub does
        "value": 49.99,
        "currency": "EUR",
        "properties": {"plan": "pro", "seats": 3, "payment_processor": "stripe"},
    }
    assert out.json["user"] == {"id": "cus_1", "email": ["ann@example.com"], "first_name": "Ann Lee"}
    response = send(vendors.reshape, destination, sale_event())
    assert response.status_code == 200 and response.json() == {"status": "ok", "duplicate": False}


def test_a_zero_decimal_sale_reaches_reshape_in_whole_units(delivery_settings: Make, vendors: Vendors) -> None:
    event = sale_event({"customerExternalId": "cus_2", "amount": 1580, "currency": "jpy"})
    out = ReshapeDestination(delivery_settings()).prepare(event)
    assert (out.json["event"]["value"], out.json["event"]["currency"], out.json["event"]["id"]) == (1580.0, "JPY", event.id)
    assert out.json["event"]["name"] == "checkout_completed"


def test_the_fake_reshape_refuses_a_purchase_without_an_iso_currency(delivery_settings: Make, vendors: Vendors) -> None:
    destination = ReshapeDestination(delivery_settings())
    out = destination.prepare(sale_event())
    out.json["event"]["currency"] = "eur"
    destination.prepare = lambda _event: out  # type: ignore[method-assign]
    response = send(vendors.reshape, destination, sale_event())
    assert response.status_code == 400 and "ISO 4217" in response.json()["message"]


# -- end to end: /lr/e, the store, the worker ------------------------------------------------------------


async def test_a_sale_is_stored_once_per_invoice_id_and_delivered_once(delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings()
    vendors.dub.customers["cus_1"] = {"name": "Ann Lee", "email": None, "avatar": None, "externalId": "cus_1"}
    first, repeat, other = sale(), sale(), sale(SALE_BODY | {"invoiceId": "in_2"})
    with TestClient(create_app(s.model_copy(update={"worker": False}))) as client:
        answers = [client.post("/lr/e", json={"events": [e]}, headers=SERVER).json()["results"][0] for e in (first, repeat, other)]
        store: SqlStore = client.app.state.service.store  # type: ignore[attr-defined]
        assert [a["status"] for a in answers] == ["accepted", "duplicate", "accepted"]
        assert [a["id"] for a in answers] == [first["id"], repeat["id"], other["id"]]  # each envelope's own id, answered
        assert store.count("events") == 2
        stored = store.get_event(sale_event_id("in_1"))
        assert stored is not None and stored.kind == "sale" and stored.sale is not None and stored.sale.amount == 4999
        await deliver_all(s, store)
        assert states(store) == {"dub": {"delivered": 2}, "reshape": {"delivered": 2}}
    # Both, once each; the worker sends them at once, so in either order.
    assert sorted(vendors.dub.sales, key=lambda body: body["invoiceId"]) == [SALE_BODY, SALE_BODY | {"invoiceId": "in_2"}]
    [request] = [r for r in vendors.dub.requests if r.body == SALE_BODY]
    assert request.headers["authorization"] == f"Bearer {DUB_KEY}"
    assert [r.body["event"]["name"] for r in vendors.reshape.requests] == ["checkout_completed"] * 2
    assert vendors.pimms.requests == []


def test_a_sale_needs_a_server_key(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.post("/lr/e", json={"events": [sale()]})
    assert response.status_code in (401, 403, 422), response.text
    assert "the dub dialect is a server's call" in response.json()["error"]["message"]


def test_a_broken_sale_is_rejected_field_by_field(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.post("/lr/e", json={"events": [sale({"customerExternalId": "c", "amount": -5})]}, headers=SERVER)
    assert response.status_code == 422
    [result] = response.json()["results"]
    assert result["errors"] == [
        {"path": "amount", "message": "must be a whole number between 0 and 9007199254740991", "rule": "whole_number"}
    ]


async def test_the_events_cli_shows_the_kind(
    store: SqlStore, delivery_settings: Make, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = delivery_settings()
    enqueue(store, s, [sale(), lead(1)])
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    assert cli(["events", "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(p["kind"] for p in printed) == ["lead", "sale"]
    [shown] = [p for p in printed if p["kind"] == "sale"]
    assert shown["sale"] == {"amount": 4999, "payment_processor": "stripe", "invoice_id": "in_1", "lead_event_name": "Sign up"}
    assert (shown["value"], shown["currency"]) == (49.99, "EUR")


async def test_the_events_cli_lists_and_counts_each_kind(
    store: SqlStore, delivery_settings: Make, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = delivery_settings()
    [stored_sale, _, _] = enqueue(store, s, [sale(), lead(1), lead(2)])
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    assert cli(["events", "--json", "--kind", "sale"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["id"] == stored_sale.id == sale_event_id("in_1")
    assert cli(["events", "--json", "--kind", "lead"]) == 0
    assert [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()] == ["lead", "lead"]
    assert cli(["events", "--count"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["events: 3", "  leads: 2", "  sales: 1"]



# -- a Reshape purchase (checkout_completed) is a sale ----------------------------------------------------

PURCHASE = {
    "event": {"name": "checkout_completed", "value": 49.99, "currency": "EUR", "id": "ORDER_1", "properties": {"payment_processor": "stripe"}},
    "user": {"id": "cus_1", "email": "ann@example.com", "first_name": "Ann"},
}


def reshape_push(payload: dict[str, Any]) -> dict[str, Any]:
    """A `reshape.push({...})` envelope as the snippet sends it to /lr/e."""
    return {"id": f"push-{uuid.uuid4().hex[:12]}", "dialect": "reshape", "payload": payload}


def test_a_reshape_purchase_goes_where_sales_go_and_dub_gets_it_as_a_purchase(delivery_settings: Make) -> None:
    s = delivery_settings()
    event = event_of_arrival(reshape_push(PURCHASE), request_seen())
    assert event.kind == "sale"
    assert Router(s).destinations_for(event) == ["dub", "reshape"]
    out = DubDestination(s).prepare(event)
    assert out.url.endswith("/track/sale")
    assert out.json == {
        "customerExternalId": "cus_1",
        "amount": 4999,
        "currency": "eur",
        "eventName": "Purchase",  # Dub's own default name: dub_events maps leads
        "paymentProcessor": "stripe",
        "invoiceId": "ORDER_1",
        "leadEventName": None,
        "customerName": "Ann",
        "customerEmail": "ann@example.com",
        "customerAvatar": None,
        "metadata": {"payment_processor": "stripe"},
    }
    renamed = DubDestination(delivery_settings(dub_events={"checkout_completed": "Order paid"})).prepare(event)
    assert renamed.json["eventName"] == "Order paid"
    every_lead = DubDestination(delivery_settings(dub_events={"*": "Sign up"})).prepare(event)
    assert every_lead.json["eventName"] == "Purchase"  # a leads' wildcard does not make a sale a sign-up


def test_a_reshape_purchase_without_a_customer_is_not_sent_to_dub_and_says_why(delivery_settings: Make) -> None:
    s = delivery_settings()
    event = event_of_arrival(reshape_push({"event": PURCHASE["event"]}), request_seen())
    router = Router(s)
    assert router.destinations_for(event) == ["reshape"]
    assert router.skipped(event) == {
        "dub": "Dub credits a sale to a customer id (customerExternalId), and this sale names none (nor an email)",
        "pimms": "it takes no sales",
    }
    by_email = event_of_arrival(reshape_push({"event": PURCHASE["event"], "user": {"email": "Ann@Example.com"}}), request_seen())
    assert DubDestination(s).prepare(by_email).json["customerExternalId"] == "ann@example.com"  # as a lead's id falls back


async def test_a_pushed_purchase_reaches_dub_and_reshape_through_the_strict_fakes(delivery_settings: Make, vendors: Vendors) -> None:
    s = delivery_settings()
    vendors.dub.customers["cus_1"] = {"name": "Ann", "email": None, "avatar": None, "externalId": "cus_1"}
    bare = {"event": PURCHASE["event"] | {"id": "ORDER_2", "currency": "usd"}}
    with TestClient(create_app(s.model_copy(update={"worker": False}))) as client:
        for payload in (PURCHASE, bare):
            response = client.post("/lr/e", json={"events": [reshape_push(payload)]})
            assert response.json()["results"][0]["status"] == "accepted", response.text
        store: SqlStore = client.app.state.service.store  # type: ignore[attr-defined]
        assert store.list_events(5, kind="sale") and len(store.list_events(5, kind="sale")) == 2
        await deliver_all(s, store)
        assert states(store) == {"dub": {"delivered": 1}, "reshape": {"delivered": 2}}
        assert store.recount_deliveries() == states(store)
    [recorded] = vendors.dub.sales
    assert (recorded["customerExternalId"], recorded["amount"], recorded["invoiceId"]) == ("cus_1", 4999, "ORDER_1")
    sent = sorted((r.body["event"]["id"], r.body["event"]["name"], r.body["event"]["currency"]) for r in vendors.reshape.requests)
    assert sent == [("ORDER_1", "checkout_completed", "EUR"), ("ORDER_2", "checkout_completed", "USD")]
    assert vendors.pimms.requests == []


# -- Dub's `sale: null`: unattributed -------------------------------------------------------------------


def test_dub_answering_sale_null_is_unattributed_naming_the_customer_and_how_long_it_is_tried(delivery_settings: Make) -> None:
    from leadrelay.destinations.base import classify
    import httpx

    dub = DubDestination(delivery_settings(dub_unattributed_retry_s=120))
    null = httpx.Response(200, json={"eventName": "Invoice paid", "customer": None, "sale": None})
    outcome = classify(dub, null, event=sale_event())
    assert (outcome.verdict, outcome.status, outcome.retry_for_s) == ("unattributed", 200, 120)
    assert outcome.error is not None and outcome.error.startswith("Dub knows no customer 'cus_1': the sale was not attributed")
    free = classify(dub, null, event=sale_event(SALE_BODY | {"amount": 0}))
    assert (free.verdict, free.error, free.retry_for_s) == ("unattributed", "Dub records no sale of amount 0: the sale was not attributed", 0)
    recorded = httpx.Response(200, json={"eventName": "Invoice paid", "customer": {"id": "cus_1"}, "sale": {"amount": 4999}})
    assert classify(dub, recorded, event=sale_event()).verdict == "delivered"


async def test_an_unattributed_sale_is_tried_again_and_credited_once_the_customers_lead_is_at_dub(
    store: SqlStore, delivery_settings: Make, vendors: Vendors
) -> None:
    s = delivery_settings(dub_unattributed_retry_s=60, reshape_sales=False)
    enqueue(store, s, [sale()])
    worker = Worker(s, store)
    await worker.start()
    try:
        tried = lambda: [r for r in store.list_deliveries("pending", "dub") if r.attempts]  # noqa: E731
        [row] = await wait_for(tried, what="the first attempt recorded")  # sale: null, tried again later
        assert row.last_status == 200 and row.last_error is not None and "Dub knows no customer 'cus_1'" in row.last_error
        vendors.dub.customers["cus_1"] = {"name": "Ann Lee", "email": None, "avatar": None, "externalId": "cus_1"}  # its lead is in
        await wait_for(lambda: settled(store), what="the sale to be credited")
    finally:
        await worker.stop()
    assert states(store) == store.recount_deliveries() == {"dub": {"delivered": 1}}
    assert vendors.dub.sales == [SALE_BODY]
    assert len(vendors.dub.requests) >= 2


async def test_an_unattributed_sale_is_final_once_its_retry_time_is_over_and_an_amount_of_0_at_once(
    store: SqlStore, delivery_settings: Make, vendors: Vendors
) -> None:
    s = delivery_settings(dub_unattributed_retry_s=0.5, reshape_sales=False)
    enqueue(store, s, [sale(), sale(SALE_BODY | {"invoiceId": "in_free", "customerExternalId": "cus_free", "amount": 0})])
    vendors.dub.customers["cus_free"] = {"name": "Free", "email": None, "avatar": None, "externalId": "cus_free"}
    await deliver_all(s, store)
    assert states(store) == store.recount_deliveries() == {"dub": {"unattributed": 2}}
    rows = {row.event_id: row for row in store.list_deliveries("unattributed", "dub")}
    unknown, free = rows[sale_event_id("in_1")], rows[sale_event_id("in_free")]
    assert unknown.attempts >= 2 and unknown.last_error is not None
    assert unknown.last_error.endswith(f"names no click) ({unknown.attempts} attempts)")
    assert (free.attempts, free.last_error) == (1, "Dub records no sale of amount 0: the sale was not attributed")
    assert vendors.dub.sales == []


async def test_the_deliveries_cli_lists_unattributed_sales_and_replay_re_queues_them_when_asked(
    store: SqlStore, delivery_settings: Make, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = delivery_settings(dub_unattributed_retry_s=0, reshape_sales=False)
    enqueue(store, s, [sale()])
    await deliver_all(s, store)
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    assert cli(["deliveries", "--state", "unattributed"]) == 0
    out = capsys.readouterr().out
    assert "dub" in out and "unattributed" in out and "Dub knows no customer 'cus_1'" in out
    assert cli(["replay", "--all"]) == 0  # dead letters only
    assert "re-queued 0 dead-lettered deliveries" in capsys.readouterr().out
    assert cli(["replay", "--all", "--unattributed"]) == 0
    assert "re-queued 1 unattributed deliveries" in capsys.readouterr().out
    assert states(store) == {"dub": {"pending": 1}}
    assert cli(["check", "--recount"]) == 0
    assert "delivery counts checked: they were right" in capsys.readouterr().out
