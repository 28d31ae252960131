"""The demo's view of one event ({prefix}/_demo/events/{id}): the sender's own events only, never a secret."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, Iterator

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.event_status import NOT_YOURS
from tests.fakes import DUB_KEY, PIMMS_KEY, RESHAPE_SCRIPT, RESHAPE_TOKEN

STATUS = "/lr/_demo/events/"
KEYS = {
    "dub_api_key": DUB_KEY,
    "pimms_api_key": PIMMS_KEY,
    "reshape_base_url": "http://reshape.test",
    "reshape_script_id": RESHAPE_SCRIPT,
    "reshape_access_token": RESHAPE_TOKEN,
}
HOSTILE = '</script><script>alert(1)</script>"\\\u2028\x7f'


def lead(event_id: str | None = None, **payload: Any) -> dict[str, Any]:
    body = {"leadId": "L-1", "currency": "USD", "value": 10, "lead": {"firstName": "Ada", "email": "ada@example.com"}}
    body.update(payload)
    return {"id": event_id or str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": body}


def send(client: TestClient, *events: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/lr/e", content=json.dumps({"events": list(events)}), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    return response.json()["results"]  # type: ignore[no-any-return]


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        overrides.setdefault("worker", False)
        client = TestClient(create_app(make_settings(**overrides)), base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def visitor(client: TestClient) -> TestClient:
    """Another browser on the same server: its own cookie jar."""
    other = TestClient(client.app, base_url="http://testserver")
    return other


def test_the_sender_sees_its_event_stored_and_each_destination(make_client: Callable[..., TestClient]) -> None:
    client = make_client(**KEYS)
    assert client.get("/lr/c?dub_id=click_9").status_code == 204  # landed from a Dub link
    event = lead()
    [result] = send(client, event)
    assert result["status"] == "accepted"

    response = client.get(STATUS + event["id"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    view = response.json()
    assert view["id"] == event["id"] and view["status"] == "stored"
    assert view["name"] == "leadGenerated" and view["dialect"] == "croct"
    assert view["click_ids"] == {"dub": "click_9"}
    by_name = {d["name"]: d for d in view["destinations"]}
    assert by_name["dub"]["state"] == "pending" and by_name["dub"]["event_name"] == "Sign up"
    assert by_name["dub"]["attempts"] == 0
    assert by_name["pimms"]["skipped"].startswith("no pimms_id")
    assert by_name["reshape"]["state"] == "pending" and by_name["reshape"]["event_name"] == "lead_created"
    assert by_name["webhook"]["off"] == "no webhook_url, webhook_secret"
    assert "sent" not in by_name["dub"]  # the bodies sent are shown in sandbox mode only
    for secret in (DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN):
        assert secret not in response.text


def test_another_visitor_a_forged_cookie_or_no_cookie_gets_the_404_of_an_unknown_id(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    event = lead()
    send(client, event)
    assert client.get(STATUS + event["id"]).status_code == 200

    unknown = client.get(STATUS + str(uuid.uuid4()))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": NOT_YOURS}}
    with visitor(client) as other:
        send(other, lead())  # a visitor of its own, with a valid cookie
        assert other.get(STATUS + event["id"]).json() == unknown.json()
        other.cookies.clear()
        assert other.get(STATUS + event["id"]).json() == unknown.json()  # no cookie at all
        mine = client.cookies.get("lr_vid")
        assert mine is not None
        value, _, signature = mine.rpartition(".")
        other.cookies.set("lr_vid", f"{value}.{signature[::-1]}")  # the id, with a signature it did not get
        assert other.get(STATUS + event["id"]).json() == unknown.json()
        other.cookies.set("lr_vid", value)
        assert other.get(STATUS + event["id"]).json() == unknown.json()


@pytest.mark.parametrize(
    "bad",
    ["x" * 101, "-leading-dash", "a%00b", "a%0Ab", "caf%C3%A9", "a%22b", "a%3Cscript%3E", "%20"],
)
def test_an_id_that_is_no_event_id_is_a_precise_400(make_client: Callable[..., TestClient], bad: str) -> None:
    client = make_client()
    send(client, lead())
    response = client.get(STATUS + bad)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("id: must be an event id: 1-100 letters")


def test_a_cross_site_caller_is_refused(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    event = lead()
    send(client, event)
    response = client.get(STATUS + event["id"], headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "cross_site"
    other_origin = client.get(STATUS + event["id"], headers={"Origin": "https://evil.example"})
    assert other_origin.status_code == 403


def test_it_counts_against_the_rate_limits(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_visitor="3/minute")
    event = lead()
    send(client, event)  # its visitor cookie comes back with the answer: from here on, it is counted
    answers = [client.get(STATUS + event["id"]) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert "retry-after" in answers[-1].headers


def test_there_is_no_such_endpoint_without_the_demo(make_client: Callable[..., TestClient]) -> None:
    client = make_client(demo=False)
    event = lead()
    send(client, event)
    assert client.get(STATUS + event["id"]).status_code == 404
    assert client.get("/").status_code == 404


def test_the_largest_event_with_hostile_strings_comes_back_as_valid_json(make_client: Callable[..., TestClient]) -> None:
    client = make_client(**KEYS)
    client.get("/lr/c?dub_id=click_1")
    # As many hostile custom attributes as one event takes, each string as long as Croct allows.
    custom = {f"a{i}": (HOSTILE * 20)[:100] for i in range(10)}
    event = lead(leadId="L-" + "\u2028" * 98, lead={"firstName": HOSTILE[:50], "custom": custom, "company": (HOSTILE * 20)[:200]})
    [result] = send(client, event)
    assert result["status"] == "accepted", result
    response = client.get(STATUS + event["id"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    view = response.json()  # strict JSON: every escape in place
    assert view["id"] == event["id"]
    assert {d["name"] for d in view["destinations"]} == {"dub", "pimms", "reshape", "webhook"}


def test_in_sandbox_mode_it_shows_the_body_each_destination_is_sent(make_client: Callable[..., TestClient]) -> None:
    client = make_client(sandbox=True)
    client.get("/lr/c?pimms_id=pimms_3")
    event = lead()
    send(client, event)
    view = client.get(STATUS + event["id"]).json()
    by_name = {d["name"]: d for d in view["destinations"]}
    assert by_name["pimms"]["sent"]["clickId"] == "pimms_3"
    assert by_name["pimms"]["sent"]["eventName"] == by_name["pimms"]["event_name"] == "Sign up"
    assert by_name["reshape"]["sent"]["event"]["name"] == "lead_created"
    assert by_name["webhook"]["sent"]["data"]["id"] == event["id"]
    assert by_name["dub"]["skipped"].startswith("no dub_id")
    assert "webhook-signature" not in json.dumps(view)  # bodies only: no header, no signature, no key


def test_an_event_as_large_as_a_request_takes_comes_back_whole_in_sandbox_mode(make_client: Callable[..., TestClient]) -> None:
    # A Reshape event passes unknown properties through: one filling the 64 KB body limit, every string hostile.
    client = make_client(sandbox=True)
    properties = {f"p{i}": (HOSTILE * 40)[:400] for i in range(120)}
    event = {
        "id": str(uuid.uuid4()),
        "dialect": "reshape",
        "payload": {"event": {"name": "lead_created", "currency": "USD", "id": "R-1", "properties": properties}},
    }
    size = len(json.dumps({"events": [event]}).encode())
    assert 60_000 < size <= 64 * 1024
    [result] = send(client, event)
    assert result["status"] == "accepted", result
    response = client.get(STATUS + event["id"])
    assert response.status_code == 200
    view = response.json()
    reshape = next(d for d in view["destinations"] if d["name"] == "reshape")
    assert reshape["sent"]["event"]["properties"] == properties  # every escape survived the round trip
