"""The pytest plugin (pyproject.toml's `pytest11` entry point `leadrelay`): a sandboxed leadrelay for a site's tests.

    def test_sign_up_reaches_dub(leadrelay, page):
        page.goto(f"{leadrelay.url}/?dub_id=clk_1")          # with leadrelay_site, your page is served there
        page.fill("#email", "carol@example.com"); page.click("button")
        lead = leadrelay.wait_for("dub", clickId="clk_1")    # the request Dub accepted
        assert lead["body"]["customerEmail"] == "carol@example.com"

Fixtures only, none of them autouse: a test suite that asks for none of them runs as it did
(nothing is started, and leadrelay itself is imported only when a fixture is used).

- `leadrelay`: the sandbox, reset before each test (leadrelay.sandbox.client.SandboxClient: `url`,
  `script_tag`, `received(vendor)`, `wait_for(vendor, **match)`, `events()`, `rejections()`,
  `fault(vendor, ...)`, `reset()`).
- `leadrelay_server`: the same, for the session: one sandboxed leadrelay on a free loopback port,
  with its own temporary SQLite database, delivering to the built-in fakes with fast retries.
- `leadrelay_site` (override it): a folder served at `/` on leadrelay's own origin, as a site
  that runs leadrelay under `/lr` does in production (default: none).
- `leadrelay_settings` (override it): settings for the sandboxed service (`{"dub_events": {...}}`).

With pytest-playwright installed, its browser is launched as the project's own tests launch it
(leadrelay.sandbox.chromium): LEADRELAY_CHROMIUM, else Debian's chromium, else Playwright's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from leadrelay.sandbox.client import SandboxClient

TEST_SERVER = {
    "demo": False,
    "retry_base_s": 0.1,  # a retry path under test takes a second, not Dub's minutes
    "retry_max_delay_s": 2.0,
    "delivery_poll_s": 0.05,
    "delivery_timeout_s": 3.0,  # how long a `timeout()` fault holds a delivery
    "delivery_lease_s": 10.0,
    "rate_limit_per_ip": "100000/minute",  # a suite's browser and fixture share one address
    "rate_limit_per_visitor": "100000/minute",
}
"""What the sandboxed leadrelay runs with, before `leadrelay_settings`."""


@pytest.fixture(scope="session")
def leadrelay_site() -> Path | None:
    """Override to serve your site's static files at `/` on the sandbox's origin."""
    return None


@pytest.fixture(scope="session")
def leadrelay_settings() -> dict[str, Any]:
    """Override to configure the sandboxed leadrelay (any setting; sandbox mode stays on)."""
    return {}


@pytest.fixture(scope="session")
def leadrelay_server(
    tmp_path_factory: pytest.TempPathFactory, leadrelay_settings: dict[str, Any], leadrelay_site: Path | None
) -> Iterator[SandboxClient]:
    from leadrelay.app import create_app
    from leadrelay.config import load_settings
    from leadrelay.sandbox.client import SandboxClient
    from leadrelay.sandbox.live import LiveServer

    database = tmp_path_factory.mktemp("leadrelay") / "leadrelay.db"
    settings = load_settings(
        **{"database_url": f"sqlite:///{database}", **TEST_SERVER, **leadrelay_settings, "sandbox": True}
    )
    with LiveServer(create_app(settings, site=leadrelay_site), settings=settings) as server:
        client = SandboxClient(server.url, settings.path_prefix)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture
def leadrelay(leadrelay_server: SandboxClient) -> SandboxClient:
    """The session's sandbox, reset: no vendor has received anything, no fault is scripted."""
    leadrelay_server.reset()
    return leadrelay_server


def pytest_configure(config: pytest.Config) -> None:
    # Registered after every entry-point plugin has loaded, so it overrides pytest-playwright's
    # fixture whatever order the plugins loaded in (a conftest.py's own override still wins).
    if config.pluginmanager.has_plugin("playwright"):
        config.pluginmanager.import_plugin("leadrelay.sandbox.browser")
