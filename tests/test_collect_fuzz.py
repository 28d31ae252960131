"""Generated requests, valid and hostile: never a 5xx, one verdict per event, every event answered
`accepted` is in the store, and what leadrelay would forward for it the strict fake vendors take.

Hypothesis builds each event from a known-good payload of its dialect, then breaks
some of its properties with arbitrary JSON (wrong types, nulls, astral and lone
surrogate characters, huge and non-finite numbers, deep nesting, unknown keys).
Derandomized, so CI sees the same examples on every run; LEADRELAY_FUZZ_EXAMPLES=5000
explores further with fresh random examples (tests/support/fuzz.py).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any, Iterator

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.destinations import Undeliverable
from leadrelay.sandbox.credentials import DUB_KEY, PIMMS_KEY, RESHAPE_SCRIPT, RESHAPE_TOKEN
from leadrelay.sandbox.vendors import FakeDub, FakePimms, FakeReshape
from leadrelay.vendors import SERVER_DIALECTS
from leadrelay.vendors import enabled_destinations as enabled
from tests.dialects.support import seed_json
from tests.fakes.helpers import send
from tests.support.fuzz import UNLIMITED, fuzz_settings
from tests.support.keys import SERVER, SERVER_KEY
from tests.support.payloads import CROCT_LEAD_GENERATED, paths, set_path
from tests.support.postgres import needs_postgres, postgres_schema_url

ENDPOINT = "/lr/e"
FUZZ = fuzz_settings(300)

GOOD: dict[tuple[str, str | None], dict[str, Any]] = {
    ("croct", "leadGenerated"): CROCT_LEAD_GENERATED,
    ("reshape", None): seed_json("reshape_003_complete.json"),
    ("dub", None): {
        "clickId": "c1",
        "eventName": "Sign up",
        "customerExternalId": "u-1",
        "customerName": "Carol Doe",
        "customerEmail": "carol@example.com",
        "customerAvatar": "https://example.com/carol.png",
        "mode": "wait",
        "eventQuantity": 3,
        "metadata": {"plan": "pro"},
    },
    ("pimms", None): {
        "clickId": "c1",
        "eventName": "Sign up",
        "externalId": "u-1",
        "customerName": "Carol Doe",
        "customerEmail": "carol@example.com",
        "customerAvatar": "https://example.com/carol.png",
        "mode": "async",
        "metadata": {"plan": "pro"},
    },
}

PLAUSIBLE = [
    "",
    "a\udfffb",
    "https://croct.com/x",
    "croct.com",
    "2000-02-30",
    "2000-01-31",
    "+40712345678",
    "0712345678",
    "not an email",
    "ana@example.com",
    "a" * 64,
    "prod",
    "dev",
    "203.0.113.7",
    "deferred",
    "lead_created",
    "x" * 300,
]

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("a🐊\U0010ffffé\x00\n\"\\"), max_size=120),
    st.sampled_from(PLAUSIBLE),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 100, 101, -1, 1e300, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=25,
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    (dialect, kind), good = draw(st.sampled_from(sorted(GOOD.items(), key=lambda item: item[0][0])))
    payload = json.loads(json.dumps(good))
    for _ in range(draw(st.integers(0, 3))):
        known = paths(payload)
        path = draw(st.sampled_from(known)) if known and draw(st.booleans()) else [draw(texts)]
        set_path(payload, tuple(path), draw(json_values))
    event: dict[str, Any] = {"id": f"fz-{uuid.uuid4().hex}", "dialect": dialect, "payload": payload}
    if kind:
        event["type"] = kind
    if draw(st.booleans()):  # the visitor came from a Dub or PIMMS link: every destination takes the event
        event["click_ids"] = {"dub": "dubclick1", "pimms": "pimmsclick1"}
    if draw(st.integers(0, 9)) == 0:  # now and then a broken envelope
        event[draw(st.sampled_from(["id", "dialect", "type", "context", "click_ids", "ts", "extra"]))] = draw(json_values)
    return event


VENDOR_SETTINGS = {
    "dub_api_key": DUB_KEY,
    "dub_base_url": "http://dub.test",
    "pimms_api_key": PIMMS_KEY,
    "pimms_base_url": "http://pimms.test",
    "reshape_base_url": "http://reshape.test",
    "reshape_script_id": RESHAPE_SCRIPT,
    "reshape_access_token": RESHAPE_TOKEN,
}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        else:
            url = stack.enter_context(postgres_schema_url())
        app_settings = Settings(
            database_url=url,
            secret_key="fuzz-secret-key-of-32-or-more-characters",
            worker=False,
            demo=False,
            server_keys=[SERVER_KEY],
            **VENDOR_SETTINGS,
            **UNLIMITED,
        )
        yield stack.enter_context(TestClient(create_app(app_settings), base_url="http://testserver"))


def forward(client: TestClient, event_id: str) -> None:
    """Prepare each of the event's deliveries and hand it to a fresh strict fake: it must not refuse the body."""
    service = client.app.state.service  # type: ignore[attr-defined]
    event = service.store.get_event(event_id)
    destinations = enabled(service.settings)
    fakes = {
        "dub": FakeDub(credential=DUB_KEY),
        "pimms": FakePimms(credential=PIMMS_KEY),
        "reshape": FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT),
    }
    for delivery in service.store.list_deliveries(event_id=event_id):
        try:  # as the worker sends it: strict JSON (no NaN), valid UTF-8
            answer = send(fakes[delivery.destination], destinations[delivery.destination], event)
        except Undeliverable:
            continue  # dead-lettered on purpose, with the reason (a missing click id, an unmapped name)
        refused = answer.status_code >= 400 and "no existing customer" not in answer.text  # a deferred lead's first sight
        assert not refused, (delivery.destination, answer.request.content, answer.text)


