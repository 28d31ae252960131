"""The sandbox's test API, under `{path_prefix}/_sandbox/`: only in sandbox mode (404 otherwise).

A site's end-to-end tests (and the demo page) ask it what each fake vendor received and what it
found wrong, which events were stored and rejected, script the vendors' faults, reset it all,
and wait for a delivery. README.md ("Sandbox mode") documents every JSON shape.

It is public ground like the rest of the service: every request is counted by the rate limits
(it lives under the prefix), a request from another site is refused (403), a body is at most
MAX_BODY_BYTES of JSON (`Content-Type: application/json`, which no cross-site form can send),
every number it takes is bounded, a long-poll lasts at most MAX_WAIT_S and at most MAX_WAITERS run
at once, and answers are JSON (strings escaped) encoded off the event loop. What it shows holds no
real credential: in sandbox mode none is read (leadrelay.sandbox.mode).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadrelay.caller import Caller
from leadrelay.collect import read_body
from leadrelay.config import Settings
from leadrelay.encoding import dump_json
from leadrelay.errors import BadRequest, ClientGone, Forbidden, NotFound, TooManyRequests, UnsupportedMediaType
from leadrelay.event import dump_event
from leadrelay.sandbox.fakes import SandboxVendors
from leadrelay.sandbox.mode import NOTICE
from leadrelay.sandbox.vendors import Fault, FakeVendor, Received
from leadrelay.store import SqlStore
from leadrelay.trust.cross_site import cross_site

MAX_BODY_BYTES = 16 * 1024
MAX_WAIT_S = 30.0
DEFAULT_WAIT_S = 10.0
MAX_WAITERS = 16
MAX_LIMIT = 1000
MAX_FAULTS = 100  # scripted at once, per vendor
MAX_SLOW_S = 60.0
MAX_NEAR = 10  # refused requests that matched, shown when a wait ends without a delivery


# -- what the API takes -----------------------------------------------------------------

Strict = ConfigDict(extra="forbid")
StrictRetryAfterSeconds = Annotated[float, Field(strict=True, ge=0, le=3600)]


class ErrorFault(BaseModel):
    model_config = Strict
    kind: Literal["error"]
    status: int = Field(ge=400, le=599)
    retry_after: StrictRetryAfterSeconds | Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~][ -~]*$")] | None = None
    """Seconds (written rounded up), or the header's exact text (an HTTP date, Dub's epoch milliseconds)."""


class SlowFault(BaseModel):
    model_config = Strict
    kind: Literal["slow"]
    seconds: float = Field(ge=0, le=MAX_SLOW_S)


class TimeoutFault(BaseModel):
    model_config = Strict
    kind: Literal["timeout"]


class DropFault(BaseModel):
    model_config = Strict
    kind: Literal["drop"]


FaultSpec = Annotated[ErrorFault | SlowFault | TimeoutFault | DropFault, Field(discriminator="kind")]


class FaultsRequest(BaseModel):
    model_config = Strict
    vendor: str
    script: list[FaultSpec] = Field(default_factory=list, max_length=MAX_FAULTS)
    outage: FaultSpec | None = None
    clear: bool = False


class WaitRequest(BaseModel):
    model_config = Strict
    vendor: str
    match: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(default=DEFAULT_WAIT_S, ge=0, le=MAX_WAIT_S)
    accepted: bool = True


class ResetRequest(BaseModel):
    model_config = Strict
    settle_s: float = Field(default=0, ge=0, le=MAX_WAIT_S)


def _parsed(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False)[:5]:
            where = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{where}: {error['msg']}")
        raise BadRequest("; ".join(problems)) from None


# -- what the API shows -------------------------------------------------------------------


def problem_of(request: Received) -> str | None:
    """What the fake found wrong, in the vendor's own words (None for a 2xx, a scripted fault or a drop)."""
    if request.fault is not None or request.status is None or request.status < 400:
        return None
    answer = request.answer
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(answer.get("message"), str):
            return str(answer["message"])
    return f"HTTP {request.status}"


def fault_view(fault: Fault | None) -> dict[str, Any] | None:
    if fault is None:
        return None
    if fault.kind == "error":
        return {"kind": "error", "status": fault.status, "retry_after": fault.retry_after}
    if fault.kind == "slow":
        return {"kind": "slow", "seconds": fault.seconds}
    return {"kind": fault.kind}


