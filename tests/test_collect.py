"""The collect endpoint: every verdict and every error path, through the ASGI app."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings

ENDPOINT = "/lr/e"


def croct(payload: dict[str, Any] | None = None, **envelope: Any) -> dict[str, Any]:
    event = {
        "id": str(uuid.uuid4()),
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": payload if payload is not None else {"leadId": "lead-1", "currency": "USD", "value": 10},
    }
    event.update(envelope)
    return event


def post(client: TestClient, body: Any, content_type: str = "text/plain", **headers: str) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(ENDPOINT, content=data, headers={"Content-Type": content_type, **headers})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


def store_of(client: TestClient) -> Any:
    return client.app.state.service.store  # type: ignore[attr-defined]


# -- verdicts -------------------------------------------------------------------------------


def test_accepted_croct_event_answers_the_processed_event_and_is_stored(client: TestClient) -> None:
    event = croct({"leadId": "L-1", "currency": "EUR", "value": 12.5, "lead": {"firstName": "Ada", "email": "ada@example.com"}})
    response = post(client, {"events": [event]})
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["id"] == event["id"]
    assert result["status"] == "accepted"
    assert result["event"]["leadId"] == "L-1"
    assert result["event"]["currency"] == "EUR"
    assert result["event"]["value"] == 12.5
    assert result["event"]["patch"]["operations"][0] == {"type": "set", "path": "firstName", "value": "Ada"}
    stored = store_of(client).get_event(event["id"])
    assert stored is not None
    assert stored.customer.emails == ["ada@example.com"]
    assert stored.raw == event["payload"]


def test_application_json_is_accepted_too(client: TestClient) -> None:
    response = post(client, {"events": [croct()]}, content_type="application/json; charset=utf-8")
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "accepted"


def test_a_bare_list_of_events_is_a_batch(client: TestClient) -> None:
    response = post(client, [croct(), croct()])
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]


def test_same_id_twice_is_stored_once(client: TestClient) -> None:
    event = croct()
    first = post(client, {"events": [event]}).json()["results"][0]
    second = post(client, {"events": [event]}).json()["results"][0]
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    assert store_of(client).count("events") == 1


def test_same_id_twice_in_one_batch_is_stored_once(client: TestClient) -> None:
    event = croct()
    results = post(client, {"events": [event, event]}).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "duplicate"]
    assert store_of(client).count("events") == 1


def test_rejected_event_names_path_and_rule_and_is_kept_with_its_errors(client: TestClient) -> None:
    event = croct({"lead": {"birthDate": "2023-02-30", "address": {"state": "CA"}}})
    response = post(client, {"events": [event]})
    assert response.status_code == 422
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    paths = {e["path"]: e["message"] for e in result["errors"]}
    assert paths["lead.address.state"] == "unknown property"
    assert "YYYY-MM-DD" in paths["lead.birthDate"]
    [rejection] = store_of(client).list_rejections()
    assert rejection["event_id"] == event["id"]
    assert {e["path"] for e in rejection["errors"]} == {"lead.address.state", "lead.birthDate"}
    assert json.loads(rejection["raw"])["payload"] == event["payload"]
    assert store_of(client).count("events") == 0


def test_a_lone_surrogate_rejects_its_event_only_and_is_kept_escaped(client: TestClient) -> None:
    """JavaScript can cut a string inside an emoji: "\ud83d" is not Unicode, so it cannot be stored or forwarded."""
    cut = croct({"leadId": "L-1", "lead": {"firstName": "Ada \ud83d", "custom": {"\udc0a": 1}}})
    whole = croct({"leadId": "L-2", "lead": {"firstName": "Ada \ud83d\udc0a"}})  # a pair: the crocodile emoji
    hostile = {"id": "\udfff", "dialect": "croct\ud800", "type": "leadGenerated", "payload": {}}
    body = json.dumps({"events": [cut, whole, hostile]})  # ensure_ascii: surrogates travel as \uXXXX escapes
    response = post(client, body)

    assert response.status_code == 200
    first, second, third = response.json()["results"]
    assert first["status"] == "rejected"
    assert [(e["path"], e["rule"]) for e in first["errors"]] == [
        ("lead.firstName", "unicode"),
        ("lead.custom.\\udc0a", "unicode"),
    ]
    assert "half of a surrogate pair" in first["errors"][0]["message"]
    assert second["status"] == "accepted"
    assert store_of(client).get_event(whole["id"]).customer.first_name == "Ada \U0001f40a"
    assert third["id"] is None and third["status"] == "rejected"
    assert {e["path"] for e in third["errors"]} == {"id", "dialect"}
    kept = {r["event_id"]: r for r in store_of(client).list_rejections()}
    assert json.loads(kept[cut["id"]]["raw"])["payload"]["lead"]["firstName"] == "Ada \ud83d"
    assert kept[None]["dialect"] is None


def test_a_surrogate_written_in_utf8_is_a_400_not_utf8(client: TestClient) -> None:
    """Bytes ED B0-BF xx encode a surrogate, which UTF-8 forbids (Python's json would read them as one)."""
    payload = {"event": {"name": "page_view", "properties": {"k\udfff": 1}}}  # a key Reshape keeps unchecked
    body = json.dumps({"events": [{"id": "e-sur", "dialect": "reshape", "payload": payload}]}, ensure_ascii=False)
    response = post(client, body.encode("utf-8", "surrogatepass"))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("the body is not UTF-8")
    assert store_of(client).get_event("e-sur") is None


def test_a_rejected_event_answers_at_most_20_errors(client: TestClient) -> None:
    event = croct({f"unknown{i}": i for i in range(100)})
    response = post(client, {"events": [event]})
    assert response.status_code == 422
    errors = response.json()["results"][0]["errors"]
    assert len(errors) == 20
    assert errors[0] == {"path": "unknown0", "message": "unknown property", "rule": "extra_forbidden"}
    assert errors[-1] == {"path": "(root)", "message": "and 81 more errors", "rule": "too_many_errors"}
    [rejection] = store_of(client).list_rejections()
    assert rejection["errors"] == errors


def test_mixed_batch_answers_per_event_with_200(client: TestClient) -> None:
    good, bad = croct(), croct({"value": -1})
    response = post(client, {"events": [good, bad]})
    assert response.status_code == 200
    statuses = {r["id"]: r["status"] for r in response.json()["results"]}
    assert statuses == {good["id"]: "accepted", bad["id"]: "rejected"}


@pytest.mark.parametrize(
    ("envelope", "path"),
    [
        ({"dialect": "croct", "type": "leadGenerated", "payload": {}}, "id"),
        ({"id": "has space", "dialect": "croct", "type": "leadGenerated", "payload": {}}, "id"),
        ({"id": "e1", "dialect": "segment", "payload": {}}, "dialect"),
        ({"id": "e1", "dialect": "croct", "type": "leadGenerated"}, "payload"),
        ({"id": "e1", "dialect": "croct", "type": "leadGenerated", "payload": [1]}, "payload"),
        ({"id": "e1", "dialect": "croct", "type": "leadGenerated", "payload": {}, "extra": 1}, "extra"),
        ({"id": "e1", "dialect": "croct", "type": "leadGenerated", "payload": {}, "context": {"url": 5}}, "context.url"),
    ],
)
def test_malformed_envelopes_are_rejected_with_the_envelope_path(client: TestClient, envelope: dict, path: str) -> None:
    response = post(client, {"events": [envelope]})
    assert response.status_code == 422
    [result] = response.json()["results"]
    assert result["status"] == "rejected"
    assert path in [e["path"] for e in result["errors"]]


ENVELOPE_FIELDS_OF_THE_WRONG_JSON_TYPE = [
    ("ts", "1", "must be an integer"),
    ("ts", True, "must be an integer"),
    ("ts", 1.0, "must be an integer"),
    ("id", 7, "must be a string"),
    ("type", True, "must be a string"),
    ("context", {"url": True}, "must be a string"),
    ("click_ids", {"dub": 1}, "must be a string"),
]


@pytest.mark.parametrize("dialect", ["croct", "reshape"])  # croct beacons are tried by the fast path first
@pytest.mark.parametrize(("field", "value", "message"), ENVELOPE_FIELDS_OF_THE_WRONG_JSON_TYPE)
def test_the_envelope_takes_exact_json_types_as_the_payloads_do(
    client: TestClient, dialect: str, field: str, value: Any, message: str
) -> None:
    event = croct() if dialect == "croct" else {"id": str(uuid.uuid4()), "dialect": "reshape", "payload": {"event": {"name": "x"}}}
    event[field] = value
    response = post(client, {"events": [event]})
    assert response.status_code == 422, response.text
    [result] = response.json()["results"]
    assert [e["message"] for e in result["errors"] if e["path"].split(".")[0] == field] == [message]
    assert store_of(client).count("events") == 0


def test_a_non_object_event_is_rejected_not_crashed(client: TestClient) -> None:
    response = post(client, {"events": [42, croct()]})
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "accepted"]


