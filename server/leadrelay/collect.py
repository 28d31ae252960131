"""The collect endpoint: a batch of beacons in, one verdict per event out, after commit."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NoReturn

from pydantic import ValidationError
from pydantic_core import from_json
from starlette.types import Receive, Scope, Send

from leadrelay.arrival import Seen, dump_arrival, enrich, held_back
from leadrelay.caller import Caller
from leadrelay.config import ANY_WEB_ORIGIN, Settings
from leadrelay.dialects import Dialect, DialectError
from leadrelay.dialects.base import errors_from_validation
from leadrelay.encoding import dump_json
from leadrelay.errors import (
    BadRequest,
    ClientGone,
    Forbidden,
    PayloadTooLarge,
    Refused,
    StoreUnavailable,
    UnsupportedMediaType,
    internal_error,
)
from leadrelay.event import LeadEvent
from leadrelay.fastpath import FastPath, escapes_a_surrogate
from leadrelay.identity import Header, Identity
from leadrelay.intake import GroupCommitter
from leadrelay.metrics import Metrics
from leadrelay.offload import INLINE_BYTES, by_size
from leadrelay.protocol import Envelope, FieldError, Result
from leadrelay.routing import Router
from leadrelay.store import Accepted, Intake, Rejected
from leadrelay.trust.rate_limits import RateLimits
from leadrelay.trust.marks import CLICK_HELD_BACK, codes
from leadrelay.trust.standing import Door, Standing, Trust
from leadrelay.vendors import configured_dialects

ACCEPTED_TYPES = ("text/plain", "application/json")
MAX_DEPTH = 32  # objects and lists inside a payload; vendors' own rules nest far less
MAX_EVENT_ERRORS = 20  # per rejected event: a hostile body must not turn 64 KB into megabytes of answer
SURROGATE = re.compile("[\ud800-\udfff]")
UNICODE_MESSAGE = "must be valid Unicode: it holds half of a surrogate pair (a string cut inside an emoji?)"
JSON_HEADER = (b"content-type", b"application/json")

log = logging.getLogger("leadrelay.collect")

Judged = tuple[list[Result], list[Intake]]
"""A batch's verdicts, and what to store for its events."""
Parse = Callable[[bytes], tuple[Any, list[Any]]]
"""A body -> its parsed document and its envelopes; raises Refused for a body wrong as a whole."""


