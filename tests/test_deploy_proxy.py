"""leadrelay behind the README's reverse proxies (examples/deploy/), as `leadrelay serve` runs it.

A visitor's client connects from 127.0.0.3, so the address stored can be told from the proxy's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.proxy import CADDY_ADDRESS, NGINX_ADDRESS, Caddy, Child, Leadrelay, Nginx, visitor_client

VISITOR = "127.0.0.3"
SITE = "https://www.example.com"


def beacon(event_id: str) -> dict[str, Any]:
    return {"events": [{"id": event_id, "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L-1"}}]}


def set_cookies(response: Any) -> dict[str, str]:
    """Each Set-Cookie header by cookie name, whole (attributes included)."""
    return {SimpleCookie(value).popitem()[0]: value for value in response.headers.get_list("set-cookie")}


@pytest.fixture
def started() -> Iterator[list[Child]]:
    children: list[Child] = []
    yield children
    for child in reversed(children):
        child.stop()


@pytest.fixture
def deploy(tmp_path: Path, started: list[Child]) -> Callable[..., tuple[Leadrelay, Child]]:
    """deploy(proxy, edit=..., **settings): leadrelay with `settings` behind "nginx" or "caddy"."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>site</title>")

    def make(proxy: str, edit: dict[str, str] | None = None, **settings: Any) -> tuple[Leadrelay, Child]:
        settings.setdefault("trust_proxy_headers", True)
        settings.setdefault("forwarded_allow_ips", [NGINX_ADDRESS if proxy == "nginx" else CADDY_ADDRESS])
        leadrelay = Leadrelay(tmp_path, **settings)
        started.append(leadrelay)
        front = Nginx(tmp_path, root, leadrelay, edit) if proxy == "nginx" else Caddy(tmp_path, root, leadrelay)
        started.append(front)
        return leadrelay, front

    return make


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_the_sites_own_origin_is_first_party_and_the_visitor_ip_is_stored(deploy: Any, proxy: str) -> None:
    leadrelay, front = deploy(proxy)
    with visitor_client(front.url) as client:
        page = client.get("/")
        landing = client.get("/lr/c?dub_id=clk_1", headers={"Origin": front.url})
        # What a visitor says of its own address is not what is stored.
        forged = {"Origin": front.url, "X-Forwarded-For": "203.0.113.9"}
        response = client.post("/lr/e", json=beacon("e-1"), headers=forged)

    assert page.status_code == 200 and "<title>site</title>" in page.text  # the site's own page, from the proxy
    assert landing.status_code == 204
    cookies = set_cookies(landing)
    assert set(cookies) >= {"dub_id", "lr_vid"}
    for header in cookies.values():  # an IP address as the host, over http: host-only, not Secure
        assert "Domain=" not in header and "Secure" not in header
    assert response.status_code == 200, response.text
    [event] = leadrelay.wait_for_events(1)
    assert event.context.ip == VISITOR  # not the proxy's address
    assert event.click_ids.get("dub") == "clk_1"


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_the_host_header_reaches_leadrelay(deploy: Any, proxy: str) -> None:
    """The cookie domain comes from the Host the visitor asked for, through the proxy."""
    leadrelay, front = deploy(proxy)
    with visitor_client(front.url) as client:
        response = client.post(
            "/lr/e", json=beacon("e-1"), headers={"Host": "www.example.com", "Origin": "http://www.example.com"}
        )
    assert response.status_code == 200, response.text
    assert "Domain=.example.com" in set_cookies(response)["lr_vid"]


def test_nginx_without_the_host_line_makes_the_site_cross_origin(deploy: Any) -> None:
    """Why the example keeps Host: nginx's default sends its upstream's address instead."""
    leadrelay, front = deploy("nginx", edit={"proxy_set_header Host $http_host;": ""})
    with visitor_client(front.url) as client:
        response = client.post("/lr/e", json=beacon("e-1"), headers={"Origin": front.url})
    assert response.status_code == 403
    assert "origin" in response.text.lower()
    assert leadrelay.events() == []


