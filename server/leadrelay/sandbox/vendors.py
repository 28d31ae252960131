"""Strict fake Dub, PIMMS and DATA Reshape servers: one Starlette app per vendor, for the sandbox and the tests.

Each fake checks every request against the vendor's published rules (seed 004's
OpenAPI for Dub; seed 002 plus the vendor facts for PIMMS; seed 003 for
Reshape) and the auth header, answers what the real vendor answers (bodies and
error shapes), records what it received, and misbehaves on demand:

    fake.script(Fault.error(500), Fault.error(429, retry_after=1), Fault.slow(2), Fault.drop())
    fake.outage = Fault.error(503)   # every request, until `fake.outage = None`

The fake Dub (and PIMMS, its fork) also behaves as Dub does when asked to:

    FakeDub(credential=KEY, rate_limit=600)   # 600 requests a minute per key, then 429 (Dub's limiter)
    fake.clock = lambda: time.time() + 8 * 86400  # its dedup memory forgets after 7 days

The fakes are stricter than the vendors in one way: an unknown body property is
rejected (422) instead of silently dropped, so a misspelt field cannot pass.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

# zod 3's `z.string().email()`, which Dub's track/lead schema runs on customerEmail (PIMMS is a fork):
#   /^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$/i   (zod src/types.ts)
# Written for Python's re: the i flag as a-z (Python's IGNORECASE would take U+212A, the Kelvin sign,
# for a k), and JavaScript's $ as \Z (Python's $ also matches before a final newline).
ZOD_EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}\Z")
EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")  # Reshape's: its docs give no rule beyond an address's shape
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
URL = re.compile(r"^https?://[^\s]+$")
IPV4_OR_6 = re.compile(r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:]+)$")
FAKE_PACE = 600_000  # requests a minute (10,000/s) to set as a destination's rate: a fake takes any pace unless limited


@dataclass
class Fault:
    """One misbehaviour: an error status, a slow answer, or a dropped connection."""

    kind: str  # "error" | "slow" | "drop"
    status: int = 500
    retry_after: float | str | None = None  # seconds (rounded up), or the header's exact text
    seconds: float = 0.0

    @classmethod
    def error(cls, status: int, retry_after: float | str | None = None) -> Fault:
        return cls("error", status=status, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls("slow", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")


@dataclass
class Received:
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    status: int | None = None  # what the fake answered (None: it dropped the connection)
    at: float = field(default_factory=time.monotonic)
    received_at: float = field(default_factory=time.time)
    answer: Any = None  # the JSON body the fake answered with (None: none, or dropped)
    fault: Fault | None = None  # the scripted misbehaviour this request met, if any
    raw: bytes = b""  # the body exactly as it arrived


class Invalid(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class FakeVendor:
    """What every fake shares: recording, faults and the ASGI entry point. Subclasses validate and answer."""

    credential: str
    path: str = "/track/lead"
    record: bool = True
    requests: list[Received] = field(default_factory=list)
    max_records: int | None = None  # keep only the newest this many requests (None: every one)
    faults: deque[Fault] = field(default_factory=deque)
    outage: Fault | None = None
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route(self.path, self.handle, methods=["POST"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # -- test controls --------------------------------------------------------------

    def script(self, *faults: Fault) -> None:
        """The next requests get these faults, one each, in order."""
        self.faults.extend(faults)

    def reset(self) -> None:
        """Forget every request, fault and outage, and whatever the vendor remembers (subclasses add theirs)."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.outage = None
            self.count = 0

    @property
    def accepted(self) -> list[Any]:
        """Bodies the fake answered with 2xx."""
        return [r.body for r in self.requests if r.status is not None and 200 <= r.status < 300]

    # -- handling ---------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        try:
            raw = await request.body()
        except ClientDisconnect:  # the sender died mid-request (the crash test kills it)
            return Response(status_code=400)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        received = Received(dict(request.headers), dict(request.query_params), body, raw=raw)
        with self._lock:
            self.count += 1
            if self.record:
                self.requests.append(received)
                if self.max_records is not None and len(self.requests) > self.max_records:
                    del self.requests[: len(self.requests) - self.max_records]
            fault = self.faults.popleft() if self.faults else self.outage
        received.fault = fault
        if fault is not None and fault.kind == "drop":
            received.status = None
            return _Dropped()
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "error":
            response = self.error(fault.status, _CODES.get(fault.status, "internal_server_error"), "injected fault")
            if fault.retry_after is not None:
                given = fault.retry_after
                response.headers["Retry-After"] = given if isinstance(given, str) else str(math.ceil(given))
                response.headers["X-RateLimit-Limit"] = "60"
                response.headers["X-RateLimit-Remaining"] = "0"
        else:
            try:
                self.authenticate(request)
                if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                    raise Invalid(400, "bad_request", "Content-Type must be application/json")
                if not isinstance(body, dict):
                    raise Invalid(400, "bad_request", "Invalid JSON format in request body.")
                response = self.answer(request, body)
            except Invalid as exc:
                response = self.error(exc.status, exc.code, exc.message)
                response.headers.update(exc.headers)
        received.status = response.status_code
        received.answer = _json_or_none(response)
        return response

    def authenticate(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {self.credential}":
            raise Invalid(401, "unauthorized", "Unauthorized: Invalid API key.")

    def answer(self, request: Request, body: dict[str, Any]) -> Response:
        raise NotImplementedError

    def error(self, status: int, code: str, message: str) -> JSONResponse:
        slug = code.replace("_", "-")
        return JSONResponse(
            {"error": {"code": code, "message": message, "doc_url": f"https://dub.co/docs/api-reference/errors#{slug}"}},
            status_code=status,
        )


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    410: "invite_expired",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "internal_server_error",
    503: "internal_server_error",
}


