"""Shared fixtures: settings on a temporary SQLite file, the app, live servers, Chromium for Playwright."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from leadrelay.app import create_app
from leadrelay.config import Settings, load_settings
from leadrelay.sandbox.chromium import launch_args
from leadrelay.sandbox.live import LiveServer
from tests.support.keys import SERVER_KEY

# Fixtures that live next to the helpers they go with, shared with every test module from here:
# the fake vendors and a delivery store; the store's fake clock; the snippet's test site; the relay's;
# pytester runs the pytest plugin (leadrelay.sandbox.plugin) on sample test files (tests/test_plugin.py).
pytest_plugins = [
    "tests.fakes.helpers", "tests.support.clock", "tests.support.stores", "tests.browser.snippet_site", "tests.support.relay",
    "pytester",
]  # fmt: skip


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'leadrelay.db'}"


@pytest.fixture
def make_settings(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Build Settings on the test's own database, ignoring the developer's LEADRELAY_* environment."""
    for name in list(os.environ):
        if name.startswith("LEADRELAY_") and name != "LEADRELAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)

    def make(**overrides: Any) -> Settings:
        overrides.setdefault("database_url", db_url)
        # Tests send far more than a person would through one client; tests/test_rate_limits.py sets its own.
        overrides.setdefault("rate_limit_per_ip", "1000000/minute")
        overrides.setdefault("rate_limit_per_visitor", "1000000/minute")
        overrides.setdefault("server_keys", [SERVER_KEY])  # sent only by tests that call as a server (SERVER)
        overrides.setdefault("sandbox", False)  # on, it would replace the destinations a test configures (tests/test_sandbox.py)
        return load_settings(**overrides)

    return make


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    return make_settings()


@pytest.fixture
def serve(make_settings: Any, request: pytest.FixtureRequest) -> Callable[..., LiveServer]:
    """`serve(**settings)`: the app on a live server with these settings, stopped after the test."""

    def start(**overrides: Any) -> LiveServer:
        settings = make_settings(**overrides)
        server = LiveServer(create_app(settings), settings=settings).start()
        request.addfinalizer(server.stop)
        return server

    return start


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings), settings=settings) as server:
        yield server


# -- Playwright: Debian's Chromium unless LEADRELAY_CHROMIUM says otherwise -------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """The plugin's choice (leadrelay.sandbox.chromium), made here too so the suite runs with `-p no:leadrelay`."""
    return launch_args(browser_type_launch_args)


def uses_chromium(item: pytest.Item) -> bool:
    """Whether a test drives Chromium: it asks for a Playwright fixture (`page`, `context`, ...),
    all of which stand on pytest-playwright's session-wide `playwright`."""
    return "playwright" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every Chromium test `browser`, so that `-m "not browser"` leaves them all out; and run
    them last: Playwright's sync API leaves an event loop running in the main thread, which
    `asyncio.run` in later tests would trip over."""
    for item in items:
        if uses_chromium(item):
            item.add_marker(pytest.mark.browser)
    items.sort(key=uses_chromium)
