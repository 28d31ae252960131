"""What every vendor API door shares: the request's checks, the server key, one event judged and
committed by the collector's own pipeline, the wait for a delivery, and refusals in the vendor's shape.

A door only translates (DESIGN.md): it turns the vendor's call into one envelope
(`{"id", "dialect", "payload"}`, the id derived from what the vendor de-duplicates on),
and hands it to `Collector.judge` and `Collector.commit`, which judge, store and acknowledge
it as they do a beacon. Limits, trust and storage are the collect endpoint's: the body-size
limit (`max_body_bytes`, read by `read_body`), the rate limits (the request middleware
counts every path under `path_prefix`), the header limits (leadrelay.serving), the Origin
and Content-Type checks. A caller with a server key is the site's backend, so its lead is
vouched for: it may carry any click id (leadrelay.trust, `SERVER`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from leadrelay.caller import Caller
from leadrelay.collect import check_origin_and_type, parse_document, read_body
from leadrelay.errors import BadRequest, ClientGone, MethodNotAllowed, Refused, Unauthorized, bug_message
from leadrelay.protocol import Result
from leadrelay.store import DeliveryRow
from leadrelay.trust.standing import Door

if TYPE_CHECKING:
    from leadrelay.app import Service

METHODS = ("POST",)
"""What every vendor API path takes; another method is answered 405 in the vendor's shape, with `Allow`."""
SETTLED = ("delivered", "deduplicated", "unattributed", "dead")
"""A delivery in one of these states has the vendor's last word."""
POLL_FIRST_S = 0.02
POLL_MAX_S = 0.25


class InvalidBody(Refused):
    """The call breaks the vendor's rules: `errors` are the dialect's field errors (as in /lr/e's results)."""

    def __init__(self, status: int, code: str, errors: list[dict[str, str]]) -> None:
        super().__init__(field_message(errors), code)
        self.status = status  # type: ignore[misc]  # per call: Dub says 422 where Reshape says 400
        self.errors = errors


class InternalError(Refused):
    """A bug, answered in a vendor's shape (the collect endpoint answers its own with leadrelay.errors.internal_error)."""

    status = 500
    default_code = "internal_server_error"


def field_message(errors: list[dict[str, str]]) -> str:
    """The field errors in one line, each with its path: `eventName: must not be empty; customerEmail: ...`."""
    return "; ".join(f"{e['path']}: {e['message']}" for e in errors) or "the body breaks the vendor's rules"


def derived_id(prefix: str, *parts: str) -> str:
    """An envelope id made of what the vendor de-duplicates on: the same call is the same event (stored once)."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{prefix}.{digest}"


def random_id(prefix: str) -> str:
    """An envelope id for a call the vendor does not de-duplicate."""
    return f"{prefix}.{uuid.uuid4().hex}"


def json_object(body: bytes) -> dict[str, Any]:
    """The body's JSON object; raises BadRequest when it is not JSON, or not an object."""
    document = parse_document(body)
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return document


def with_refusal_headers(response: Response, refusal: Refused) -> Response:
    """The headers a refusal's own answer carries (Retry-After, WWW-Authenticate), on a vendor-shaped answer."""
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    if isinstance(refusal, Unauthorized):
        response.headers["WWW-Authenticate"] = refusal.challenge
    if isinstance(refusal, MethodNotAllowed):
        response.headers["Allow"] = refusal.allow
    return response


class Call:
    """One call through a door: the request, and the envelope its body became."""

    __slots__ = ("request", "caller", "envelope")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.caller = Caller(request.scope)
        self.envelope: dict[str, Any] = {}

    @property
    def payload(self) -> dict[str, Any]:
        return self.envelope.get("payload") or {}


