"""Generated requests to the sandbox API: a 4xx or a 200, never a 5xx, and JSON with no raw control character.

Derandomized like the other fuzz tests (tests/support/fuzz.py).
"""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import load_settings
from tests.support.fuzz import fuzz_settings

FUZZ = fuzz_settings(150)
API = "/lr/_sandbox"

text = st.text(st.characters(codec="utf-8"), max_size=20) | st.sampled_from(["dub", "pimms", "reshape", "webhook", "error", "slow", "timeout", "drop"])
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
faults = st.fixed_dictionaries(
    {"kind": st.sampled_from(["error", "slow", "timeout", "drop", "melt"])},
    optional={"status": values | st.integers(300, 700), "retry_after": values, "seconds": values},
)
bodies = st.fixed_dictionaries(
    {"vendor": st.sampled_from(["dub", "pimms", "reshape", "webhook"]) | text},
    optional={
        "script": st.lists(faults | values, max_size=3) | values,
        "outage": faults | values,
        "clear": values,
        "match": st.dictionaries(text, values, max_size=3) | values,
        "timeout_s": st.floats(-1, 0.05) | values,
        "accepted": values,
    },
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("fuzz") / "leadrelay.db"
    settings = load_settings(database_url=f"sqlite:///{database}", sandbox=True, rate_limit_per_ip="1000000/minute")
    with TestClient(create_app(settings)) as client:
        yield client


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 400, 404, 413, 415), response.text
    assert not any(ord(c) < 0x20 for c in response.text), response.text
    json.loads(response.text)


@FUZZ
@given(body=bodies, path=st.sampled_from(["/faults", "/wait"]))
def test_generated_bodies_never_get_a_5xx(client: TestClient, body: dict[str, Any], path: str) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    check(client.post(API + path, content=raw, headers={"Content-Type": "application/json"}))
    client.post(f"{API}/faults", json={"vendor": "dub", "clear": True})


@FUZZ
@given(vendor=text, limit=st.text(max_size=6) | st.integers(-5, 2000).map(str))
def test_generated_queries_never_get_a_5xx(client: TestClient, vendor: str, limit: str) -> None:
    check(client.get(f"{API}/received/{quote(vendor, safe='')}", params={"limit": limit}))
    check(client.get(f"{API}/events", params={"limit": limit, "raw": vendor}))
