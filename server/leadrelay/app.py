"""The Starlette application: routes, middleware and the lifespan that owns the store and workers."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from leadrelay import probes
from leadrelay.caller import Caller, route_path
from leadrelay.collect import Collector
from leadrelay.config import ANY_WEB_ORIGIN, Settings, load_settings
from leadrelay.console import Console
from leadrelay.demo import demo_page, demo_script
from leadrelay.errors import BadRequest, Forbidden, Refused, StoreUnavailable, http_exception, refused, server_error
from leadrelay.event_status import EventStatus
from leadrelay.identity import CLICK_ID_PATTERN, Identity
from leadrelay.intake import GroupCommitter
from leadrelay.maintenance import Maintenance
from leadrelay.metrics import Metrics, MetricsListener, check_token
from leadrelay.routing import Router
from leadrelay.sandbox.api import SandboxApi
from leadrelay.sandbox.fakes import SandboxVendors
from leadrelay.sandbox.mode import NOTICE as SANDBOX_NOTICE
from leadrelay.sandbox.mode import sandbox_on, sandboxed
from leadrelay.snippet import Snippet
from leadrelay.store import Click, SqlStore, store_of
from leadrelay.trust.cross_site import cross_site
from leadrelay.trust.hosts import HostCheck
from leadrelay.trust.rate_limits import RateLimitMiddleware, RateLimits
from leadrelay.trust.standing import Trust
from leadrelay.vendor_api import VendorApis
from leadrelay.vendors import CLICK_IDS, DIALECTS
from leadrelay.worker import Worker

log = logging.getLogger("leadrelay")

NO_STORE = {"Cache-Control": "no-store"}


class Service:
    """The parts of a running leadrelay, shared by its routes."""

    def __init__(self, settings: Settings, store: SqlStore | None = None, sandbox: SandboxVendors | None = None) -> None:
        self.settings = settings
        self.sandbox = sandbox  # the fake vendors deliveries go to, in sandbox mode (settings point there)
        self.store = store or store_of(settings)
        self.intake = GroupCommitter(self.store)
        self.identity = Identity(settings)
        self.router = Router(settings)
        self.snippet = Snippet(settings.path_prefix)
        self.metrics = Metrics(self.store, dialects=tuple(DIALECTS))
        self.rate_limits = RateLimits(settings, self.metrics)
        self.trust = Trust(settings, self.store)
        self.collector = Collector(
            settings, self.intake, self.router, self.identity, self.rate_limits, self.trust, self.metrics
        )
        self.maintenance = Maintenance(settings, self.store)
        self.vendor_apis = VendorApis(self)
        self.metrics_listener = MetricsListener(self.metrics, settings.metrics_bind) if settings.metrics_bind else None
        self.console = Console(settings, self.store, self.identity, self.rate_limits)
        self.worker: Worker | None = None  # started by the lifespan when settings.worker is true

    async def click(self, request: Request) -> Response:
        """Landing with ?dub_id= / ?pimms_id=: set the click-id cookies from the server, for the site itself only,
        and remember the clicks for the visitor, so that its events may carry them (leadrelay.trust)."""
        caller = Caller(request.scope)
        evidence = cross_site(caller, self.settings.allowed_origins)
        if evidence is not None:
            message = f"click ids are set only from the site itself; this request came from another site ({evidence})"
            raise Forbidden(message, code="cross_site")
        given = {}
        for vendor, name in CLICK_IDS.items():
            value = request.query_params.get(name)
            if value is None:
                continue
            if not CLICK_ID_PATTERN.fullmatch(value):
                raise BadRequest(f"{name}: must be 1-190 letters, digits, '_' or '-'")
            given[vendor] = value
        visitor = self.identity.visitor(caller)
        if given:
            now = time.time()
            try:
                await self.intake.write([Click(visitor.id, vendor, value, now) for vendor, value in given.items()])
            except StoreUnavailable as exc:
                raise StoreUnavailable("the click could not be stored; retry later", retry_after=5) from exc
            self.trust.landed(visitor.id, given)
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        response.raw_headers.extend(self.identity.click_cookies(caller, given))
        cookie = self.identity.visitor_cookie(caller, visitor)
        if cookie is not None:
            response.raw_headers.append(cookie)
        return response

    async def health(self, request: Request) -> Response:
        try:
            answer = await run_in_threadpool(probes.health, self.settings, self.store)
        except Exception as exc:
            if not self.store.is_failure(exc):
                raise
            raise StoreUnavailable("the store cannot be read") from exc
        answer["sandbox"] = self.sandbox is not None
        if self.sandbox is not None:
            answer["notice"] = SANDBOX_NOTICE
        return JSONResponse(answer, headers=NO_STORE)

    async def ready(self, request: Request) -> Response:
        """200 when a load balancer should send this instance traffic, else 503; the JSON names the failed checks."""
        ready, answer = await run_in_threadpool(probes.readiness, self.settings, self.store)
        return JSONResponse(answer, status_code=200 if ready else 503, headers=NO_STORE)

    async def metrics_page(self, request: Request) -> Response:
        """The Prometheus text format, for a scraper holding `metrics_token` (counted by the per-IP rate limit)."""
        caller = Caller(request.scope)
        await self.rate_limits.check(self.identity.client_ip(caller), None)
        token = self.settings.metrics_token
        check_token(caller, token.get_secret_value() if token else None, self.settings.metrics_bind)
        body = await run_in_threadpool(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)

    async def demo(self, request: Request) -> Response:
        return demo_page(self.snippet.hashed_url, self.settings, sandbox=self.sandbox is not None)

    async def demo_js(self, request: Request) -> Response:
        return demo_script()


def create_app(settings: Settings | None = None, store: SqlStore | None = None, site: Path | None = None) -> Starlette:
    """The service; in sandbox mode, `site` is a folder of static files served at `/` (a site under test)
    in place of the demo page, so that the site and leadrelay share an origin as in production.

    A `store` passed in stays its caller's: the app sets it up and uses it, but does not close it
    (another app may still be using it: closing a SQLite connection under a running query crashes)."""
    settings = settings or load_settings()
    owns_store = store is None
    sandbox = SandboxVendors() if sandbox_on(settings) else None
    if sandbox is not None:
        settings = sandboxed(settings, sandbox)
    service = Service(settings, store, sandbox)
    prefix = settings.path_prefix

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.uses_dev_secret:
            log.warning(
                "USING THE DEVELOPMENT SECRET KEY: visitor cookies can be forged. Set LEADRELAY_SECRET_KEY in production."
            )
        if sandbox is not None:
            log.warning("%s (what they received: %s/_sandbox/)", SANDBOX_NOTICE, prefix)
        service.store.setup()
        service.intake.start()
        service.maintenance.start()
        if service.metrics_listener is not None:
            service.metrics_listener.start()
        if settings.worker:
            service.worker = Worker(
                settings, service.store, transport=sandbox.transport if sandbox else None, metrics=service.metrics
            )
            await service.worker.start()
            service.collector.on_deliveries = service.worker.wake
            service.console.worker = service.worker
        # What exists now (the libraries, the dialects' schemas, the service) lives as long as
        # the service does. Frozen, the cyclic garbage collector stops walking it: its full
        # collections, which a steady stream of beacons sets off every few seconds, walked all
        # of it, and cost a tenth of the collector's CPU (bench/collect.py: 84 -> 75 µs a beacon).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # an app that stops (tests start many in one process) leaves it collectable
            await service.console.feed.stop()
            await service.maintenance.stop()
            if service.worker is not None:
                await service.worker.stop()
            await service.intake.aclose()
            if service.metrics_listener is not None:
                service.metrics_listener.stop()
            if owns_store:
                service.store.close()

    routes = [
        Route(f"{prefix}/e", service.collector, methods=["POST"]),
        Route(f"{prefix}/c", service.click, methods=["GET"]),
        Route(f"{prefix}/s.js", service.snippet.stable, methods=["GET", "HEAD"]),
        Route(f"{prefix}/s.{{digest:str}}.js", service.snippet.hashed, methods=["GET", "HEAD"]),
        Route("/healthz", service.health, methods=["GET"]),
        Route("/readyz", service.ready, methods=["GET"]),
        Route("/metrics", service.metrics_page, methods=["GET"]),
        *service.vendor_apis.routes(),
        *service.console.routes(),
    ]
    if sandbox is not None:
        routes.extend(SandboxApi(settings, sandbox, service.store).routes())
    if site is not None:
        if sandbox is None:
            raise ValueError("a site is served only in sandbox mode (it is a test server)")
        routes.append(Mount("/", app=StaticFiles(directory=site, html=True)))
    elif settings.demo:
        routes.append(Route("/", service.demo, methods=["GET"]))
        routes.append(Route("/demo.js", service.demo_js, methods=["GET"]))
        status = EventStatus(settings, service.store, service.router, service.identity, sandbox=sandbox is not None)
        routes.append(Route(status.path, status.show, methods=["GET"]))
    middleware = request_middleware(settings, service)
    # Beacons bypass Starlette's router, not its middleware: the same stack wraps them.
    beacons: ASGIApp = service.collector
    for cls, args, kwargs in reversed(middleware):
        beacons = cls(beacons, *args, **kwargs)
    app = LeadRelay(
        beacon_path=f"{prefix}/e",
        beacons=beacons,
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception, Refused: refused, Exception: server_error},
    )
    app.state.service = service
    return app


def request_middleware(settings: Settings, service: Service) -> list[Middleware]:
    """Every request-level check, in order: the one list that wraps both the routes and the collect endpoint."""
    # The Host header first (after a trusted proxy's word on the client and scheme): a name the service
    # does not answer for, or one that is not a name, goes no further.
    # A refusal on a vendor API's path is answered in that vendor's shape (leadrelay.vendor_api).
    answer = service.vendor_apis.answer
    middleware: list[Middleware] = []
    if settings.trust_proxy_headers:
        # The one reading of X-Forwarded-Proto and -For (leadrelay.identity's doc): the scope's scheme and
        # client become what a proxy in forwarded_allow_ips says, whatever server runs the app.
        middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips))
    middleware.append(Middleware(HostCheck, allowed_hosts=settings.allowed_hosts, answer=answer))
    if settings.allowed_origins:  # CORS only matters for other origins: with none allowed, no request pays for it
        # `*` is any http(s) origin, never `null` (Starlette's own "*" would answer that one too).
        wildcard = "*" in settings.allowed_origins
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=[o for o in settings.allowed_origins if o != "*"],
                allow_origin_regex=ANY_WEB_ORIGIN.pattern if wildcard else None,
                allow_methods=["POST"],
                allow_headers=["Content-Type"],
                allow_credentials=True,
                max_age=86400,
            )
        )
    # After CORS, so that a refusal carries the CORS headers a page needs to read it.
    middleware.append(
        Middleware(
            RateLimitMiddleware,
            limits=service.rate_limits,
            identity=service.identity,
            prefix=settings.path_prefix,
            answer=answer,
        )
    )
    return middleware


class LeadRelay(Starlette):
    """The Starlette app, with one shortcut: a POST to the collect endpoint goes straight to it.

    Beacons are the one request a site sends at volume. Starlette's router, its error
    middleware and its Request/Response objects cost 15 µs of a beacon's ~85 µs of server
    CPU (18%, bench/collect.py); so `beacons` (the Collector, wrapped in the very same
    `request_middleware` as every other route) gets those POSTs first. Every other request,
    OPTIONS preflights and wrong methods on the collect path included, goes through Starlette.
    """

    def __init__(self, *, beacon_path: str, beacons: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beacon_path = beacon_path
        self.beacons = beacons

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and route_path(scope) == self.beacon_path:
            scope["app"] = self
            await self.beacons(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


