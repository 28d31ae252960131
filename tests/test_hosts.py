"""The Host header: only a host name reaches the routes (and the cookie domain), and `allowed_hosts` narrows which."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.sandbox.live import LiveServer
from leadrelay.trust.hosts import host_name
from tests.support.sockets import raw_answer

BEACON = json.dumps({"events": [{"id": "h-1", "dialect": "reshape", "payload": {"event": {"name": "x"}}}]})
HOSTILE_HOSTS = [
    "www.a.com; Domain=evil.com; x",
    "www.a.com;domain=evil.com",
    "www.a.com, evil.com",
    "a b.com",
    "a..com",
    "-a.com",
    "a.com:",
    "a.com:8o",
    "a.com:123456",
    "[::g]:80",
    "user@a.com",
    "a.com/path",
    "a" * 300,
]


ATTRIBUTES = {"max-age", "path", "samesite", "domain", "secure", "httponly"}


def cookie_attributes(header: str) -> set[str]:
    """The attribute names of a Set-Cookie header; each may appear once."""
    names = [part.split("=", 1)[0].strip().lower() for part in header.split(";")[1:]]
    assert len(names) == len(set(names)), header
    return set(names)


def client_for(make_settings: Any, **settings: Any) -> TestClient:
    return TestClient(create_app(make_settings(worker=False, **settings)), base_url="http://www.example.com")


def requests(client: TestClient, host: str) -> list[Any]:
    """The click endpoint, a beacon, the script and the health check, each addressed to `host`."""
    headers = {"Host": host}
    return [
        client.get("/lr/c?dub_id=clk_1", headers=headers),
        client.post("/lr/e", content=BEACON, headers={**headers, "Content-Type": "text/plain"}),
        client.get("/lr/s.js", headers=headers),
        client.get("/healthz", headers=headers),
    ]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_a_host_header_that_is_not_a_host_name_is_400_and_sets_nothing(make_settings: Any, host: str) -> None:
    with client_for(make_settings) as client:
        for response in requests(client, host):
            assert response.status_code == 400, (response.request.url, response.text)
            assert response.json()["error"]["code"] == "invalid_host"
            assert "is not a host name" in response.json()["error"]["message"]
            assert "set-cookie" not in response.headers
        assert client.app.state.service.store.count("events") == 0  # type: ignore[attr-defined]


def test_the_cookie_domain_comes_from_the_host_name_alone(make_settings: Any) -> None:
    with client_for(make_settings) as client:
        response = client.get("/lr/c?dub_id=clk_1", headers={"Host": "WWW.Example.com:8443"})
    assert response.status_code == 204
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 2
    for header in headers:
        assert cookie_attributes(header) <= ATTRIBUTES
        assert "Domain=.example.com" in header.split("; ")


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("www.example.com", True),
        ("WWW.EXAMPLE.COM:8000", True),
        ("shop.example.org", True),
        ("a.b.example.org", True),
        ("example.org", False),  # *.example.org names its subdomains only
        ("evil.com", False),
        ("www.example.com.evil.com", False),
        ("127.0.0.1", False),
    ],
)
def test_allowed_hosts_names_the_hosts_served(make_settings: Any, host: str, served: bool) -> None:
    with client_for(make_settings, allowed_hosts=["www.example.com", "*.example.org"]) as client:
        statuses = [r.status_code for r in requests(client, host)]
        if served:
            assert 400 not in statuses and 500 not in statuses, statuses
        else:
            assert statuses == [400, 400, 400, 400]
            message = client.get("/healthz", headers={"Host": host}).json()["error"]["message"]
            assert message == f"host {host_name(host)} is not served here: add it to allowed_hosts"


def test_allowed_hosts_is_a_comma_separated_environment_variable(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    assert settings.allowed_hosts == ["*"]  # any host name is served by default
    monkeypatch.setenv("LEADRELAY_ALLOWED_HOSTS", "www.Example.com, *.example.org,[::1]")
    assert make_settings().allowed_hosts == ["www.example.com", "*.example.org", "::1"]


@pytest.mark.parametrize("entry", ["example.com:443", "*.*.example.com", "exa mple.com", "https://example.com", ""])
def test_allowed_hosts_entries_must_be_host_names(make_settings: Any, entry: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        make_settings(allowed_hosts=[entry] if entry else [])


def test_a_request_without_a_host_is_served_unless_hosts_are_named(make_settings: Any) -> None:
    """HTTP/1.0 has no Host header: a health check may send none."""
    for allowed, status in ((["*"], 200), (["www.example.com"], 400)):
        with LiveServer(create_app(make_settings(worker=False, allowed_hosts=allowed))) as server:
            assert raw_answer(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")[0] == status


def test_two_host_headers_are_400(make_settings: Any) -> None:
    with LiveServer(create_app(make_settings(worker=False))) as server:
        status, _ = raw_answer(server.port, b"GET /healthz HTTP/1.1\r\nHost: a.example.com\r\nHost: b.example.com\r\n\r\n")
    assert status == 400