def request_view(fake: FakeVendor, request: Received) -> dict[str, Any]:
    return {
        "received_at": request.received_at,
        "method": "POST",
        "path": fake.path,
        "query": request.query,
        "headers": request.headers,
        "body": request.body,
        "status": request.status,
        "accepted": request.status is not None and 200 <= request.status < 300,
        "answer": request.answer,
        "problem": problem_of(request),
        "fault": fault_view(request.fault),
    }


def matches(value: Any, wanted: Any) -> bool:
    """`wanted` is found in `value`: each key of an object at its place (recursively), anything else equal."""
    if isinstance(wanted, dict):
        return isinstance(value, dict) and all(k in value and matches(value[k], w) for k, w in wanted.items())
    if isinstance(wanted, bool) or isinstance(value, bool):
        return type(value) is type(wanted) and value == wanted
    return bool(value == wanted)


def encoded(value: Any) -> bytes:
    """JSON, as the service writes it; text that is not Unicode (a lone surrogate) is written as its escape."""
    try:
        return dump_json(value)
    except ValueError:
        return json.dumps(value, ensure_ascii=True, default=str).encode()


JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
"""Stored strings hold whatever a stranger sent (`<script>` too): a browser must never read an answer as anything but JSON."""


def json_response(body: bytes) -> Response:
    return Response(body, media_type="application/json", headers=JSON_HEADERS)


async def answer(value: Any) -> Response:
    return json_response(await run_in_threadpool(encoded, value))


# -- the routes ----------------------------------------------------------------------------


