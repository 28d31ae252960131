"""Cookie stuffing in a real browser: another site sends the visitor to `/lr/c?dub_id=...`; no cookie is set."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from playwright.sync_api import Browser, BrowserType

from tests.browser.snippet_site import Site, page_html


@pytest.fixture
def browser_with_hosts(browser_type: BrowserType, browser_type_launch_args: dict[str, Any]) -> Iterator[Browser]:
    """A browser for which www.shop.test (the site) and evil.test (another site) are both the test server."""
    args = [*browser_type_launch_args.get("args", []), "--host-resolver-rules=MAP *.test 127.0.0.1"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    yield browser
    browser.close()


def test_another_site_cannot_set_the_visitors_click_id(browser_with_hosts: Browser, site: Site) -> None:
    port = site.server.port
    shop = f"http://www.shop.test:{port}"
    site.add("attack", f'<a id="go" href="{shop}/lr/c?dub_id=stuffed">a deal</a>')
    site.add("landing", page_html())
    page = browser_with_hosts.new_page()

    page.goto(f"http://evil.test:{port}/t/attack")
    with page.expect_response(lambda r: "/lr/c?" in r.url) as info:
        page.click("#go")  # a top-level navigation from another site
    assert info.value.status == 403
    assert "dub_id" not in {c["name"] for c in page.context.cookies()}

    with page.expect_response(lambda r: "/lr/c?" in r.url) as info:
        page.goto(f"{shop}/t/landing?dub_id=genuine")  # the snippet on the site itself
    assert info.value.status == 204
    assert {c["name"]: c["value"] for c in page.context.cookies()}["dub_id"] == "genuine"