def _json_or_none(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


class _Dropped(Response):
    """Start an answer, then cut the connection: the client sees a broken response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"click":', "more_body": True})
        raise ConnectionAbortedError("dropped on purpose")


# -- schema checks (zod-like messages, as Dub reports them) -------------------------------

Check = Callable[[Any], str | None]


def string(min_len: int = 0, max_len: int | None = None, nullable: bool = False, pattern: re.Pattern[str] | None = None, what: str = "") -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return None if nullable else "Expected string, received null"
        if not isinstance(value, str):
            return f"Expected string, received {type(value).__name__}"
        if len(value) < min_len:
            return f"String must contain at least {min_len} character(s)"
        if max_len is not None and len(value) > max_len:
            return f"String must contain at most {max_len} character(s)"
        if pattern is not None and not pattern.match(value):
            return f"Invalid {what or 'string'}"
        return None

    return check


def number(nullable: bool = False, integer: bool = False, lo: float | None = None, hi: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return None if nullable else "Expected number, received null"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"Expected number, received {type(value).__name__}"
        if integer and value != int(value):
            return "Expected integer, received float"
        if lo is not None and value < lo:
            return f"Number must be greater than or equal to {lo}"
        if hi is not None and value > hi:
            return f"Number must be less than or equal to {hi}"
        return None

    return check


def enum(*values: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in values else f"Invalid enum value. Expected {' | '.join(map(repr, values))}, received {value!r}"

    return check


def obj(nullable: bool = False, max_chars: int | None = None) -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return None if nullable else "Expected object, received null"
        if not isinstance(value, dict):
            return f"Expected object, received {type(value).__name__}"
        if max_chars is not None and len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)) > max_chars:
            return f"Metadata must be less than {max_chars} characters"
        return None

    return check


def validate(body: dict[str, Any], schema: dict[str, Check], required: tuple[str, ...], where: str = "") -> None:
    """Raise Invalid(422) with the first broken rule, zod style: `<path>: <message>`."""
    for key in required:
        if key not in body:
            raise Invalid(422, "unprocessable_entity", f"invalid_type: {where}{key}: Required")
    for key, value in body.items():
        check = schema.get(key)
        if check is None:
            raise Invalid(422, "unprocessable_entity", f"unrecognized_keys: Unrecognized key(s) in object: '{where}{key}'")
        problem = check(value)
        if problem:
            raise Invalid(422, "unprocessable_entity", f"invalid: {where}{key}: {problem}")


# -- Dub ------------------------------------------------------------------------------------

DUB_LEAD = {
    "clickId": string(),
    "eventName": string(1, 255),
    "customerExternalId": string(1, 100),
    "externalId": string(0, 100),  # the older name (seed 001); Dub still accepts it
    "customerName": string(0, 100, nullable=True),
    "customerEmail": string(0, 100, nullable=True, pattern=ZOD_EMAIL, what="email"),
    "customerAvatar": string(nullable=True, pattern=URL, what="url"),
    "mode": enum("async", "wait", "deferred"),
    "eventQuantity": number(nullable=True, integer=True, lo=1, hi=100),
    "metadata": obj(nullable=True, max_chars=10_000),
}


PAYMENT_PROCESSORS = ("stripe", "shopify", "polar", "paddle", "apple", "revenuecat", "lemonsqueezy", "dub", "custom")
DUB_SALE = {
    "customerExternalId": string(1, 100),
    "amount": number(integer=True, lo=0),
    "currency": string(3, 3),
    "eventName": string(1, 255),
    "paymentProcessor": enum(*PAYMENT_PROCESSORS),
    "invoiceId": string(nullable=True),
    "metadata": obj(nullable=True, max_chars=10_000),
    "leadEventName": string(nullable=True),
    "clickId": string(nullable=True),
    "customerName": string(0, 100, nullable=True),
    "customerEmail": string(0, 100, nullable=True, pattern=ZOD_EMAIL, what="email"),
    "customerAvatar": string(nullable=True),
}
"""POST /track/sale: the fields of the official SDK's TrackSaleRequestBody, as Dub's schema checks them."""

DEDUP_S = 7 * 86400  # how long Dub remembers a customer + event name


@dataclass
class FakeDub(FakeVendor):
    """POST /track/lead as Dub answers it (apps/web/lib/api/conversions/track-lead.ts).

    - Rate limit (`rate_limit` requests per `rate_window_s`, per key; None: none), as Dub's Upstash
      limiter counts: a sliding window (this window's count plus the previous window's, weighted by
      how much of it still overlaps). Every answer after authentication carries X-RateLimit-Limit,
      -Remaining and -Reset, and Retry-After; Reset and Retry-After are the window's end as an epoch
      time in milliseconds. Over the limit: 429 rate_limit_exceeded, counted in `rate_limited`.
    - Dedup: before it looks for the click, Dub writes customer id + event name (lower-cased, spaces
      as '-') for `dedup_s` (unless mode is deferred); a request finding the key answers 200 with
      `link: null` and records nothing. So a 404 for an unknown click still writes the key.
    - `recorded`: the bodies of the leads really recorded (when `record`), `recorded_count` always.
    """

    known_clicks: set[str] | None = None  # None: every click id exists
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # externalId -> customer (and its click)
    leads: dict[tuple[str, str], float] = field(default_factory=dict)  # the dedup memory: key -> when written
    recorded: list[Any] = field(default_factory=list)
    recorded_count: int = 0
    rate_limit: int | None = None
    rate_window_s: float = 60.0
    rate_limited: int = 0
    clock: Callable[[], float] = time.time
    dedup_s: float | None = DEDUP_S  # None: remembered for ever
    vendor_name: str = "Dub"
    _windows: dict[int, int] = field(default_factory=dict)  # rate-limit window number -> requests counted

    schema: dict[str, Check] = field(default_factory=lambda: dict(DUB_LEAD))
    required: tuple[str, ...] = ("clickId", "eventName")
    sales: list[Any] = field(default_factory=list)  # the bodies of the sales really recorded
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)  # invoiceId -> the answer Dub keeps for it
    sale_path: str | None = "/track/sale"  # None: the vendor has no sale endpoint (PIMMS)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sale_path is not None:
            self.app.router.routes.append(Route(self.sale_path, self.handle, methods=["POST"]))

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.customers.clear()
            self.leads.clear()
            self.recorded.clear()
            self.recorded_count = 0
            self.rate_limited = 0
            self._windows.clear()

    def answer(self, request: Request, body: dict[str, Any]) -> Response:
        headers = self.count_against_limit()
        try:
            response = self.track_sale(body) if request.url.path == self.sale_path else self.track_lead(body)
        except Invalid as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    def count_against_limit(self) -> dict[str, str]:
        """Upstash's sliding window, as Dub calls it: raises the 429 when over, else the headers of the answer."""
        if self.rate_limit is None:
            return {}
        now_ms = self.clock() * 1000
        window_ms = self.rate_window_s * 1000
        current = int(now_ms // window_ms)
        with self._lock:
            for old in [w for w in self._windows if w < current - 1]:
                del self._windows[old]
            previous = math.floor((1 - (now_ms % window_ms) / window_ms) * self._windows.get(current - 1, 0))
            used = previous + self._windows.get(current, 0)
            allowed = used < self.rate_limit
            if allowed:
                self._windows[current] = self._windows.get(current, 0) + 1
                used += 1
            else:
                self.rate_limited += 1
        reset = str(int((current + 1) * window_ms))
        headers = {
            "Retry-After": reset,
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": reset,
        }
        if not allowed:
            raise Invalid(429, "rate_limit_exceeded", "Too many requests.", headers)
        return headers

    def track_lead(self, body: dict[str, Any]) -> Response:
        validate(body, self.schema, self.required)
        external_id = self.customer_id(body)
        click = body["clickId"]
        if click == "":
            known = self.customers.get(external_id)
            if known is None:
                raise Invalid(
                    400,
                    "bad_request",
                    "The `clickId` property was not provided in the request, and no existing customer with the provided `customerExternalId` was found.",
                )
            click = known["click"]
        if body.get("mode") != "deferred" and not self.remember(external_id, body["eventName"]):
            customer = self.customers.get(external_id) or self.customer_of(body, external_id)
            return JSONResponse({"click": {"id": click}, "link": None, "customer": _public(customer)})
        if self.known_clicks is not None and click not in self.known_clicks:
            raise Invalid(404, "not_found", f"Click event not found for clickId: {click}")
        customer = self.customer_of(body, external_id)
        with self._lock:
            self.customers.setdefault(external_id, {**customer, "click": click})
            self.recorded_count += 1
            if self.record:
                self.recorded.append(body)
        return JSONResponse({"click": {"id": click}, "link": _link(click), "customer": customer})

    def track_sale(self, body: dict[str, Any]) -> Response:
        """POST /track/sale as Dub answers it (apps/web/lib/api/conversions/track-sale.ts).

        The invoice id is the idempotency key: a repeat answers what the first answered, and records
        nothing. A customer Dub does not know, with no click to credit the sale to, gets
        `customer: null, sale: null` (nothing recorded, nothing cached: a retry once the customer's
        lead is in is looked at anew); so does an amount of 0 (`amount <= 0`, as Dub skips it).
        """
        validate(body, DUB_SALE, ("customerExternalId", "amount"))
        invoice = body.get("invoiceId")
        with self._lock:
            if invoice and invoice in self.invoices:
                return JSONResponse(self.invoices[invoice])
        external_id = body["customerExternalId"]
        event_name = body.get("eventName", "Purchase")
        customer = self.customers.get(external_id)
        click = body.get("clickId")
        if customer is None and not click:
            return JSONResponse({"eventName": event_name, "customer": None, "sale": None})
        if customer is None:
            if self.known_clicks is not None and click not in self.known_clicks:
                raise Invalid(404, "not_found", f"Click event not found for clickId: {click}")
            customer = {**self.customer_of(body, external_id), "click": click}
        if body["amount"] <= 0:
            return JSONResponse({"eventName": event_name, "customer": None, "sale": None})
        sale = {
            "amount": body["amount"],
            "currency": body.get("currency", "usd").lower(),
            "paymentProcessor": body.get("paymentProcessor", "custom"),
            "invoiceId": invoice,
            "metadata": body.get("metadata"),
        }
        answer = {"eventName": event_name, "customer": {"id": "cus_" + external_id[:20], **_public(customer)}, "sale": sale}
        with self._lock:
            self.customers.setdefault(external_id, customer)
            if invoice:
                self.invoices[invoice] = answer
            if self.record:
                self.sales.append(body)
        return JSONResponse(answer)

    def remember(self, external_id: str, event_name: str) -> bool:
        """Write the dedup key unless it is there (Redis SET NX EX): False when it was."""
        key = (external_id, event_name.lower().replace(" ", "-"))
        now = self.clock()
        with self._lock:
            written = self.leads.get(key)
            if written is not None and (self.dedup_s is None or now - written < self.dedup_s):
                return False
            self.leads[key] = now
            return True

    @staticmethod
    def customer_of(body: dict[str, Any], external_id: str) -> dict[str, Any]:
        return {
            "name": body.get("customerName") or body.get("customerEmail") or "Big Red Caribou",
            "email": body.get("customerEmail"),
            "avatar": body.get("customerAvatar"),
            "externalId": external_id,
        }

    def customer_id(self, body: dict[str, Any]) -> str:
        external_id = body.get("customerExternalId") or body.get("externalId")
        if not external_id:
            raise Invalid(422, "unprocessable_entity", "invalid_type: customerExternalId: Required")
        return str(external_id)


def _public(customer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in customer.items() if k != "click"}


def _link(click: str) -> dict[str, Any]:
    return {
        "id": "link_" + click[:20],
        "domain": "dub.sh",
        "key": "try",
        "shortLink": "https://dub.sh/try",
        "url": "https://example.com/",
        "partnerId": None,
        "programId": None,
        "tenantId": None,
        "externalId": None,
    }


# -- PIMMS ------------------------------------------------------------------------------------

PIMMS_LEAD = {
    "clickId": string(1),
    "eventName": string(1, 255),
    "externalId": string(0, 100),
    "customerName": string(0, 100, nullable=True),
    "customerEmail": string(0, 100, nullable=True, pattern=ZOD_EMAIL, what="email"),
    "customerAvatar": string(nullable=True, pattern=URL, what="url"),
    "mode": enum("async", "wait"),
    "eventQuantity": number(nullable=True),
    "metadata": obj(nullable=True),
}


@dataclass
class FakePimms(FakeDub):
    """PIMMS, the Dub fork: `externalId` only, no deferred mode, 400 when the customer id is empty, dedup for ever."""

    vendor_name: str = "PIMMS"
    dedup_s: float | None = None
    sale_path: str | None = None  # PIMMS publishes no /track/sale
    schema: dict[str, Check] = field(default_factory=lambda: dict(PIMMS_LEAD))
    required: tuple[str, ...] = ("clickId", "eventName")

    def customer_id(self, body: dict[str, Any]) -> str:
        if not body.get("externalId"):
            raise Invalid(400, "bad_request", "externalId is required to track a lead.")
        return str(body["externalId"])

    def error(self, status: int, code: str, message: str) -> JSONResponse:
        slug = code.replace("_", "-")
        return JSONResponse(
            {"error": {"code": code, "message": message, "doc_url": f"https://pimms.io/docs/api-reference/errors#{slug}"}},
            status_code=status,
        )


# -- DATA Reshape -------------------------------------------------------------------------------


def _email_or_hash(value: Any) -> bool:
    return isinstance(value, str) and bool(EMAIL.match(value) or SHA256.match(value))


def _phone_or_hash(value: Any) -> bool:
    return isinstance(value, str) and bool(E164.match(value) or SHA256.match(value))


def _one_or_many(ok: Callable[[Any], bool], what: str) -> Check:
    def check(value: Any) -> str | None:
        values = value if isinstance(value, list) else [value]
        return None if values and all(ok(v) for v in values) else f"must be {what} (or a list of them)"

    return check


RESHAPE_EVENT = {
    "name": string(1),
    "value": number(),
    "currency": string(1),
    "exchange_rate": number(),
    "id": string(1),
    "properties": obj(),
}
RESHAPE_CONTEXT = {
    "url": string(),
    "page_type": string(),
    "environment": enum("prod", "dev"),
    "data_source": string(),
    "user_agent": string(),
    "override_ip": string(pattern=IPV4_OR_6, what="IP address"),
    "landing_url": string(),
    "referring_url": string(),
}
RESHAPE_USER = {
    "id": string(),
    "email": _one_or_many(_email_or_hash, "an email address or a SHA-256 hex digest"),
    "phone": _one_or_many(_phone_or_hash, "an E.164 phone number or a SHA-256 hex digest"),
    **{k: string() for k in ("first_name", "last_name", "country", "region", "city", "street", "postal_code")},
    **{k: number(lo=0) for k in ("orders_total_number", "orders_canceled_number")},
    **{k: number() for k in ("orders_total_value", "orders_refunded_value", "predicted_value", "created_at")},
    "properties": obj(),
}
RESHAPE_CONSENT = {k: (lambda v: None if isinstance(v, bool) else "must be a boolean") for k in ("analytics", "personalization", "marketing")}
RESHAPE_CONSENT["id"] = string(1)  # the consent record's id, needed when Reshape's audit trail is on


@dataclass
class FakeReshape(FakeVendor):
    """POST {path}?id=SCRIPT_ID with X-Dre-Access-Token, as the DATA Reshape server API takes it."""

    path: str = "/reshape/standard/event"
    script_id: str = "ABCD1234"
    seen_ids: set[str] = field(default_factory=set)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.seen_ids.clear()

    def authenticate(self, request: Request) -> None:
        if request.headers.get("x-dre-access-token") != self.credential:
            raise Invalid(401, "unauthorized", "invalid access token")
        if request.query_params.get("id") != self.script_id:
            raise Invalid(404, "not_found", "unknown script id")

    def answer(self, request: Request, body: dict[str, Any]) -> Response:
        sections: dict[str, tuple[dict[str, Check], tuple[str, ...], bool]] = {
            "event": (RESHAPE_EVENT, ("name", "value", "currency", "id"), True),
            "context": (RESHAPE_CONTEXT, (), False),
            "user": (RESHAPE_USER, (), False),
            "consent": (RESHAPE_CONSENT, (), True),
        }
        for key in body:
            if key not in (*sections, "cookies"):
                raise Invalid(400, "bad_request", f"unknown property {key!r}")
        if "event" not in body:
            raise Invalid(400, "bad_request", "event: required")
        for name, (schema, required, closed) in sections.items():
            if name not in body:
                continue
            section = body[name]
            if not isinstance(section, dict):
                raise Invalid(400, "bad_request", f"{name}: must be an object")
            # Reshape keeps keys it does not list inside context and user (the seed's own example has user.new_customer).
            known = section if closed else {k: v for k, v in section.items() if k in schema}
            try:
                validate(known, schema, required, where=f"{name}.")
            except Invalid as exc:
                raise Invalid(400, "bad_request", exc.message) from None
        if body["event"]["name"] == "checkout_completed":
            self.check_purchase(body["event"])
        cookies = body.get("cookies", {})
        if not isinstance(cookies, dict) or not all(isinstance(v, str) for v in cookies.values()):
            raise Invalid(400, "bad_request", "cookies: must be an object of strings")
        with self._lock:
            duplicate = body["event"]["id"] in self.seen_ids
            self.seen_ids.add(body["event"]["id"])
        return JSONResponse({"status": "ok", "duplicate": duplicate})

    @staticmethod
    def check_purchase(event: dict[str, Any]) -> None:
        """A purchase (`checkout_completed`): its value a decimal amount of 0 or more, its currency an ISO 4217 code."""
        if event["value"] < 0:
            raise Invalid(400, "bad_request", "event.value: a purchase's value must be 0 or more")
        if not re.fullmatch(r"[A-Z]{3}", event["currency"]):
            raise Invalid(400, "bad_request", "event.currency: must be an ISO 4217 code in upper case, e.g. USD")

    def error(self, status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"status": "error", "message": message}, status_code=status)
