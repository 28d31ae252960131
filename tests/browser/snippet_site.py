"""A test site for the snippet: leadrelay's real app on a live server, plus pages the tests write.

The pages are served by the same server (same origin, like a site that runs
leadrelay under /lr), so the snippet, its cookies and its beacons all take the
real paths. Its fixtures (`site`, `make_site`) reach every test through tests/conftest.py.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Self

import pytest
from playwright.sync_api import Page, Request
from starlette.requests import Request as HttpRequest
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.demo import STUB
from leadrelay.event import LeadEvent
from leadrelay.sandbox.live import LiveServer
from tests.support.waiting import wait_for_count

WAIT_S = 15.0  # how long a test waits for something that must happen (a ceiling, never asserted)


def page_html(body: str = "", *, stub: bool = True, attrs: str = "", head: str = "", src: str = "/lr/s.js") -> str:
    """A page with the README's paste-in: the optional stub, then the async script tag with `attrs`."""
    tag = f'<script async src="{src}"{attrs}></script>' if src else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"{STUB if stub else ''}{head}{tag}</head><body>{body}</body></html>"
    )


class Site:
    """The live server, the pages it serves under /t/, and what its store holds."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.pages: dict[str, tuple[str, dict[str, str]]] = {}
        self.server = LiveServer(self._app(), port=port, settings=settings)
        self.url = self.server.url

    def _app(self) -> Any:
        app = create_app(self.settings)
        app.router.routes.insert(0, Route("/t/{name:path}", self._serve, methods=["GET"]))
        return app

    async def _serve(self, request: HttpRequest) -> Response:
        found = self.pages.get(request.path_params["name"])
        if found is None:
            return Response("no such test page", status_code=404)
        html, headers = found
        return HTMLResponse(html, headers={"Cache-Control": "no-store", **headers})

    def add(self, name: str, html: str, headers: dict[str, str] | None = None) -> str:
        """Serve `html` at /t/<name>; returns its absolute URL."""
        self.pages[name] = (html, headers or {})
        return f"{self.url}/t/{name}"

    # -- the server's side -----------------------------------------------------

    @property
    def service(self) -> Any:
        return self.server.app.state.service

    @property
    def store(self) -> Any:
        return self.service.store

    def events(self) -> list[LeadEvent]:
        """Stored events, oldest first."""
        return list(reversed(self.store.list_events(limit=1000)))

    def wait_for_events(self, count: int) -> list[LeadEvent]:
        """Wait until the store holds at least `count` events; fail if it never does."""
        return wait_for_count(self.events, count, "stored events", WAIT_S)

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        """A new server process on the same port and database, as after a crash or a deploy."""
        self.server = LiveServer(self._app(), port=self.server.port, settings=self.settings).start()


@pytest.fixture
def make_site(make_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> Callable[..., Site]:
    """`make_site(**settings)`: a started Site (its worker off unless asked for), stopped after the test."""

    def make(**overrides: Any) -> Site:
        site = Site(make_settings(**{"worker": False, **overrides})).start()
        request.addfinalizer(site.stop)
        return site

    return make


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


class Beacons:
    """The collect requests a page makes, with the events each carried (failed ones too)."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        if request.url.split("?", 1)[0].endswith("/lr/e"):
            self.requests.append(request)

    def batches(self) -> list[list[dict[str, Any]]]:
        return [json.loads(r.post_data or "{}")["events"] for r in self.requests]

    def ids(self) -> list[str]:
        return [event["id"] for batch in self.batches() for event in batch]


def loaded(page: Page) -> None:
    """Wait until the snippet has run on the page."""
    page.wait_for_function("window.leadrelay && window.leadrelay.loaded === true")


def tick(page: Page) -> None:
    """Let the page run its pending zero-delay timers (where the snippet sends what it has)."""
    page.evaluate("new Promise(function (done) { setTimeout(function () { setTimeout(done, 0); }, 0); })")


def stored_queue(page: Page) -> list[dict[str, Any]]:
    """The snippet's localStorage queue of unsent events."""
    return json.loads(page.evaluate("localStorage.getItem('lr_q') || '[]'"))
