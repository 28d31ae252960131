"""Identity: click-id cookies set by the server like the vendors' scripts do, and the signed visitor id."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import pytest
from itsdangerous import Signer
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.identity import CLICK_MAX_AGE, VISITOR_COOKIE, VISITOR_MAX_AGE


def set_cookies(response: Any) -> dict[str, Any]:
    """Set-Cookie headers by cookie name, parsed (morsels: value, max-age, path, domain, ...)."""
    jar: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = morsel
    return jar


PROXY = ("127.0.0.1", 40000)
"""A proxy in front, connecting from an address in forwarded_allow_ips (its default, 127.0.0.1)."""
STRANGER = ("203.0.113.50", 40000)
"""A peer outside forwarded_allow_ips: a visitor reaching the service directly, past the proxy."""
BEACON = {"events": [{"id": "ip-1", "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "x"}}]}


def client_for(
    make_settings: Any, base_url: str = "http://www.example.com", client: tuple[str, int] = ("testclient", 50000), **settings: Any
) -> TestClient:
    return TestClient(create_app(make_settings(worker=False, **settings)), base_url=base_url, client=client)


def visitor_of(make_settings: Any, value: str) -> str:
    return Signer(make_settings().signing_key, salt="leadrelay.visitor").unsign(value).decode()


def test_click_cookies_have_the_vendors_attributes(make_settings: Any) -> None:
    with client_for(make_settings) as client:
        response = client.get("/lr/c?dub_id=clk_1&pimms_id=pm-1")
    assert response.status_code == 204
    assert response.headers["cache-control"] == "no-store"
    jar = set_cookies(response)
    for name, value in (("dub_id", "clk_1"), ("pimms_id", "pm-1")):
        cookie = jar[name]
        assert cookie.value == value
        assert cookie["max-age"] == str(CLICK_MAX_AGE)
        assert cookie["path"] == "/"
        assert cookie["domain"] == ".example.com"  # without www.
        assert cookie["samesite"].lower() == "lax"
        assert not cookie["secure"] and not cookie["httponly"]


def test_over_https_the_cookies_are_secure(make_settings: Any) -> None:
    with client_for(make_settings, base_url="https://www.example.com") as client:
        jar = set_cookies(client.get("/lr/c?dub_id=clk_1"))
    assert jar["dub_id"]["secure"] and jar[VISITOR_COOKIE]["secure"]


def test_behind_a_trusted_tls_proxy_the_cookies_are_secure_and_the_https_origin_is_ours(make_settings: Any) -> None:
    https = {"X-Forwarded-Proto": "https"}
    with client_for(make_settings, client=PROXY, trust_proxy_headers=True) as client:
        jar = set_cookies(client.get("/lr/c?dub_id=clk_1", headers=https))
        beacon = client.post("/lr/e", json=BEACON, headers={**https, "Origin": "https://www.example.com"})
    assert jar["dub_id"]["secure"] and jar[VISITOR_COOKIE]["secure"]
    assert beacon.status_code == 200, beacon.text


@pytest.mark.parametrize(
    ("peer", "trust"),
    [
        (STRANGER, True),  # a peer outside forwarded_allow_ips: its X-Forwarded-Proto is its own word
        (PROXY, False),  # the proxy's address, but proxy headers are off
    ],
)
def test_a_forged_x_forwarded_proto_changes_nothing(make_settings: Any, peer: tuple[str, int], trust: bool) -> None:
    """Neither the cookies' Secure nor the origin a beacon is checked against: both see the same plain http."""
    https = {"X-Forwarded-Proto": "https"}
    with client_for(make_settings, client=peer, trust_proxy_headers=trust) as client:
        jar = set_cookies(client.get("/lr/c?dub_id=clk_1", headers=https))
        as_https = client.post("/lr/e", json=BEACON, headers={**https, "Origin": "https://www.example.com"})
        as_http = client.post("/lr/e", json=BEACON, headers={**https, "Origin": "http://www.example.com"})
    assert not jar["dub_id"]["secure"] and not jar[VISITOR_COOKIE]["secure"]
    assert as_https.status_code == 403
    assert as_http.status_code == 200, as_http.text


@pytest.mark.parametrize(
    ("base_url", "domain"),
    [
        ("http://example.com", ".example.com"),
        ("http://www.example.com", ".example.com"),
        ("http://shop.example.co.uk", ".shop.example.co.uk"),
        ("http://localhost:8000", ""),
        ("http://127.0.0.1:8000", ""),
        ("http://[::1]:8000", ""),
    ],
)
def test_the_cookie_domain(make_settings: Any, base_url: str, domain: str) -> None:
    with client_for(make_settings, base_url=base_url) as client:
        jar = set_cookies(client.get("/lr/c?dub_id=clk_1"))
    assert jar["dub_id"]["domain"] == domain
    assert jar[VISITOR_COOKIE]["domain"] == domain


def test_the_cookie_domain_can_be_configured(make_settings: Any) -> None:
    with client_for(make_settings, base_url="http://t.example.com", cookie_domain=".example.com") as client:
        jar = set_cookies(client.get("/lr/c?dub_id=clk_1"))
    assert jar["dub_id"]["domain"] == ".example.com"


