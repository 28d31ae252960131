"""Every rule the package writes as a pattern matches the whole value: a final newline is not let through.

With Python's `re.match`, `^...$` also matches before a final newline (issue 13: a click id
`abc\\n` reached Set-Cookie). Each case below is a value one of the package's patterns
takes, then the same value with a newline after it, sent through the app (croct beacons
are tried by the fast path's compiled schema first, then by the exact rules) or given
to the setting or function that holds the pattern.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.destinations.track_lead import customer_fields
from leadrelay.event import Customer, LeadEvent
from leadrelay.identity import CLICK_ID_PATTERN
from leadrelay.trust.hosts import host_name, host_pattern
from tests.support.keys import SERVER, SERVER_KEY

HASH = "a" * 64


def croct(lead: dict[str, Any]) -> dict[str, Any]:
    return {"dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L-1", "lead": lead}}


def reshape(user: dict[str, Any]) -> dict[str, Any]:
    return {"dialect": "reshape", "payload": {"event": {"name": "signup"}, "user": user}}


def dub(**fields: Any) -> dict[str, Any]:
    return {"dialect": "dub", "payload": {"clickId": "c1", "eventName": "Sign up", "customerExternalId": "u1", **fields}}


# (name, the event with VALUE where the pattern applies, a value it takes)
CASES = [
    ("event id", lambda v: {**reshape({}), "id": v}, "e-1"),
    ("croct birthDate", lambda v: croct({"birthDate": v}), "2000-01-01"),
    ("croct avatar", lambda v: croct({"avatar": v}), "https://croct.com/a.png"),
    ("croct companyUrl", lambda v: croct({"companyUrl": v}), "https://croct.com"),
    ("croct custom attribute name", lambda v: croct({"custom": {v: 1}}), "plan"),
    ("reshape email", lambda v: reshape({"email": v}), "ana@example.com"),
    ("reshape hashed email", lambda v: reshape({"email": v}), HASH),
    ("reshape phone", lambda v: reshape({"phone": v}), "+40712345678"),
    ("reshape hashed phone", lambda v: reshape({"phone": [v]}), HASH),
    ("dub customerEmail", lambda v: dub(customerEmail=v), "ana@example.com"),
    ("dub customerAvatar", lambda v: dub(customerAvatar=v), "https://example.com/a.png"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('patterns') / 'patterns.db'}"
    settings = Settings(
        database_url=url,
        secret_key="patterns-secret-key-of-32-or-more-characters",
        worker=False,
        demo=False,
        server_keys=[SERVER_KEY],
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def verdict(client: TestClient, event: dict[str, Any]) -> str:
    event = {"id": f"p-{uuid.uuid4().hex}", **event}
    headers = {"Content-Type": "text/plain", **SERVER}  # as a backend: the dub dialect is a server's call
    response = client.post("/lr/e", content=json.dumps({"events": [event]}), headers=headers)
    return str(response.json()["results"][0]["status"])


@pytest.mark.parametrize(("name", "event", "good"), CASES, ids=[case[0] for case in CASES])
def test_a_payload_pattern_takes_the_value_and_not_the_value_and_a_newline(
    client: TestClient, name: str, event: Any, good: str
) -> None:
    assert verdict(client, event(good)) == "accepted"
    assert verdict(client, event(good + "\n")) == "rejected"


def test_the_click_id_pattern() -> None:
    assert CLICK_ID_PATTERN.fullmatch("clk_1-A")
    assert not CLICK_ID_PATTERN.fullmatch("clk_1\n")


def test_a_click_id_with_a_newline_sets_no_cookie(client: TestClient) -> None:
    response = client.get("/lr/c", params={"dub_id": "abc\n"})
    assert response.status_code == 400
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("setting", "good"), [("reshape_script_id", "ABCD1234"), ("reshape_currency", "EUR")]
)
def test_a_setting_pattern_takes_the_value_and_not_the_value_and_a_newline(setting: str, good: str) -> None:
    Settings(**{setting: good})
    with pytest.raises(ValueError, match=setting):
        Settings(**{setting: good + "\n"})


def test_host_names_and_host_patterns() -> None:
    assert host_name("www.example.com") == "www.example.com"
    assert host_name("www.example.com\n") is None
    assert host_name("www.example.com:80\n") is None
    with pytest.raises(ValueError):
        host_pattern("www.example.com\n.")


def test_a_customer_email_sent_on_matches_whole() -> None:
    def sent(email: str) -> str | None:
        return customer_fields(LeadEvent(id="e", name="n", dialect="dub", customer=Customer(emails=[email])))[
            "customerEmail"
        ]

    assert sent("ana@example.com") == "ana@example.com"
    assert sent("ana@example.com\n") is None