async def read_body(caller: Caller, receive: Receive, limit: int) -> bytes:
    """Read at most `limit` bytes; stop at once (without reading the rest) when the body is larger."""
    declared = caller.header(b"content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequest("Content-Length must be a non-negative integer")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def origin_allowed(caller: Caller, allowed: list[str]) -> bool:
    """No Origin (a server, curl), our own origin, an origin on the allow-list, or with `*` any http(s) one."""
    origin = caller.header(b"origin")
    if origin is None or origin == caller.origin or origin.rstrip("/") in allowed:
        return True
    return "*" in allowed and ANY_WEB_ORIGIN.fullmatch(origin) is not None


def check_origin_and_type(caller: Caller, allowed_origins: list[str]) -> None:
    """Raises Forbidden for an Origin that is not allowed, UnsupportedMediaType for a body that is not JSON or text."""
    if not origin_allowed(caller, allowed_origins):
        origin = caller.header(b"origin")
        raise Forbidden(f"origin {origin} is not allowed: add it to allowed_origins", code="origin_not_allowed")
    media_type = (caller.header(b"content-type") or "").split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(f"Content-Type {shown} is not accepted: send text/plain or application/json")


class Collector:
    """The collect endpoint, an ASGI app of its own: it is the hot path, so it reads the request
    straight from the scope and writes its answer with two `send` calls, without Starlette's
    Request, Response and middleware stack (app.LeadRelay routes its POSTs here first)."""

    def __init__(
        self,
        settings: Settings,
        intake: GroupCommitter,
        router: Router,
        identity: Identity,
        rate_limits: RateLimits,
        trust: Trust,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.rate_limits = rate_limits
        self.intake = intake
        self.router = router
        self.identity = identity
        self.trust = trust
        self.dialects = configured_dialects(settings)
        self.fast = FastPath(self.dialects, settings.max_batch_events)
        self.on_deliveries: Callable[[], None] | None = None  # the worker's wake-up, when it runs here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every refusal and every bug is answered here, once."""
        try:
            status, headers, body = await self.collect(Caller(scope), receive)
        except ClientGone:
            return
        except Refused as refusal:
            await refusal.response()(scope, receive, send)
            return
        except Exception:  # noqa: BLE001 - a bug, never an input: logged with an id, and the service goes on
            await internal_error("the collect endpoint")(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def collect(self, caller: Caller, receive: Receive) -> tuple[int, list[Header], bytes]:
        """The answer to one POST: status, headers and body, given after the accepted events are committed.

        Raises Refused for a request that is wrong as a whole, and ClientGone when the client went away.
        """
        settings = self.settings
        check_origin_and_type(caller, settings.allowed_origins)
        server_key = self.trust.holds_server_key(caller)  # a wrong key is refused before the body is read
        body = await read_body(caller, receive, settings.max_body_bytes)
        identity = self.identity
        door = Door(identity.visitor(caller), server_key, identity.click_ids(caller))
        results, items = await self.judge(body, caller, door, self._parse_batch)
        results = await self.commit(results, items)
        status = 422 if all(r["status"] == "rejected" for r in results) else 200
        body = dump_json({"results": results})
        headers = [JSON_HEADER, (b"content-length", str(len(body)).encode())]
        cookie = identity.visitor_cookie(caller, door.visitor)
        if cookie is not None:
            headers.append(cookie)
        return status, headers, body

    async def judge(self, body: bytes, caller: Caller, door: Door, parse: Parse) -> Judged:
        """The verdicts of the events `parse` finds in `body`, and what to store for them.

        `parse` turns the body into its document and its envelopes (raising Refused for a body
        wrong as a whole): the collect endpoint's batch, or a vendor API's one call (leadrelay.vendor_api).
        """
        if len(body) > INLINE_BYTES:  # a large body: parsed, settled and judged off the loop (leadrelay.offload)
            return await by_size(len(body), self._judge_body, body, caller, door, parse)
        document, events = parse(body)
        # What the events may claim is decided here, once, before any of them is mapped or routed.
        standing = self.trust.standing(door, events)
        if standing.to_look_up:  # claims this process does not remember as landed: the store settles them
            standing = await self.trust.look_up(door.visitor.id, standing)
        # The parsed body and the events' object graphs die with this frame: a request waiting
        # for its commit holds only its rows and its answer.
        return self._judge_batch(document, events, body, caller, door, standing)

    async def commit(self, results: list[Result], items: list[Intake]) -> list[Result]:
        """Store what was judged (one group commit) and wake the worker; the results, a stored event's as
        `duplicate`. Returns only after the commit: persist, then acknowledge."""
        for item in items:
            if isinstance(item, Rejected):  # garbage costs a bounded number of rows, whatever is sent
                item.kept = await self.rate_limits.keep_rejection(item.source, item.shape)
        try:
            flags = await self.intake.write(items)
        except StoreUnavailable as exc:  # the client keeps the events and retries; a bug is not caught here
            raise StoreUnavailable("events could not be stored; retry later", retry_after=5) from exc
        scheduled = False
        metrics = self.metrics
        for result, item, inserted in zip(results, items, flags):
            if result["status"] == "accepted" and not inserted:
                result["status"] = "duplicate"
                result.pop("event", None)
            elif inserted and isinstance(item, Accepted):
                scheduled = scheduled or bool(item.destinations)
                if metrics is not None and item.marks is not None and CLICK_HELD_BACK in item.marks.split(","):
                    metrics.held_back.labels(item.dialect).inc()
            if metrics is not None:
                metrics.judged(item.dialect, result["status"])  # type: ignore[union-attr]
        if scheduled and self.on_deliveries is not None:
            self.on_deliveries()
        return results

    def _judge_body(self, body: bytes, caller: Caller, door: Door, parse: Parse) -> Judged:
        """A large batch, on the heavy thread (leadrelay.offload): parsed, its claims settled (this thread
        may wait for the store) and judged, as `collect` does a small one on the loop. Its parsed
        body and object graphs die here: a request waiting for its commit holds only its rows."""
        document, events = parse(body)
        standing = self.trust.standing(door, events)
        if standing.to_look_up:
            standing = self.trust.look_up_blocking(door.visitor.id, standing)
        return self._judge_batch(document, events, body, caller, door, standing)

    def _judge_batch(
        self, document: Any, events: list[Any], body: bytes, caller: Caller, door: Door, standing: Standing
    ) -> Judged:
        """Every event's verdict and what to store for it, as `standing` lets the events claim."""
        ip = self.identity.client_ip(caller)
        visitor = door.visitor_context  # else the address and user agent are a backend's, not the visitor's
        seen = Seen(
            visitor_id=door.visitor.id,
            received_at=time.time(),
            ip=ip if visitor else None,
            user_agent=caller.header(b"user-agent") if visitor else None,
            click_ids=door.click_cookies,
            verified_clicks=standing.verified_clicks,
        )
        # Only a \uXXXX escape can put a lone surrogate in a string: without one, no check is needed.
        surrogates = escapes_a_surrogate(body)
        # Most beacons are valid: one call into pydantic-core recognises them; any other goes the exact way.
        checked = self.fast.takes(document, body, surrogates)
        facts = RequestFacts(
            seen=seen,
            source=ip,
            seen_json=seen.as_json(),
            # Fewer brackets in the whole body than the depth limit: no payload can be too deep.
            # (The fast path's schemas bound nesting themselves.)
            may_nest_deeply=not checked and body.count(b"{") + body.count(b"[") > MAX_DEPTH,
            may_hold_surrogates=surrogates,
        )
        judge = self._judge_checked if checked else self._judge
        results: list[Result] = []
        items: list[Intake] = []
        for raw in events:
            result, item = judge(raw, facts)
            results.append(result)
            items.append(item)
        return results, items

    def _parse_batch(self, body: bytes) -> tuple[Any, list[Any]]:
        """The parsed body and its list of events; raises BadRequest or PayloadTooLarge for a malformed batch."""
        document = parse_document(body)
        events = batch_events(document)
        limit = self.settings.max_batch_events
        if len(events) > limit:
            message = f"the batch has {len(events)} events; at most {limit} are accepted"
            raise PayloadTooLarge(message, code="batch_too_large")
        return document, events

    def _judge_checked(self, raw: dict[str, Any], facts: RequestFacts) -> tuple[Result, Intake]:
        """The verdict of an event the fast path took: accepted. Its event is built only if routing needs it."""
        dialect = self.fast.dialects[raw["dialect"]]
        if self.router.destinations:
            event = dialect.event_of(raw)
            return self._accept(dialect, event.name, event, raw, facts)
        return self._accept(dialect, dialect.name_of(raw), None, raw, facts)

    def _judge(self, raw: Any, facts: RequestFacts) -> tuple[Result, Intake]:
        """One event's verdict and what to store for it."""
        raw_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        if facts.may_hold_surrogates:
            # Text that is not Unicode can be neither stored nor forwarded: the event is rejected, not its neighbours.
            broken = list(lone_surrogates(raw))
            if broken:
                errors = [FieldError(path=path, message=UNICODE_MESSAGE, rule="unicode") for path in broken]
                return self._reject(raw_id, raw, errors, facts)
        try:
            envelope = Envelope.model_validate(raw)
        except ValidationError as exc:
            return self._reject(raw_id, raw, errors_from_validation(exc), facts)
        if facts.may_nest_deeply and nesting_depth(envelope.payload) > MAX_DEPTH:
            error = FieldError(path="payload", message=f"nested deeper than {MAX_DEPTH} levels", rule="max_depth")
            return self._reject(envelope.id, raw, [error], facts)
        dialect = self.dialects[envelope.dialect]
        try:
            event = dialect.parse(envelope)
        except DialectError as exc:
            return self._reject(envelope.id, raw, exc.errors, facts)
        return self._accept(dialect, event.name, event, raw, facts)

    def _accept(
        self, dialect: Dialect, name: str, event: LeadEvent | None, raw: dict[str, Any], facts: RequestFacts
    ) -> tuple[Result, Intake]:
        """The verdict and row of an event named `name` its dialect accepted; `raw` is its envelope, valid.

        The row holds the envelope as it arrived (leadrelay.arrival), and the marks of
        what the trust layer held back. `event` is its canonical event when one was built
        (to route it, or by the exact rules); None when no destination is on, so nothing needs one.
        """
        seen = facts.seen
        destinations: list[str] = []
        if event is not None and self.router.destinations:
            held = enrich(event, raw, seen)  # only the click ids the trust layer granted: routing sees no other
            destinations = self.router.destinations_for(event)
        else:
            held = held_back(event.click_ids if event is not None else {}, raw, seen)
        marks = self.trust.marks(raw, seen, held)
        body = dump_arrival(raw, facts.seen_json, marks)
        # The stored id is the event's: the envelope's, or one the payload decides (a sale's invoice id).
        # Without an event (the fast path's checked dialects, Croct's and Reshape's) it is a lead.
        event_id, kind = (raw["id"], "lead") if event is None else (event.id, event.kind)
        item = Accepted(
            event_id, dialect.name, name, seen.visitor_id, seen.received_at, body, destinations, codes(marks), kind
        )
        result: Result = {"id": raw["id"], "status": "accepted"}
        answer = dialect.answer(raw)
        if answer is not None:
            result["event"] = answer
        return result, item

    def _reject(self, event_id: str | None, raw: Any, errors: list[FieldError], facts: RequestFacts) -> tuple[Result, Intake]:
        dialect = raw.get("dialect") if isinstance(raw, dict) and isinstance(raw.get("dialect"), str) else None
        # Neither answered nor stored when not Unicode; the raw text keeps such a character as its escape.
        event_id = None if event_id is not None and SURROGATE.search(event_id) else event_id
        dialect = None if dialect is not None and SURROGATE.search(dialect) else dialect
        text = _escaped(json.dumps(raw, ensure_ascii=False))[: self.settings.max_rejected_raw_bytes]
        if len(errors) > MAX_EVENT_ERRORS:
            more = len(errors) - MAX_EVENT_ERRORS + 1
            errors = errors[: MAX_EVENT_ERRORS - 1]
            errors.append(FieldError(path="(root)", message=f"and {more} more errors", rule="too_many_errors"))
        known = dialect if dialect in self.dialects else "-"  # the shape is a key: never attacker-sized
        shape = f"{known}: " + ", ".join(sorted({e.rule for e in errors}))
        item = Rejected(event_id, dialect, errors, text, facts.seen.received_at, source=facts.source, shape=shape)
        result: Result = {"id": event_id, "status": "rejected", "errors": [e.model_dump() for e in errors]}
        return result, item


@dataclass(slots=True)
class RequestFacts:
    """What the request says about the visitor, read once for all the events of a batch."""

    seen: Seen
    source: str | None  # the client's address, which the rejection budget counts by
    seen_json: dict[str, Any]  # seen.as_json(), for every accepted event's row
    may_nest_deeply: bool
    may_hold_surrogates: bool


def nesting_depth(value: Any) -> int:
    """How deeply objects and lists nest in `value` (a scalar is 0), without recursion."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return deepest


def lone_surrogates(raw: Any) -> Iterator[str]:
    """The path of every key and string of an event that holds a lone UTF-16 surrogate, in document order.

    Paths inside the payload are relative to it, as the dialects' own errors are.
    """
    if isinstance(raw, dict) and isinstance(raw.get("payload"), dict):
        stack = [(value, "" if key == "payload" else _escaped(key)) for key, value in raw.items()]
    else:
        stack = [(raw, "")]
    stack.reverse()  # popped from the end: the first child comes out first
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if SURROGATE.search(value):
                yield path or "(root)"
        elif isinstance(value, dict):
            children = []
            for key, child in value.items():
                child_path = f"{path}.{_escaped(key)}" if path else _escaped(key)
                if SURROGATE.search(key):
                    yield child_path
                children.append((child, child_path))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(child, f"{path}[{i}]") for i, child in enumerate(value)]))


def parse_document(body: bytes) -> Any:
    """The JSON document of a body; raises BadRequest saying where it is not JSON (or not UTF-8)."""
    try:
        return parse_json(body)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8: {exc.reason} at byte {exc.start}", code="invalid_json") from None
    except json.JSONDecodeError as exc:
        where = f"at line {exc.lineno} column {exc.colno} (char {exc.pos})"
        raise BadRequest(f"invalid JSON: {exc.msg} {where}", code="invalid_json") from None
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply", code="invalid_json") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise BadRequest(f"invalid JSON: {exc}", code="invalid_json") from None


def parse_json(body: bytes) -> Any:
    """The document in `body`, or its error (UnicodeDecodeError, json.JSONDecodeError, ValueError).

    pydantic-core's parser reads a beacon in about half json.loads' time. What it refuses
    is read again by json.loads, which takes some of it (a BOM, UTF-16, nesting deeper
    than 200, an escaped lone surrogate, which the events' checks then reject precisely)
    and words the error of the rest. Decoding is strict: json.loads would let a surrogate
    written in UTF-8 through (it decodes with surrogatepass), and no store or vendor takes one.
    Where both parsers read a text, they read the same values (tests/test_collect_parse.py).
    """
    try:
        return from_json(body, allow_inf_nan=False, cache_strings="keys")
    except ValueError:
        return json.loads(body.decode(json.detect_encoding(body)), parse_constant=_not_json)


def _escaped(text: str) -> str:
    """`text` with each lone surrogate written as its escape (\\ud800): valid UTF-8, and in JSON the same character."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_json(constant: str) -> NoReturn:
    """Python's parser takes NaN and Infinity; JSON has neither, and no vendor would take them."""
    raise ValueError(f"{constant} is not a JSON value (JSON.stringify sends null for it)")


def batch_events(document: Any) -> list[Any]:
    """The list of events of a batch; raises BadRequest saying what is wrong with its shape."""
    if isinstance(document, list):
        events = document
    elif isinstance(document, dict):
        if len(document) != 1 or "events" not in document:
            unknown = sorted(set(document) - {"events"})
            if unknown:
                raise BadRequest(f"unknown property {unknown[0]!r}: a batch is {{\"events\": [...]}}")
            raise BadRequest("events: required property is missing")
        events = document["events"]
        if not isinstance(events, list):
            raise BadRequest("events: must be a list of events")
    else:
        raise BadRequest('a batch is {"events": [...]} (or a bare list of events)')
    if not events:
        raise BadRequest("events: the batch is empty")
    return events
