"""`/lr/c` sets click-id cookies for the site itself only: another site cannot stuff a visitor's `dub_id`."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app

SITE = "http://www.example.com"


def client_for(make_settings: Any, **settings: Any) -> TestClient:
    return TestClient(create_app(make_settings(worker=False, **settings)), base_url=SITE)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},  # a link or redirect from another site: a top-level navigation
        {"Sec-Fetch-Site": "Cross-Site", "Sec-Fetch-Mode": "navigate", "Referer": SITE + "/"},  # the metadata decides
        {"Origin": "https://evil.test"},  # a browser without fetch metadata
        {"Origin": "null"},  # a sandboxed frame, a data: URL
        {"Referer": "https://evil.test/landing?dub_id=attacker"},
        {"Referer": "https://www.example.com.evil.test/"},
        {"Referer": "not a URL"},
    ],
)
def test_a_request_from_another_site_is_403_and_sets_no_cookie(make_settings: Any, headers: dict[str, str]) -> None:
    with client_for(make_settings, allowed_origins=["https://shop.example.net"]) as client:
        response = client.get("/lr/c?dub_id=attacker", headers=headers)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "cross_site"
    assert error["message"].startswith("click ids are set only from the site itself")
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin"},  # the snippet's own fetch
        {"Sec-Fetch-Site": "same-site", "Origin": "https://www.example.com"},  # leadrelay on t.example.com
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked
        {},  # curl, a server, a browser that sends neither
        {"Referer": SITE + "/landing?dub_id=clk_1"},  # same origin (a proxy in front may say https)
        {"Referer": "https://www.example.com/landing"},
        {"Origin": "https://shop.example.net"},  # an allowed origin
        {"Referer": "https://shop.example.net/"},
    ],
)
def test_the_site_itself_sets_its_click_cookies(make_settings: Any, headers: dict[str, str]) -> None:
    with client_for(make_settings, allowed_origins=["https://shop.example.net"]) as client:
        response = client.get("/lr/c?dub_id=clk_1", headers=headers)
    assert response.status_code == 204, response.text
    assert any(h.startswith("dub_id=clk_1;") for h in response.headers.get_list("set-cookie"))


def test_any_origin_allowed_still_refuses_what_fetch_metadata_calls_cross_site(make_settings: Any) -> None:
    with client_for(make_settings, allowed_origins=["*"]) as client:
        assert client.get("/lr/c?dub_id=c", headers={"Origin": "https://evil.test"}).status_code == 204
        assert client.get("/lr/c?dub_id=c", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