def test_unknown_croct_event_type_is_rejected(client: TestClient) -> None:
    response = post(client, {"events": [croct(type="noSuchEvent")]})
    assert response.status_code == 422
    assert response.json()["results"][0]["errors"][0]["path"] == "type"


def test_click_ids_come_from_the_server_cookies_when_the_client_sends_none(client: TestClient) -> None:
    event = croct()
    assert client.get("/lr/c?dub_id=dubclick123&pimms_id=pimmsclick456").status_code == 204  # landing sets the cookies
    post(client, {"events": [event]}, **{"User-Agent": "pytest-agent"})
    stored = store_of(client).get_event(event["id"])
    assert (stored.click_ids.get("dub"), stored.click_ids.get("pimms")) == ("dubclick123", "pimmsclick456")
    assert stored.context.user_agent == "pytest-agent"
    assert stored.visitor_id


def test_click_ids_sent_with_the_event_win_over_cookies(client: TestClient) -> None:
    event = croct(click_ids={"dub": "at-the-time"})
    client.get("/lr/c?dub_id=at-the-time")
    client.get("/lr/c?dub_id=later-click")  # the visitor came back through a later click
    assert client.cookies["dub_id"] == "later-click"
    post(client, {"events": [event]})
    assert store_of(client).get_event(event["id"]).click_ids.get("dub") == "at-the-time"