class VendorDoor:
    """A Starlette endpoint taking one vendor's API call. Subclasses say how the vendor authenticates,
    what its body becomes, and how it answers and refuses."""

    vendor: ClassVar[str]  # as the messages name it
    dialect: ClassVar[str]  # the leadrelay dialect its body is judged by
    invalid_status: ClassVar[int] = 422  # the status of a body that breaks the vendor's rules
    invalid_code: ClassVar[str] = "unprocessable_entity"

    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Every refusal and every bug of a call is answered here, in the vendor's shape."""
        try:
            if request.method not in METHODS:
                path = request.url.path
                raise MethodNotAllowed(f"{request.method} is not allowed on {path}: {self.vendor}'s API takes POST", METHODS)
            return await self.take(Call(request))
        except ClientGone:
            return Response(status_code=400)  # no one reads it
        except Refused as refusal:
            return self.refused(refusal)
        except Exception:  # noqa: BLE001 - a bug, never an input: logged with an id, and the service goes on
            return self.bug(bug_message(f"the {self.vendor} API"))

    async def take(self, call: Call) -> Response:
        """Check, judge, store (acknowledged after the commit), answer."""
        caller = call.caller
        check_origin_and_type(caller, self.settings.allowed_origins)
        self.authenticate(caller)  # before the body is read: a caller without a key costs nothing more
        self.check_query(call)
        body = await read_body(caller, call.request.receive, self.settings.max_body_bytes)
        collector = self.service.collector
        door = Door(self.service.identity.visitor(caller), server_key=True, click_cookies={}, visitor_context=False)

        def parse(raw: bytes) -> tuple[Any, list[Any]]:
            call.envelope = self.envelope(json_object(raw), call)
            return {"events": [call.envelope]}, [call.envelope]

        results, items = await collector.judge(body, caller, door, parse)
        result = (await collector.commit(results, items))[0]
        if result["status"] == "rejected":
            raise InvalidBody(self.invalid_status, self.invalid_code, result.get("errors", []))
        return await self.answer(call, result)

    def server_key_of(self, caller: Caller, header: bytes, wanted: str) -> None:
        """Raises Unauthorized unless header `header` holds a server key (`wanted` says how to send one)."""
        value = caller.header(header)
        if value is None or not value.strip():
            raise Unauthorized(f"no key was sent: send {wanted}")
        self.service.trust.server_keys.check(value.strip(), sent=f"key in {header.decode()}", wanted=wanted)

    async def delivery(self, event_id: str, destination: str) -> DeliveryRow | None:
        """The event's delivery to `destination` once the vendor has had its last word (delivered, deduplicated
        or dead), waiting at most `wait_mode_timeout_s`; None when it has not by then, or there is none."""
        if destination not in self.service.router.enabled:
            return None
        store = self.service.store
        deadline = time.monotonic() + self.settings.wait_mode_timeout_s
        pause = POLL_FIRST_S
        while True:
            try:
                rows = await run_in_threadpool(store.list_deliveries, None, destination, event_id, 1)
            except Exception as exc:
                if not store.is_failure(exc):
                    raise
                return None  # the lead is stored: unable to read how it went, the caller hears what is known
            if not rows:
                return None
            if rows[0].state in SETTLED:
                return rows[0]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, POLL_MAX_S)

    # -- what each vendor says ------------------------------------------------------------

    def authenticate(self, caller: Caller) -> None:
        """Raises Unauthorized unless the caller sent a server key the vendor's way."""
        raise NotImplementedError

    def check_query(self, call: Call) -> None:
        """Raises Refused for a query string the vendor would refuse (most take none)."""

    def envelope(self, body: dict[str, Any], call: Call) -> dict[str, Any]:
        """The envelope the body becomes (its id is the vendor's dedup key)."""
        raise NotImplementedError

    async def answer(self, call: Call, result: Result) -> Response:
        """The vendor's answer to a call whose event was accepted (or was stored already: `duplicate`)."""
        raise NotImplementedError

    def refused(self, refusal: Refused) -> Response:
        """A refusal in the vendor's error shape, with the refusal's headers."""
        raise NotImplementedError

    def bug(self, message: str) -> Response:
        """The vendor's 500, naming the error id of the bug logged."""
        return self.refused(InternalError(message))


def json_answer(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
