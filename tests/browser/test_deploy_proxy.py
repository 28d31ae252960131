"""Chromium on a site whose own proxy (examples/deploy/) serves its pages and routes /lr/ to `leadrelay serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import BrowserType

from tests.browser.snippet_site import page_html
from tests.support.proxy import CADDY_ADDRESS, NGINX_ADDRESS, Caddy, Child, Leadrelay, Nginx


@pytest.fixture(params=["nginx", "caddy"])
def deployed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Leadrelay, Child]]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(page_html())
    proxy_address = NGINX_ADDRESS if request.param == "nginx" else CADDY_ADDRESS
    leadrelay = Leadrelay(tmp_path, trust_proxy_headers=True, forwarded_allow_ips=[proxy_address])
    try:
        front = Nginx(tmp_path, root, leadrelay) if request.param == "nginx" else Caddy(tmp_path, root, leadrelay)
        try:
            yield leadrelay, front
        finally:
            front.stop()
    finally:
        leadrelay.stop()


def test_a_page_through_the_proxy_gets_first_party_cookies_and_its_lead_is_stored(
    browser_type: BrowserType, browser_type_launch_args: dict[str, Any], deployed: tuple[Leadrelay, Child]
) -> None:
    leadrelay, front = deployed
    args = [*browser_type_launch_args.get("args", []), "--host-resolver-rules=MAP *.shop.test 127.0.0.1"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        page = browser.new_page()
        with page.expect_response(lambda r: r.url.split("?", 1)[0].endswith("/lr/s.js")) as script:
            with page.expect_response(lambda r: "/lr/c?" in r.url) as landing:
                page.goto(f"http://www.shop.test:{front.port}/?dub_id=clk_www")
        page.evaluate("(lead) => croct.track('leadGenerated', lead)", {"leadId": "L-1"})
        [event] = leadrelay.wait_for_events(1)
        jar = {c["name"]: c for c in page.context.cookies()}
    finally:
        browser.close()

    assert script.value.status == 200
    assert script.value.headers.get("content-encoding") in ("gzip", "br")  # compressed by leadrelay, kept by the proxy
    assert script.value.headers.get("etag")
    assert landing.value.status == 204
    # Set by the site's own domain (the Host kept through the proxy): first-party, on the registrable domain.
    assert jar["dub_id"]["domain"] == ".shop.test" and jar["dub_id"]["value"] == "clk_www"
    assert jar["lr_vid"]["domain"] == ".shop.test" and jar["lr_vid"]["httpOnly"]
    assert event.click_ids.get("dub") == "clk_www"
    assert event.context.ip == "127.0.0.1"  # Chromium's address; nginx connects from 127.0.0.2