# -- bad requests ---------------------------------------------------------------------------


def test_invalid_json_is_400_with_the_parser_position(client: TestClient) -> None:
    response = post(client, '{"events": [{"id": "a" "dialect": "croct"}]}')
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "line 1 column 24" in error["message"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_400(client: TestClient, constant: str) -> None:
    event = croct({"leadId": "L-1"}, context={"url": "https://shop.example/"})
    body = json.dumps({"events": [event]}).replace('"L-1"', constant)
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_json",
        "message": f"invalid JSON: {constant} is not a JSON value (JSON.stringify sends null for it)",
    }
    assert store_of(client).count("events") == 0


def test_body_not_utf8_is_400(client: TestClient) -> None:
    response = post(client, b'{"events": ["\xff\xfe"]}')
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '{"events": [' + "1" * 5000 + "]}", "null", '"text"', "{}", '{"events": []}', '{"events": {}}', '{"evnts": []}'],
)
def test_hostile_or_empty_bodies_are_400_never_500(client: TestClient, body: str) -> None:
    response = post(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_payload_nested_too_deeply_is_rejected_and_spoils_no_neighbour(client: TestClient) -> None:
    nested: Any = "leaf"
    for _ in range(400):
        nested = {"k": nested}
    deep = {"id": "deep-1", "dialect": "reshape", "payload": {"event": {"name": "page_view", "properties": nested}}}
    response = post(client, {"events": [deep, croct()]})
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["status"] == "rejected"
    assert first["errors"][0] == {"path": "payload", "message": "nested deeper than 32 levels", "rule": "max_depth"}
    assert second["status"] == "accepted"


def test_declared_oversized_body_is_413_without_reading_it(settings: Settings, make_settings: Any) -> None:
    app = create_app(make_settings(max_body_bytes=2048))
    with TestClient(app) as client:
        response = client.post(ENDPOINT, content=b"x" * 4096, headers={"Content-Type": "text/plain"})
        assert response.status_code == 413
        assert "2048 bytes" in response.json()["error"]["message"]


def test_streamed_oversized_body_is_413(make_settings: Any) -> None:
    app = create_app(make_settings(max_body_bytes=2048))

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1024

    with TestClient(app) as client:
        response = client.post(ENDPOINT, content=chunks(), headers={"Content-Type": "text/plain"})
        assert response.status_code == 413


def test_default_body_limit_is_64_kb(client: TestClient) -> None:
    big = croct({"leadId": "x", "lead": {"custom": {"note": "y" * 100}}})
    body = json.dumps({"events": [big] * 1}) + " " * (64 * 1024)
    assert post(client, body).status_code == 413


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])
def test_wrong_content_type_is_415(client: TestClient, content_type: str) -> None:
    response = client.post(ENDPOINT, content=json.dumps({"events": [croct()]}), headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert "text/plain or application/json" in response.json()["error"]["message"]


def test_batch_over_the_count_limit_is_413(make_settings: Any) -> None:
    with TestClient(create_app(make_settings(max_batch_events=3))) as client:
        response = post(client, {"events": [croct() for _ in range(4)]})
        assert response.status_code == 413
        assert "at most 3" in response.json()["error"]["message"]
        assert client.app.state.service.store.count("events") == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(client: TestClient, method: str) -> None:
    response = client.request(method, ENDPOINT)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


def test_origin_not_on_the_allow_list_is_403(client: TestClient) -> None:
    response = post(client, {"events": [croct()]}, Origin="https://evil.example")
    assert response.status_code == 403
    assert "https://evil.example" in response.json()["error"]["message"]
    assert store_of(client).count("events") == 0


def test_same_origin_needs_no_allow_list(client: TestClient) -> None:
    response = post(client, {"events": [croct()]}, Origin="http://testserver")
    assert response.status_code == 200


@pytest.mark.parametrize("origin", ["null", "file://", "chrome-extension://abcdef"])
def test_a_wildcard_allows_any_web_origin_but_never_null(make_settings: Any, origin: str) -> None:
    def preflight(client: TestClient, origin: str) -> Any:
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        return client.options(ENDPOINT, headers=headers)

    with TestClient(create_app(make_settings(allowed_origins="*"))) as client:
        client.cookies.set("lr_vid", "anything")  # credentials: Starlette's own "*" reflected any origin then
        response = post(client, {"events": [croct()]}, Origin=origin)
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in preflight(client, origin).headers
        assert store_of(client).count("events") == 0
        anywhere = post(client, {"events": [croct()]}, Origin="https://anywhere.example")
        assert anywhere.status_code == 200
        assert anywhere.headers["access-control-allow-origin"] == "https://anywhere.example"
        assert anywhere.headers["access-control-allow-credentials"] == "true"
        assert preflight(client, "http://localhost:3000").headers["access-control-allow-origin"] == "http://localhost:3000"


def test_allowed_origin_gets_cors_headers_and_preflight(make_settings: Any) -> None:
    with TestClient(create_app(make_settings(allowed_origins="https://shop.example"))) as client:
        response = post(client, {"events": [croct()]}, Origin="https://shop.example")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert response.headers["access-control-allow-credentials"] == "true"
        preflight = client.options(
            ENDPOINT,
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        other = post(client, {"events": [croct()]}, Origin="https://other.example")
        assert other.status_code == 403
        assert "access-control-allow-origin" not in other.headers


def test_storage_failure_is_503_with_retry_after(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_of(client)

    def broken(items: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_intake", broken)
    response = post(client, {"events": [croct()]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


def test_visitor_cookie_is_set_once_and_signed(client: TestClient) -> None:
    first = post(client, {"events": [croct()]})
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("lr_vid=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    second = post(client, {"events": [croct()]})
    assert "set-cookie" not in second.headers


def test_other_croct_event_types_are_accepted_only_when_configured(make_settings: Any) -> None:
    event = croct({"goalId": "newsletter", "value": 1}, type="goalCompleted")
    with TestClient(create_app(make_settings())) as client:
        rejected = post(client, {"events": [event]}).json()["results"][0]
        assert rejected["status"] == "rejected"
        assert "croct_event_types" in rejected["errors"][0]["message"]
    with TestClient(create_app(make_settings(croct_event_types=["leadGenerated", "goalCompleted"]))) as client:
        accepted = post(client, {"events": [event]}).json()["results"][0]
        assert accepted == {"id": event["id"], "status": "accepted", "event": {"goalId": "newsletter", "value": 1}}
        stored = store_of(client).get_event(event["id"])
        assert (stored.name, stored.properties) == ("goalCompleted", {"goalId": "newsletter", "value": 1})


def test_under_a_root_path_beacons_are_collected(settings: Settings) -> None:
    """Behind a proxy that mounts the app under a prefix (uvicorn --root-path), the endpoint still answers."""
    with TestClient(create_app(settings), root_path="/gateway") as client:
        event = croct()
        response = post(client, {"events": [event]})
        assert response.status_code == 200
        assert response.json()["results"][0]["status"] == "accepted"
        assert store_of(client).get_event(event["id"]) is not None


def test_a_failure_inside_the_collector_is_a_json_500_and_the_service_goes_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    collector = client.app.state.service.collector  # type: ignore[attr-defined]

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(collector, "_judge_batch", broken)
    response = post(client, {"events": [croct()]})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    error_id = error["message"].split("error id ")[1].split(")")[0]
    assert f"the collect endpoint failed (error id {error_id})" in caplog.text and "RuntimeError: a bug" in caplog.text
    monkeypatch.undo()
    assert post(client, {"events": [croct()]}).status_code == 200


def test_a_bug_in_storing_is_a_500_not_a_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the database failing is 503 (retry later); a bug must not hide behind it."""
    store = store_of(client)

    def buggy(items: Any) -> Any:
        raise TypeError("a bug in the store code")

    monkeypatch.setattr(store, "write_intake", buggy)
    response = post(client, {"events": [croct()]})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "retry-after" not in response.headers


def test_a_bug_behind_another_route_is_a_json_500_too(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_of(client)

    def buggy() -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(store, "overview", buggy)
    with TestClient(client.app, raise_server_exceptions=False) as other:
        response = other.get("/healthz")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "error id" in response.json()["error"]["message"]