def test_nginx_appending_to_x_forwarded_for_does_not_let_a_visitor_choose_its_address(deploy: Any) -> None:
    """The last address before the trusted proxies is taken: what the visitor wrote before it is not."""
    leadrelay, front = deploy("nginx", edit={"X-Forwarded-For $remote_addr;": "X-Forwarded-For $proxy_add_x_forwarded_for;"})
    with visitor_client(front.url) as client:
        response = client.post("/lr/e", json=beacon("e-1"), headers={"Origin": front.url, "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200, response.text
    assert leadrelay.wait_for_events(1)[0].context.ip == VISITOR


def test_a_visitor_past_the_proxy_is_not_believed_about_its_address_or_https(deploy: Any) -> None:
    """A request straight to leadrelay, from an address outside forwarded_allow_ips, with forged X-Forwarded-*."""
    leadrelay, _ = deploy("nginx")
    forged = {"Host": "www.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with visitor_client(leadrelay.url) as direct:
        landing = direct.get("/lr/c?dub_id=clk_1", headers=forged)
        as_https = direct.post("/lr/e", json=beacon("e-1"), headers={**forged, "Origin": SITE})
        as_http = direct.post("/lr/e", json=beacon("e-2"), headers={**forged, "Origin": "http://www.example.com"})
    assert landing.status_code == 204
    assert all("Secure" not in header for header in set_cookies(landing).values())
    assert as_https.status_code == 403  # not https: not leadrelay's own origin
    assert as_http.status_code == 200, as_http.text
    [event] = leadrelay.wait_for_events(1)
    assert (event.id, event.context.ip) == ("e-2", VISITOR)


HTTPS = {"proxy_set_header X-Forwarded-Proto $scheme;": "proxy_set_header X-Forwarded-Proto https;"}
"""nginx as a TLS-terminating proxy says it: the visitor came over https."""


def test_cookies_are_secure_when_the_proxy_says_https(deploy: Any) -> None:
    leadrelay, front = deploy("nginx", edit=HTTPS)
    with visitor_client(front.url) as client:
        landing = client.get("/lr/c?dub_id=clk_1", headers={"Host": "www.example.com"})
        response = client.post("/lr/e", json=beacon("e-1"), headers={"Host": "www.example.com", "Origin": SITE})

    assert response.status_code == 200, response.text  # https://www.example.com is leadrelay's own origin
    for header in set_cookies(landing).values():
        assert "; Secure" in header and "Domain=.example.com" in header
    [event] = leadrelay.wait_for_events(1)
    assert event.context.ip == VISITOR


def test_cookies_are_not_secure_without_trust_proxy_headers(deploy: Any) -> None:
    _, front = deploy("nginx", edit=HTTPS, trust_proxy_headers=False)
    with visitor_client(front.url) as client:
        landing = client.get("/lr/c?dub_id=clk_1", headers={"Host": "www.example.com"})
    assert landing.status_code == 204
    assert all("Secure" not in header for header in set_cookies(landing).values())


def test_a_proxy_outside_forwarded_allow_ips_is_not_believed_about_https(deploy: Any) -> None:
    """nginx connects from 127.0.0.2; with the default (127.0.0.1) leadrelay thinks its origin is http://."""
    leadrelay, front = deploy("nginx", edit=HTTPS, forwarded_allow_ips=["127.0.0.1"])
    with visitor_client(front.url) as client:
        landing = client.get("/lr/c?dub_id=clk_1", headers={"Host": "www.example.com"})
        response = client.post("/lr/e", json=beacon("e-1"), headers={"Host": "www.example.com", "Origin": SITE})
    assert all("Secure" not in header for header in set_cookies(landing).values())  # the same http:// as the origin check
    assert response.status_code == 403
    assert leadrelay.events() == []


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_cors_for_an_allowed_origin_passes_through_the_proxy(deploy: Any, proxy: str) -> None:
    other = "https://shop.example.net"
    leadrelay, front = deploy(proxy, allowed_origins=[other])
    with visitor_client(front.url) as client:
        preflight = client.options(
            "/lr/e", headers={"Origin": other, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        )
        allowed = client.post("/lr/e", json=beacon("e-1"), headers={"Origin": other})
        refused = client.post("/lr/e", json=beacon("e-2"), headers={"Origin": "https://evil.example.org"})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == other
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == other
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    assert [event.id for event in leadrelay.wait_for_events(1)] == ["e-1"]


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
@pytest.mark.parametrize("coding", ["br", "gzip", "identity"])
def test_the_snippets_caching_and_compression_survive_the_proxy(deploy: Any, proxy: str, coding: str) -> None:
    leadrelay, front = deploy(proxy)
    headers = {"Accept-Encoding": coding}
    with visitor_client(leadrelay.url, address="127.0.0.1") as direct, visitor_client(front.url) as client:
        expected = direct.get("/lr/s.js", headers=headers)
        proxied = client.get("/lr/s.js", headers=headers)
        again = client.get("/lr/s.js", headers={**headers, "If-None-Match": proxied.headers.get("etag", "")})

    assert expected.status_code == proxied.status_code == 200
    for name in ("etag", "cache-control", "vary", "content-type"):
        assert proxied.headers.get(name) == expected.headers[name], name
    assert proxied.headers.get("content-encoding") == expected.headers.get("content-encoding")
    assert proxied.headers.get("content-encoding") == (None if coding == "identity" else coding)
    assert proxied.content == expected.content  # decoded by httpx: the same script
    assert again.status_code == 304
    assert again.headers["etag"] == expected.headers["etag"]


def test_leadrelay_check_names_the_trusted_proxies(tmp_path: Path) -> None:
    config = tmp_path / "leadrelay.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "x.db"}"\ntrust_proxy_headers = true\nforwarded_allow_ips = ["10.0.0.5", "10.1.0.0/16"]\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "leadrelay", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={name: value for name, value in os.environ.items() if not name.startswith("LEADRELAY_")},
    )
    assert result.returncode == 0, result.stderr
    assert "proxy headers:    trusted from 10.0.0.5, 10.1.0.0/16" in result.stdout