class SandboxApi:
    """The `_sandbox` endpoints over one running sandbox: its fakes and the service's store."""

    def __init__(self, settings: Settings, vendors: SandboxVendors, store: SqlStore) -> None:
        self.settings = settings
        self.vendors = vendors
        self.store = store
        self.since = 0.0  # events and rejections older than the last reset are not shown
        self.waiters = 0

    def routes(self) -> list[Route]:
        base = f"{self.settings.path_prefix}/_sandbox"
        return [
            Route(f"{base}/", self.guarded(self.summary), methods=["GET"]),
            Route(f"{base}/received/{{vendor}}", self.guarded(self.received), methods=["GET"]),
            Route(f"{base}/events", self.guarded(self.events), methods=["GET"]),
            Route(f"{base}/rejections", self.guarded(self.rejections), methods=["GET"]),
            Route(f"{base}/faults", self.guarded(self.faults), methods=["GET", "POST"]),
            Route(f"{base}/reset", self.guarded(self.reset), methods=["POST"]),
            Route(f"{base}/wait", self.guarded(self.wait), methods=["POST"]),
        ]

    def guarded(self, endpoint: Any) -> Any:
        """The endpoint, for the site itself only, with its JSON body (if any) read within MAX_BODY_BYTES."""

        async def guarded_endpoint(request: Request) -> Response:
            caller = Caller(request.scope)
            evidence = cross_site(caller, self.settings.allowed_origins)
            if evidence is not None:
                message = f"the sandbox API answers the site itself only; this request came from another site ({evidence})"
                raise Forbidden(message, code="cross_site")
            body = b""
            if request.method == "POST":
                kind = (caller.header(b"content-type") or "").split(";")[0].strip().lower()
                if kind != "application/json":
                    raise UnsupportedMediaType("the sandbox API takes Content-Type: application/json")
                try:
                    body = await read_body(caller, request.receive, MAX_BODY_BYTES)
                except ClientGone:
                    return Response(status_code=400)  # nobody is left to read it
            return await endpoint(request, body)  # type: ignore[no-any-return]

        return guarded_endpoint

    def fake(self, name: str) -> FakeVendor:
        fake = self.vendors.fakes.get(name)
        if fake is None:
            known = ", ".join(self.vendors.fakes)
            raise NotFound(f"no sandbox vendor {name[:40]!r}: the vendors are {known}")
        return fake

    def limit(self, request: Request, default: int) -> int:
        text = request.query_params.get("limit")
        if text is None:
            return default
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            raise BadRequest(f"limit: must be a whole number from 1 to {MAX_LIMIT}")
        return int(text)

    async def summary(self, request: Request, body: bytes) -> Response:
        vendors = {}
        for name, fake in self.vendors.fakes.items():
            kept = list(fake.requests)
            vendors[name] = {
                "received": len(kept),
                "accepted": sum(1 for r in kept if r.status is not None and 200 <= r.status < 300),
                "refused": sum(1 for r in kept if r.status is not None and r.status >= 300),
                "dropped": sum(1 for r in kept if r.status is None),
                "faults_scripted": len(fake.faults),
                "outage": fault_view(fake.outage),
            }
        return await answer({"sandbox": True, "notice": NOTICE, "waiting": self.waiters, "vendors": vendors})

    async def received(self, request: Request, body: bytes) -> Response:
        fake = self.fake(request.path_params["vendor"])
        limit = self.limit(request, 100)
        kept = list(fake.requests)[-limit:]
        return await answer({"vendor": request.path_params["vendor"], "requests": [request_view(fake, r) for r in kept]})

    async def events(self, request: Request, body: bytes) -> Response:
        limit = self.limit(request, 50)
        raw = request.query_params.get("raw") in ("1", "true")
        return json_response(await run_in_threadpool(self._events, limit, raw, self.since))

    def _events(self, limit: int, raw: bool, since: float) -> bytes:
        """The newest events as JSON, read and written off the event loop (1,000 events of 64 KB is not small)."""
        shown = [dump_event(event, raw=raw).encode() for event in self.store.list_events(limit) if event.received_at >= since]
        return b'{"events":[' + b",".join(shown) + b"]}"

    async def rejections(self, request: Request, body: bytes) -> Response:
        limit = self.limit(request, 50)
        rows = await run_in_threadpool(self.store.list_rejections, limit)
        return await answer({"rejections": [row for row in rows if row["received_at"] >= self.since]})

    async def faults(self, request: Request, body: bytes) -> Response:
        if request.method == "POST":
            wanted: FaultsRequest = _parsed(FaultsRequest, body)
            fake = self.fake(wanted.vendor)
            if wanted.clear:
                fake.faults.clear()
                fake.outage = None
            if len(fake.faults) + len(wanted.script) > MAX_FAULTS:
                raise BadRequest(f"script: at most {MAX_FAULTS} faults may wait at once per vendor")
            fake.script(*(self.fault_of(spec) for spec in wanted.script))
            if "outage" in wanted.model_fields_set:
                fake.outage = self.fault_of(wanted.outage) if wanted.outage is not None else None
        shown = {
            name: {"script": [fault_view(f) for f in fake.faults], "outage": fault_view(fake.outage)}
            for name, fake in self.vendors.fakes.items()
        }
        return await answer({"faults": shown})

    def fault_of(self, spec: Any) -> Fault:
        if isinstance(spec, ErrorFault):
            return Fault.error(spec.status, retry_after=spec.retry_after)
        if isinstance(spec, SlowFault):
            return Fault.slow(spec.seconds)
        if isinstance(spec, TimeoutFault):  # longer than the worker waits: it gives up, as with a vendor that hangs
            return Fault.slow(self.settings.delivery_timeout_s + 1)
        return Fault.drop()

    async def reset(self, request: Request, body: bytes) -> Response:
        """Faults end first; then, for up to `settle_s`, deliveries still pending are let through (so that
        one test's retries do not reach the vendors during the next); then every fake forgets."""
        wanted: ResetRequest = _parsed(ResetRequest, body)
        for fake in self.vendors.fakes.values():
            fake.faults.clear()
            fake.outage = None
        deadline = time.monotonic() + wanted.settle_s
        pending = await self.pending()
        while pending and time.monotonic() < deadline:
            await self.vendors.changed.wait(min(0.1, deadline - time.monotonic()))
            pending = await self.pending()
        self.vendors.reset()
        self.since = time.time()
        return await answer({"reset": True, "since": self.since, "pending": pending})

    async def pending(self) -> int:
        counts = await run_in_threadpool(self.store.delivery_counts)
        return sum(states.get("pending", 0) for states in counts.values())

    async def wait(self, request: Request, body: bytes) -> Response:
        """Long-poll until the vendor has received a request whose body holds `match` (accepted, unless
        `accepted` is false), or `timeout_s` passes: `found` says which."""
        wanted: WaitRequest = _parsed(WaitRequest, body)
        fake = self.fake(wanted.vendor)
        if self.waiters >= MAX_WAITERS:
            raise TooManyRequests(f"at most {MAX_WAITERS} waits run at once; retry", retry_after=1)
        self.waiters += 1
        started = time.monotonic()
        deadline = started + wanted.timeout_s
        try:
            while True:
                near = []
                for received in list(fake.requests):
                    if not matches(received.body, wanted.match):
                        continue
                    if received.status is not None and 200 <= received.status < 300 or not wanted.accepted:
                        return await answer({"found": True, "request": request_view(fake, received)})
                    near.append(received)
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = [request_view(fake, r) for r in near[-MAX_NEAR:]]
                    return await answer({"found": False, "waited_s": round(time.monotonic() - started, 3), "refused": shown})
                await self.vendors.changed.wait(left)
        finally:
            self.waiters -= 1
