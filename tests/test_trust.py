"""Forged attribution: a click id reaches Dub or PIMMS only when the visitor landed with it, and the
vendors' own dialects come only from a server holding a server key (leadrelay.trust).

The main scenarios run over raw HTTP against a live server with its delivery worker and
the strict fake vendors (which know only the clicks that happened), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import time
import uuid
from typing import Any, Callable, Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.cli import main as cli
from leadrelay.config import Settings
from leadrelay.store import open_store
from leadrelay.store.schema import SCHEMA_VERSION
from leadrelay.trust import server_keys
from tests.fakes import Vendors
from tests.support.keys import SERVER, SERVER_KEY
from tests.support.postgres import needs_postgres, postgres_schema_url
from tests.support.relay import Relay
from tests.support.waiting import wait_until

OTHER_KEY = "another-server-key-9876543210-zyxwvutsrqpon"
WANTED = "Authorization: Bearer <one of server_keys>"


def croct_lead(name: str, **envelope: Any) -> dict[str, Any]:
    payload = {"leadId": f"L-{name}", "currency": "USD", "value": 100, "lead": {"email": f"{name}@example.com"}}
    return {"id": f"{name}-{uuid.uuid4().hex[:8]}", "dialect": "croct", "type": "leadGenerated", "payload": payload, **envelope}


def vendor_lead(dialect: str, click: str) -> dict[str, Any]:
    customer = {"customerExternalId": "cust-1"} if dialect == "dub" else {"externalId": "cust-1"}
    payload = {"clickId": click, "eventName": "Sign up", **customer}
    return {"id": f"{dialect}-{uuid.uuid4().hex[:8]}", "dialect": dialect, "payload": payload}


def browser_of(relay: Relay) -> httpx.Client:
    """A visitor's browser: its own cookie jar, and the site's Origin on every request."""
    return httpx.Client(base_url=relay.url, headers={"Origin": relay.url})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def database(request: pytest.FixtureRequest, db_url: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield db_url
    else:
        with postgres_schema_url() as url:
            yield url


@pytest.fixture
def shop(database: str, start_relay: Callable[..., Relay], vendors: Vendors) -> Relay:
    """The relay on `database`; Dub knows one click, `real`, and PIMMS one, `realPimms` (strict: any other is a 404).

    `database` comes first: set up first, it is torn down last, after the relay has stopped."""
    vendors.dub.known_clicks = {"real"}
    vendors.pimms.known_clicks = {"realPimms"}
    return start_relay(database_url=database)


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(dub_api_key="dub_test_key", worker=False))) as c:
        yield c


def post(client: httpx.Client, events: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return client.post("/lr/e", content=json.dumps({"events": events}), headers={"Content-Type": "text/plain", **headers})


def statuses_of(client: httpx.Client, events: list[dict[str, Any]], **headers: str) -> list[str]:
    """What a 200 answer says of each event."""
    response = post(client, events, **headers)
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


# -- click ids: only those the visitor landed with ----------------------------------------------


def test_a_lead_whose_envelope_forges_the_click_reaches_dub_with_the_click_the_visitor_landed_with(shop: Relay) -> None:
    with browser_of(shop) as visitor:
        assert visitor.get("/lr/c?dub_id=real").status_code == 204
        lead = croct_lead("envelope-claim", click_ids={"dub": "forged"})
        assert statuses_of(visitor, [lead]) == ["accepted"]
    wait_until(lambda: shop.vendors.dub.accepted and shop.vendors.reshape.accepted, "the lead at Dub and Reshape")
    assert [body["clickId"] for body in shop.vendors.dub.accepted] == ["real"]
    assert shop.vendors.reshape.accepted[0]["cookies"] == {"dub_id": "real"}
    assert "forged" not in shop.vendors.sent()

    stored = shop.store.get_event(lead["id"])
    assert stored.click_ids == {"dub": "real"}
    assert [(m.code, m.message) for m in stored.marks] == [
        ("click_held_back", "dub click id 'forged' (from the envelope) was not seen at /lr/c for this visitor: not forwarded")
    ]
    assert shop.store.count_marks() == {"click_held_back": 1}
    assert [e.id for e in shop.store.list_events(mark="click_held_back")] == [lead["id"]]


def test_a_forged_click_without_a_landing_reaches_neither_dub_nor_pimms(shop: Relay) -> None:
    lead = croct_lead("no-landing", click_ids={"dub": "forged", "pimms": "forgedPimms"})
    with browser_of(shop) as visitor:  # and cookies a script on the page could have written
        assert statuses_of(visitor, [lead], Cookie="dub_id=forged; pimms_id=forgedPimms") == ["accepted"]
    wait_until(lambda: shop.vendors.reshape.accepted, "the lead at Reshape")
    assert [d.destination for d in shop.store.list_deliveries(event_id=lead["id"])] == ["reshape"]
    assert (shop.vendors.dub.count, shop.vendors.pimms.count) == (0, 0)
    assert "forged" not in shop.vendors.sent()
    stored = shop.store.get_event(lead["id"])
    assert stored.click_ids == {}
    assert [m.message.split(" was ")[0] for m in stored.marks] == [
        "dub click id 'forged' (from the envelope)",
        "pimms click id 'forgedPimms' (from the envelope)",
    ]


def test_a_click_another_visitor_landed_with_is_held_back(shop: Relay) -> None:
    with browser_of(shop) as landed, browser_of(shop) as other:
        landed.get("/lr/c?dub_id=real")
        other.get("/lr/c")  # a visitor of its own, signed, who came from elsewhere
        cookie = f"lr_vid={other.cookies['lr_vid']}; dub_id=real"
        lead = croct_lead("borrowed", click_ids={"dub": "real"})
        assert statuses_of(other, [lead], Cookie=cookie) == ["accepted"]
    stored = shop.store.get_event(lead["id"])
    assert stored.click_ids == {}
    assert [m.code for m in stored.marks] == ["click_held_back"]
    assert shop.store.list_deliveries(event_id=lead["id"], destination="dub") == []


def test_a_visitor_cookie_that_does_not_verify_earns_no_click(client: TestClient) -> None:
    client.get("/lr/c?dub_id=real")
    visitor = client.cookies["lr_vid"].split(".")[0]
    lead = croct_lead("unsigned", click_ids={"dub": "real"})
    response = post(client, [lead], Cookie=f"lr_vid={visitor}.not-its-signature; dub_id=real")
    assert response.json()["results"][0]["status"] == "accepted"
    stored = client.app.state.service.store.get_event(lead["id"])  # type: ignore[attr-defined]
    assert stored.visitor_id != visitor and stored.click_ids == {}


def test_the_clicks_a_visitor_landed_with_are_remembered_once(client: TestClient) -> None:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    client.get("/lr/c?dub_id=a")
    client.get("/lr/c?dub_id=a")
    assert store.count("clicks") == 1
    client.get("/lr/c?dub_id=b&pimms_id=c")
    visitor = client.cookies["lr_vid"].split(".")[0]
    assert store.seen_clicks(visitor, {"a", "b", "c", "never"}) == {"dub": ["a", "b"], "pimms": ["c"]}
    assert store.seen_clicks("someone-else", {"a", "b", "c"}) == {}


def test_a_click_another_process_saw_is_looked_up_in_the_store(make_settings: Callable[..., Settings], database: str) -> None:
    """Two services on one database (two processes, or a restart): the second has seen no click itself."""
    settings = make_settings(database_url=database, dub_api_key="dub_k", worker=False)
    with TestClient(create_app(settings)) as landing_page, TestClient(create_app(settings)) as collector:
        landing_page.get("/lr/c?dub_id=real")
        cookie = f"lr_vid={landing_page.cookies['lr_vid']}; dub_id=real"
        store = collector.app.state.service.store  # type: ignore[attr-defined]
        looked_up: list[set[str]] = []
        seen_clicks = store.seen_clicks

        def counted(visitor_id: str, click_ids: set[str]) -> dict[str, list[str]]:
            looked_up.append(set(click_ids))
            return seen_clicks(visitor_id, click_ids)

        store.seen_clicks = counted
        first, second = croct_lead("first", click_ids={"dub": "real"}), croct_lead("second", click_ids={"dub": "forged"})
        post(collector, [first, second], Cookie=cookie)
        post(collector, [croct_lead("again", click_ids={"dub": "real"})], Cookie=cookie)
        assert looked_up == [{"real", "forged"}]  # one query for the first request; the second's click is remembered
        assert store.get_event(first["id"]).click_ids == {"dub": "real"}
        assert store.get_event(second["id"]).click_ids == {"dub": "real"}  # the cookie's, which landed
        assert [m.code for m in store.get_event(second["id"]).marks] == ["click_held_back"]


def test_a_store_that_cannot_be_read_answers_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    client.get("/lr/c?dub_id=real")
    store = client.app.state.service.store  # type: ignore[attr-defined]

    def broken(visitor_id: str, click_ids: set[str]) -> dict[str, list[str]]:
        raise OSError("disk I/O error")

    monkeypatch.setattr(store, "seen_clicks", broken)
    response = post(client, [croct_lead("unreadable", click_ids={"dub": "not-remembered"})])
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"]["message"] == "the visitor's clicks could not be read; retry later"


def test_a_click_that_cannot_be_stored_answers_503_and_sets_no_cookie(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(items: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(client.app.state.service.store, "write_intake", broken)  # type: ignore[attr-defined]
    response = client.get("/lr/c?dub_id=real")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"]["message"] == "the click could not be stored; retry later"
    assert "set-cookie" not in response.headers  # the snippet then sends the URL's click id, which is held back


def test_the_clicks_remembered_in_memory_are_bounded() -> None:
    from leadrelay.trust.seen import SeenClicks

    seen = SeenClicks(capacity=3)
    seen.remember("v1", [("dub", "a"), ("dub", "b")])
    seen.remember("v2", [("dub", "a"), ("pimms", "c")])  # v1's "a", the oldest, is forgotten
    assert seen.split("v1", [("dub", "a"), ("dub", "b")]) == ({("dub", "b")}, {("dub", "a")})
    assert seen.split("v2", [("dub", "a"), ("dub", "c")]) == ({("dub", "a")}, {("dub", "c")})


def test_under_first_click_attribution_a_later_click_is_remembered_too(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(attribution="first-click", dub_api_key="dub_k"))) as client:
        client.get("/lr/c?dub_id=first")
        client.get("/lr/c?dub_id=later")
        assert client.cookies["dub_id"] == "first"
        lead = croct_lead("later", click_ids={"dub": "later"})  # a tab opened by the later click
        post(client, [lead])
        assert client.app.state.service.store.get_event(lead["id"]).click_ids == {"dub": "later"}  # type: ignore[attr-defined]


def test_click_verification_off_takes_click_ids_as_sent(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(click_verification="off", dub_api_key="dub_k"))) as client:
        lead = croct_lead("unverified", click_ids={"dub": "as-sent"})
        assert post(client, [lead]).json()["results"][0]["status"] == "accepted"
        store = client.app.state.service.store  # type: ignore[attr-defined]
        stored = store.get_event(lead["id"])
        assert (stored.click_ids, stored.marks) == ({"dub": "as-sent"}, [])
        assert [d.destination for d in store.list_deliveries(event_id=lead["id"])] == ["dub"]
        # The vendors' own dialects are a server's calls whatever the click policy.
        assert post(client, [vendor_lead("dub", "as-sent")]).status_code == 401


# -- server keys: the vendors' dialects are a server's calls ---------------------------------------


@pytest.mark.parametrize("dialect", ["dub", "pimms"])
def test_a_vendor_shaped_body_without_a_server_key_is_401(shop: Relay, dialect: str) -> None:
    response = httpx.post(f"{shop.url}/lr/e", json={"events": [vendor_lead(dialect, "someone_elses_click")]})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": {"code": "unauthorized", "message": f"the {dialect} dialect is a server's call, not a browser's: send {WANTED}"}
    }
    assert (shop.store.count("events"), shop.store.count("rejections")) == (0, 0)


def test_a_batch_with_one_vendor_shaped_event_is_refused_whole(client: TestClient) -> None:
    response = post(client, [croct_lead("fine"), vendor_lead("dub", "c1")])
    assert response.status_code == 401
    assert client.app.state.service.store.count("events") == 0  # type: ignore[attr-defined]


def test_without_server_keys_the_401_says_to_configure_them(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(server_keys=[]))) as client:
        refused = post(client, [vendor_lead("dub", "c1")])
        assert refused.json()["error"]["message"] == f"the dub dialect is a server's call, not a browser's: configure server_keys and send {WANTED}"
        keyed = post(client, [croct_lead("keyed")], **SERVER)
        assert keyed.status_code == 401
        assert keyed.json()["error"]["message"].startswith("a Bearer key was sent, but no server_keys are configured")


def test_a_server_key_vouches_for_its_click_ids(shop: Relay) -> None:
    with httpx.Client(base_url=shop.url, headers=SERVER) as backend:  # the site's backend: no landing, no cookie
        statuses = statuses_of(backend, [vendor_lead("dub", "real"), croct_lead("from-backend", click_ids={"pimms": "realPimms"})])
    assert statuses == ["accepted", "accepted"]
    wait_until(lambda: shop.vendors.dub.accepted and shop.vendors.pimms.accepted, "the leads at Dub and PIMMS")
    assert [body["clickId"] for body in shop.vendors.dub.accepted] == ["real"]
    assert [body["clickId"] for body in shop.vendors.pimms.accepted] == ["realPimms"]
    assert shop.store.count_marks() == {}


def test_either_of_two_server_keys_is_taken_so_keys_rotate_without_downtime(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(server_keys=[SERVER_KEY, OTHER_KEY]))) as client:
        for key in (SERVER_KEY, OTHER_KEY):
            response = post(client, [vendor_lead("dub", "c1")], Authorization=f"Bearer {key}")
            assert response.json()["results"][0]["status"] == "accepted"
    with TestClient(create_app(make_settings(server_keys=[OTHER_KEY]))) as client:  # the old key retired
        assert post(client, [vendor_lead("dub", "c1")], **SERVER).status_code == 401
        assert post(client, [vendor_lead("dub", "c2")], Authorization=f"bearer  {OTHER_KEY} ").status_code == 200


def test_a_wrong_key_is_401_and_compared_in_constant_time_with_every_key(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        if isinstance(a, bytes) and a.startswith(b"wrong"):
            compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(server_keys.hmac, "compare_digest", spy)
    wrong = "wrong-key-but-long-enough-0123456789abc"
    with TestClient(create_app(make_settings(server_keys=[SERVER_KEY, OTHER_KEY]))) as client:
        response = post(client, [croct_lead("wrong")], Authorization=f"Bearer {wrong}")
        assert response.status_code == 401  # a server that sends a wrong key hears so, whatever it sends
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["error"] == {"code": "unauthorized", "message": f"the Bearer key is not one of server_keys: send {WANTED}"}
        assert client.app.state.service.store.count("events") == 0  # type: ignore[attr-defined]
    assert compared == [(wrong.encode(), SERVER_KEY.encode()), (wrong.encode(), OTHER_KEY.encode())]


def test_basic_authentication_is_not_a_server_key(client: TestClient) -> None:
    basic = {"Authorization": "Basic c3RhZ2luZzpzZWNyZXQ="}  # a staging site behind HTTP Basic: its browsers send this
    assert post(client, [croct_lead("staging")], **basic).json()["results"][0]["status"] == "accepted"
    assert post(client, [vendor_lead("dub", "c1")], **basic).status_code == 401


# -- the event's own clock ----------------------------------------------------------------------


def test_a_ts_far_outside_the_window_is_marked_not_refused(make_settings: Callable[..., Settings]) -> None:
    now_ms = int(time.time() * 1000)
    leads = {
        "now": croct_lead("now", ts=now_ms),
        "earlier": croct_lead("earlier", ts=now_ms - 2 * 3600 * 1000),
        "later": croct_lead("later", ts=now_ms + 2 * 3600 * 1000),
        "absurd": croct_lead("absurd", ts=10**40),
    }
    with TestClient(create_app(make_settings(ts_window_s=3600))) as client:
        response = post(client, list(leads.values()))
        assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 4
        store = client.app.state.service.store  # type: ignore[attr-defined]
        marks = {name: [(m.code, m.message) for m in store.get_event(lead["id"]).marks] for name, lead in leads.items()}
        assert store.count_marks() == {"ts_outside_window": 3}
    assert marks["now"] == []
    assert [code for code, _ in marks["earlier"] + marks["later"] + marks["absurd"]] == ["ts_outside_window"] * 3
    assert marks["earlier"][0][1] == "ts lies more than ts_window_s (3600 s) before the time the server received the event"
    assert marks["later"][0][1] == "ts lies more than ts_window_s (3600 s) after the time the server received the event"
    assert marks["absurd"] == marks["later"]


# -- what the operator sees ---------------------------------------------------------------------


def test_the_operator_lists_and_counts_what_was_held_back(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(dub_api_key="dub_k", worker=False)
    with TestClient(create_app(settings)) as client:
        client.get("/lr/c?dub_id=real")
        held = croct_lead("held", click_ids={"dub": "forged"})
        post(client, [held, croct_lead("fine", click_ids={"dub": "real"})])
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", settings.database_url)
    assert cli(["events", "--held-back", "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    shown = json.loads(line)
    assert shown["id"] == held["id"] and shown["click_ids"] == {"dub": "real"}
    assert shown["marks"][0]["code"] == "click_held_back" and "'forged'" in shown["marks"][0]["message"]
    assert cli(["events", "--count"]) == 0
    assert capsys.readouterr().out.splitlines() == ["events: 2", "  leads: 2", "  sales: 0", "  click_held_back: 1", "  ts_outside_window: 0"]


# -- the schema ---------------------------------------------------------------------------------


def test_a_store_of_the_first_schema_is_upgraded_in_place(database: str) -> None:
    store = open_store(database)
    store.setup()
    try:
        with store._transaction():  # back to version 1, with an event of its time
            store._run("DROP INDEX events_marked")
            store._run("ALTER TABLE events DROP COLUMN marks")
            store._run("ALTER TABLE events DROP COLUMN kind")
            store._run("DROP TABLE clicks")
            store._run("ALTER TABLE deliveries DROP COLUMN request")
            store._run("UPDATE schema_version SET version = 1")
            body = json.dumps({"envelope": croct_lead("old", click_ids={"dub": "from-then"}), "seen": {
                "visitor_id": "v1", "received_at": 1.0, "ip": None, "user_agent": None, "click_ids": {}}})  # fmt: skip
            store._run("INSERT INTO events (id, dialect, name, visitor_id, received_at, body) VALUES (?, ?, ?, ?, ?, ?)",
                       ("old-1", "croct", "leadGenerated", "v1", 1.0, body))  # fmt: skip
        store.setup()
        store.setup()  # idempotent
        assert store._run("SELECT version FROM schema_version").fetchone()["version"] == SCHEMA_VERSION
        store._end_read()
        old = store.get_event("old-1")
        assert (old.click_ids, old.marks, old.kind) == ({"dub": "from-then"}, [], "lead")  # read as it was accepted
        assert store.count("clicks") == 0 and store.count_marks() == {}
        assert store.count_kinds() == {"lead": 1} and len(store.list_events(kind="lead")) == 1
    finally:
        with contextlib.suppress(Exception):
            store.close()