def test_last_click_overwrites_and_first_click_keeps(make_settings: Any) -> None:
    with client_for(make_settings) as client:
        client.cookies.set("dub_id", "old", domain=".example.com")
        assert set_cookies(client.get("/lr/c?dub_id=new"))["dub_id"].value == "new"
    with client_for(make_settings, attribution="first-click") as client:
        client.cookies.set("dub_id", "old", domain=".example.com")
        jar = set_cookies(client.get("/lr/c?dub_id=new&pimms_id=p1"))
        assert "dub_id" not in jar  # the first click stays
        assert jar["pimms_id"].value == "p1"  # no earlier PIMMS click: this one is the first


@pytest.mark.parametrize("query", ["dub_id=", "dub_id=a%20b", "pimms_id=" + "x" * 191, "dub_id=%3Cscript%3E"])
def test_a_malformed_click_id_is_refused(make_settings: Any, query: str) -> None:
    with client_for(make_settings) as client:
        response = client.get("/lr/c?" + query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "set-cookie" not in response.headers


def test_the_visitor_cookie_is_signed_httponly_and_kept(make_settings: Any) -> None:
    with client_for(make_settings) as client:
        first = set_cookies(client.get("/lr/c"))[VISITOR_COOKIE]
        assert first["httponly"]
        assert first["max-age"] == str(VISITOR_MAX_AGE)
        visitor = visitor_of(make_settings, first.value)
        assert len(visitor) == 32
        again = client.get("/lr/c")  # a valid cookie is trusted and not set again
        assert VISITOR_COOKIE not in set_cookies(again)
        assert client.cookies[VISITOR_COOKIE] == first.value


@pytest.mark.parametrize("forged", ["attacker", "attacker.bad-signature", "", "a.b.c", "%C3%A9.x"])
def test_a_forged_visitor_cookie_is_replaced(make_settings: Any, forged: str) -> None:
    with client_for(make_settings) as client:
        client.cookies.set(VISITOR_COOKIE, forged, domain=".example.com")
        jar = set_cookies(client.get("/lr/c"))
    assert jar[VISITOR_COOKIE].value != forged
    visitor_of(make_settings, jar[VISITOR_COOKIE].value)  # the server's own, signed


def test_a_cookie_signed_with_another_key_is_replaced(make_settings: Any) -> None:
    other = Signer("some-other-key", salt="leadrelay.visitor").sign("victim").decode()
    with client_for(make_settings) as client:
        client.cookies.set(VISITOR_COOKIE, other, domain=".example.com")
        jar = set_cookies(client.get("/lr/c"))
    assert visitor_of(make_settings, jar[VISITOR_COOKIE].value) != "victim"


def test_collected_events_carry_the_visitor_and_click_ids_of_the_request(make_settings: Any) -> None:
    with client_for(make_settings) as client:
        client.get("/lr/c?dub_id=clk_9")
        visitor = visitor_of(make_settings, client.cookies[VISITOR_COOKIE])
        body = {"events": [{"id": "e-1", "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "x"}}]}
        assert client.post("/lr/e", json=body).status_code == 200
        event = client.app.state.service.store.get_event("e-1")  # type: ignore[attr-defined]
    assert event.visitor_id == visitor
    assert event.click_ids.get("dub") == "clk_9"


@pytest.mark.parametrize(
    ("peer", "trust", "forwarded", "ip"),
    [
        (PROXY, True, "203.0.113.7", "203.0.113.7"),
        (PROXY, True, "2001:db8::7", "2001:db8::7"),
        (PROXY, True, "unknown", None),  # what some proxies write: not an address, so no vendor is sent it
        (PROXY, True, "203.0.113.7:443", "203.0.113.7"),  # some proxies add the port
        (PROXY, True, "[2001:db8::7]:443", "2001:db8::7"),
        # A proxy that appends: the visitor's own claim comes first, and the address the proxy saw is the one taken.
        (PROXY, True, "198.51.100.66, 203.0.113.7", "203.0.113.7"),
        (STRANGER, True, "198.51.100.66", "203.0.113.50"),  # a peer outside forwarded_allow_ips: its own address
        (PROXY, False, "198.51.100.66", "127.0.0.1"),  # proxy headers off: the peer's address
        (("testclient", 50000), False, "198.51.100.66", None),  # the peer's address is no IP address
    ],
)
def test_the_visitor_ip_is_a_trusted_proxys_word_or_the_peers(
    make_settings: Any, peer: tuple[str, int], trust: bool, forwarded: str, ip: str | None
) -> None:
    with client_for(make_settings, client=peer, trust_proxy_headers=trust) as client:
        assert client.post("/lr/e", json=BEACON, headers={"X-Forwarded-For": forwarded}).status_code == 200
        event = client.app.state.service.store.get_event("ip-1")  # type: ignore[attr-defined]
    assert event.context.ip == ip


def test_a_chain_of_trusted_proxies_gives_the_address_the_first_one_saw(make_settings: Any) -> None:
    """A CDN (in 10.0.0.0/8) in front of the proxy: each appends the address it saw; trusted ones are skipped."""
    forwarded = {"X-Forwarded-For": "198.51.100.66, 203.0.113.7, 10.0.0.1"}
    with client_for(make_settings, client=PROXY, trust_proxy_headers=True, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"]) as client:
        assert client.post("/lr/e", json=BEACON, headers=forwarded).status_code == 200
        event = client.app.state.service.store.get_event("ip-1")  # type: ignore[attr-defined]
    assert event.context.ip == "203.0.113.7"