def _body(batch: list[dict[str, Any]]) -> bytes:
    # allow_nan: Python's json writes NaN and Infinity, as a careless client would.
    return json.dumps({"events": batch}, allow_nan=True).encode("utf-8", "surrogatepass")


@FUZZ
@given(batch=st.lists(events(), min_size=1, max_size=4), as_server=st.booleans())
def test_generated_batches_get_one_verdict_each_and_accepted_events_are_stored(
    client: TestClient, batch: list[dict[str, Any]], as_server: bool
) -> None:
    """Sent by the site's backend (with its server key) or by a browser (without)."""
    headers = {"Content-Type": "text/plain", **(SERVER if as_server else {})}
    response = client.post(ENDPOINT, content=_body(batch), headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code == 400:  # the body as a whole: e.g. a lone surrogate is not UTF-8
        assert response.json()["error"]["message"]
        return
    if not as_server and any(sent.get("dialect") in SERVER_DIALECTS for sent in batch):
        assert response.status_code == 401, response.text  # a server's call without its key
        assert response.headers["www-authenticate"] == "Bearer"
        return
    assert response.status_code in (200, 422), response.text
    results = response.json()["results"]
    assert len(results) == len(batch)
    store = client.app.state.service.store  # type: ignore[attr-defined]
    for sent, result in zip(batch, results):
        if isinstance(sent.get("id"), str) and sent["id"].startswith("fz-"):
            assert result["id"] == sent["id"]
        event(f"{result['status']} ({(result.get('errors') or [{}])[0].get('rule', '-')})")  # --hypothesis-show-statistics
        if result["status"] == "accepted":
            stored = store.get_event(result["id"])
            assert stored is not None
            if not as_server:  # a browser's event carries only clicks its visitor landed with
                for vendor, click in stored.click_ids.items():
                    assert click in store.seen_clicks(stored.visitor_id, {click}).get(vendor, []), (vendor, click)
            forward(client, result["id"])
        elif result["status"] == "duplicate":  # an id an earlier example (or event) already stored
            assert store.get_event(result["id"]) is not None
        else:
            assert result["status"] == "rejected", result
            assert result["errors"] and all(e["path"] and e["message"] and e["rule"] for e in result["errors"])


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())),
    content_type=st.one_of(st.sampled_from(["text/plain", "application/json", "text/plain; charset=utf-8"]), header_text),
    origin=st.one_of(st.none(), st.just("http://testserver"), header_text),
    cookie=st.one_of(st.none(), header_text.map(lambda v: f"lr_vid={v}; dub_id={v[::-1]}")),
    authorization=st.one_of(st.none(), st.just(SERVER["Authorization"]), header_text.map("Bearer ".__add__), header_text),
)
def test_any_request_gets_a_clear_answer_never_a_5xx(
    client: TestClient, body: bytes, content_type: str, origin: str | None, cookie: str | None, authorization: str | None
) -> None:
    headers = {"Content-Type": content_type}
    if origin is not None:
        headers["Origin"] = origin
    if cookie is not None:
        headers["Cookie"] = cookie
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post(ENDPOINT, content=body, headers=headers)
    assert response.status_code in (200, 400, 401, 403, 413, 415, 422), response.text
    answer = response.json()
    assert answer.get("results") or answer["error"]["message"]


@FUZZ
@given(query=st.text(max_size=80))
def test_any_click_query_gets_204_or_a_clear_400(client: TestClient, query: str) -> None:
    response = client.get("/lr/c", params={"dub_id": query, "pimms_id": query[::-1]})
    assert response.status_code in (204, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["message"]
