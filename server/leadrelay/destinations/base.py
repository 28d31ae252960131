"""What every destination shares: the Destination base class, routing by kind and event name, and outcome classification.

A destination turns a canonical LeadEvent into one HTTP request (`prepare`) and
reads the vendor's answer (`error_message`, `keep`). Deciding what an answer
*means* (delivered, retry later, dead-letter) is the same for every vendor and
lives here, in `classify`.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import re
import time
from json.encoder import encode_basestring
from dataclasses import dataclass, field
from datetime import timezone
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import AfterValidator

from leadrelay.dialects.common import js_length, json_length
from leadrelay.event import Kind, LeadEvent

Verdict = Literal["delivered", "deduplicated", "unattributed", "retry", "dead"]

MAX_KEPT_CHARS = 4000  # the longest vendor answer (as text) kept with a delivery
MAX_ERROR_CHARS = 500  # the longest vendor explanation kept as a delivery's last error
WILDCARD = "*"
EPOCH_S_FROM = 1e9  # a Retry-After or X-RateLimit-Reset number this large is a time (2001 on), not a delay
EPOCH_MS_FROM = 1e11  # ... and this large, a time in milliseconds (Dub's), since in seconds it would be year 5138


def _base_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_base_url)]
"""A destination's base URL setting: http(s), kept without its trailing slash."""


class Undeliverable(Exception):
    """The event cannot be turned into a request this vendor would accept (dead-lettered, never sent)."""


JSON_CONTENT = {"Content-Type": "application/json"}


def encode_json(body: Any) -> bytes:
    """A request's JSON body, written as httpx's `json=` writes it (compact, UTF-8, no NaN)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass
class Outgoing:
    """One prepared HTTP request."""

    url: str
    json: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class RateLimit:
    """What a vendor's X-RateLimit-* headers said about the key's budget (for every worker using the key)."""

    remaining: int  # requests left, this one counted
    reset_s: float | None = None  # seconds until the vendor's window resets (X-RateLimit-Reset)
    limit: int | None = None  # requests a window (X-RateLimit-Limit; Dub's window is a minute)


@dataclass
class Outcome:
    """What one attempt came to, before the retry policy decides the delivery's next state."""

    verdict: Verdict
    status: int | None = None
    error: str | None = None  # for "deduplicated" and "unattributed", what the vendor's answer said
    response: Any = None
    retry_after: float | None = None  # seconds, from the vendor's Retry-After header (not capped)
    unhealthy: bool = False  # 401/403: the credentials are wrong, every delivery will fail
    rate_limit: RateLimit | None = None
    retry_for_s: float = 0.0  # "unattributed": how long after its first attempt the delivery is tried again


@dataclass(frozen=True)
class Unattributed:
    """A 2xx answer that recorded nothing: why, and how long after the first attempt trying again may help."""

    reason: str
    retry_for_s: float = 0.0


class Destination:
    """A vendor leadrelay forwards events to. Subclasses set `name` and implement the vendor-specific parts."""

    name: ClassVar[str]
    dialect: ClassVar[str]  # events in this dialect always go to this destination
    kinds: tuple[Kind, ...] = ("lead",)
    """The kinds of event it takes (leadrelay.event.Kind): an event of another kind is never routed to it.
    A vendor's settings may narrow them (reshape_sales)."""

    def __init__(self, settings: Any) -> None:
        """`settings` is leadrelay.config.Settings, which holds every vendor's settings."""
        self.settings = settings

    # -- configuration ------------------------------------------------------------

    @classmethod
    def missing(cls, settings: Any) -> str | None:
        """Why this destination is off (the settings it lacks), or None when it is on."""
        raise NotImplementedError

    @property
    def events(self) -> dict[str, str]:
        """{canonical event name: vendor event name}; the key '*' matches any other name."""
        raise NotImplementedError

    def names(self, kind: Kind) -> dict[str, str]:
        """The `events` mapping for events of `kind`, one of `kinds`: the same for every kind unless a vendor says otherwise."""
        return self.events

    def secrets(self) -> list[str]:
        """Values that must never be stored or shown (removed from errors and kept responses)."""
        raise NotImplementedError

    @property
    def rate_per_minute(self) -> int:
        """The most requests a minute one worker sends this vendor (0: not paced)."""
        raise NotImplementedError

    # -- routing ------------------------------------------------------------------

    def event_name(self, event: LeadEvent) -> str | None:
        """The vendor's name for `event`, or None when the event (or its kind) does not go to this vendor."""
        if event.kind not in self.kinds:
            return None
        return map_event_name(self.names(event.kind), event, self.dialect)

    def accepts(self, event: LeadEvent) -> bool:
        """Whether a delivery to this destination is scheduled for `event` (decided at intake)."""
        return self.refusal(event) is None

    def refusal(self, event: LeadEvent) -> str | None:
        """Why this destination does not take `event`, in words for the operator; None when it does."""
        if event.kind not in self.kinds:
            return f"it takes no {event.kind}s"
        if self.event_name(event) is None:
            return f"the event {event.name!r} is not mapped to one of its events ({self.name}_events)"
        return None

    # -- the request and the answer -------------------------------------------------

    def prepare(self, event: LeadEvent) -> Outgoing:
        """The request that delivers `event`; raises Undeliverable when there is none."""
        raise NotImplementedError

    def error_message(self, response: httpx.Response) -> str:
        """The vendor's own explanation of an error answer, at most MAX_ERROR_CHARS long."""
        body = _json_or_none(response)
        message = None
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                code = err.get("code")
                message = f"{code}: {err['message']}" if isinstance(code, str) else err["message"]
            elif isinstance(err, str):
                message = err
            elif isinstance(body.get("message"), str):
                message = body["message"]
        if message is None:
            message = response.text.strip() or response.reason_phrase or "no message"
        return message[:MAX_ERROR_CHARS]

    def keep(self, response: httpx.Response) -> Any:
        """What of a 2xx answer is stored with the delivery: its JSON body (or text), size-capped."""
        return kept_body(response)

    def duplicate(self, kept: Any) -> str | None:
        """Why a 2xx answer (as kept) means the vendor had this event already and recorded nothing, or None."""
        return None

    def unattributed(self, kept: Any, event: LeadEvent | None) -> Unattributed | None:
        """Why a 2xx answer (as kept) to `event` means the vendor took it and recorded nothing it could credit, or None."""
        return None


def map_event_name(mapping: dict[str, str], event: LeadEvent, own_dialect: str) -> str | None:
    """Explicit mapping first, then the vendor's own dialect keeps its name, then the '*' wildcard.

    A mapped value of '*' means "the event's own name".
    """
    if event.name in mapping:
        target = mapping[event.name]
    elif event.dialect == own_dialect:
        return event.name
    elif WILDCARD in mapping:
        target = mapping[WILDCARD]
    else:
        return None
    return event.name if target == WILDCARD else target


# -- classifying an attempt ----------------------------------------------------------


def classify(
    destination: Destination, response: httpx.Response, now: float | None = None, event: LeadEvent | None = None
) -> Outcome:
    """2xx delivered (or deduplicated, or unattributed, when the vendor says so of `event`); 408, 429 and 5xx
    retried (honouring Retry-After); other answers dead-lettered at once.

    A secret the vendor echoes back is replaced by '***' before anything of the answer is kept: in the raw
    text in any spelling JSON allows, and again in the values decoded from it.
    """
    secrets = destination.secrets()
    now = time.time() if now is None else now
    clean = _cannot_hold(response, secrets)  # an ordinary answer: nothing of its body to look through
    if not clean:
        response = _without_secrets(response, secrets)
    status = response.status_code
    limit = rate_limit(response.headers, now)
    if 200 <= status < 300:
        kept = destination.keep(response) if clean else redact(destination.keep(response), secrets)
        duplicate = destination.duplicate(kept)
        verdict: Verdict = "delivered" if duplicate is None else "deduplicated"
        unattributed = destination.unattributed(kept, event) if duplicate is None else None
        if unattributed is not None:
            return Outcome(
                "unattributed", status=status, error=redact(unattributed.reason, secrets), response=kept,
                rate_limit=limit, retry_for_s=unattributed.retry_for_s,
            )  # fmt: skip
        return Outcome(verdict, status=status, error=redact(duplicate, secrets), response=kept, rate_limit=limit)
    kept = redact(kept_body(response), secrets)
    message = redact(f"HTTP {status} {destination.error_message(response)}", secrets)
    if status in (408, 429) or status >= 500:
        wait = retry_after(response.headers, now)
        return Outcome("retry", status=status, error=message, response=kept, retry_after=wait, rate_limit=limit)
    if 300 <= status < 400:
        location = redact(response.headers.get("location", "(nowhere)"), secrets)
        message = f"HTTP {status} unexpected redirect to {location}"
    refused = status in (401, 403)
    return Outcome("dead", status=status, error=message, response=kept, unhealthy=refused, rate_limit=limit)


def _cannot_hold(response: httpx.Response, secrets: list[str]) -> bool:
    """Whether the answer's body cannot hold a secret in any spelling, told from its bytes without decoding
    them: it is read as UTF-8 (no charset named), has no backslash (every escaped spelling needs one)
    and not a secret's own bytes. Then neither its text nor any value decoded from it holds one."""
    content = response.content
    if b"\\" in content or response.default_encoding != "utf-8" or "charset" in response.headers.get("content-type", "").lower():
        return False
    return not any(secret and secret.encode() in content for secret in secrets)


def _without_secrets(response: httpx.Response, secrets: list[str]) -> httpx.Response:
    """The answer with every spelling of a secret in its text replaced, before it is decoded or cut short."""
    if not any(secrets):
        return response
    text = response.text
    cleaned = redact(text, secrets)
    if cleaned == text:
        return response
    return httpx.Response(response.status_code, headers=response.headers, content=cleaned.encode())


def classify_error(exc: Exception) -> Outcome:
    """Timeouts and connection errors are retried; they never reach the vendor's error handling."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return Outcome("retry", error=f"timeout: no answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        detail = str(exc) or type(exc).__name__
        return Outcome("retry", error=f"connection error: {detail}")
    raise exc


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None; see `seconds_until` for the forms it takes.

    Not capped: the retry policy caps it at retry_max_delay_s.
    """
    value = headers.get("retry-after")
    return seconds_until(value, time.time() if now is None else now) if value else None


def rate_limit(headers: httpx.Headers, now: float | None = None) -> RateLimit | None:
    """The key's budget from X-RateLimit-Remaining (with -Reset and -Limit when given), or None without it."""
    remaining = _count(headers.get("x-ratelimit-remaining"))
    if remaining is None:
        return None
    reset = headers.get("x-ratelimit-reset")
    reset_s = seconds_until(reset, time.time() if now is None else now) if reset else None
    return RateLimit(remaining, reset_s, _count(headers.get("x-ratelimit-limit")))


def seconds_until(value: str, now: float) -> float | None:
    """Seconds from `now` until the moment a Retry-After or X-RateLimit-Reset value names; None when unreadable.

    Takes delta-seconds (`120`, `1.5`), an HTTP date, and the epoch times vendors send instead: in seconds
    (`1763800000`) or, as Dub does, in milliseconds (`1763800000000`). A moment passed is 0.
    """
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            return None
        if number >= EPOCH_MS_FROM:
            return max(0.0, number / 1000 - now)
        if number >= EPOCH_S_FROM:
            return max(0.0, number - now)
        return number
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": UTC, of unknown origin
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _count(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def kept_body(response: httpx.Response) -> Any:
    if len(response.content) <= MAX_KEPT_CHARS:
        body = _json_or_none(response)
        if body is not None:
            return body
    text = response.text
    return {"text": text[:MAX_KEPT_CHARS], "truncated": len(text) > MAX_KEPT_CHARS} if text else None


def redact(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret replaced by '***': in strings, in the keys and strings of JSON structures,
    and in every spelling JSON allows for it (`dub\\/key` as PHP writes a '/', `\\u0064ub_key`)."""
    patterns = _spellings(tuple(s for s in secrets if s))
    if not patterns or value is None:
        return value
    try:
        return _redacted(value, patterns)
    except RecursionError:  # a structure too deep to walk is not kept
        return "(too deeply nested to keep)"


def _redacted(value: Any, patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> Any:
    if isinstance(value, str):
        for secret, pattern in patterns:
            if secret in value or "\\" in value:
                value = pattern.sub("***", value)
        return value
    if isinstance(value, dict):
        return {_redacted(k, patterns): _redacted(v, patterns) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, patterns) for v in value]
    return value


@functools.lru_cache(maxsize=32)
def _spellings(secrets: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Per secret, a pattern matching it with each character as itself or JSON-escaped (\\uXXXX in any case, \\/ ...)."""
    return tuple((secret, re.compile("".join(_char_spellings(c) for c in secret))) for secret in secrets)


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _char_spellings(char: str) -> str:
    forms = [re.escape(char)]
    if ord(char) < 0x10000:
        forms.append(r"\\u" + "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{ord(char):04x}"))
    if char in _SHORT_ESCAPES:
        forms.append(re.escape(_SHORT_ESCAPES[char]))
    return "(?:" + "|".join(forms) + ")"


def _json_or_none(response: httpx.Response) -> Any:
    """The JSON body (UTF-8, as JSON is sent), or None."""
    try:
        return json.loads(response.content)
    except ValueError:
        return None


# -- helpers for building vendor bodies -----------------------------------------------


def fit_metadata(metadata: dict[str, Any], limit: int) -> dict[str, Any]:
    """`metadata` cut to at most `limit` JSON characters: the largest properties are dropped first.

    Linear in the size of the metadata: each property is measured once, and the JSON length of
    an object is the sum of its entries' lengths, their commas and its braces.
    """
    if json_length(metadata, limit) <= limit:
        return metadata
    properties: dict[str, Any] = metadata.get("properties") or {}
    rest = {k: v for k, v in metadata.items() if k not in ("properties", "truncated")}
    size = {key: _entry_length(key, value) for key, value in properties.items()}
    total = json_length({**rest, "properties": {}, "truncated": True}) + sum(size.values()) + max(len(size) - 1, 0)
    kept = dict(properties)
    for key in sorted(size, key=size.__getitem__, reverse=True):
        if total <= limit:
            break
        total -= size[key] + (1 if len(kept) > 1 else 0)  # and its comma, unless it was alone
        del kept[key]
    out = {**rest, "properties": kept, "truncated": True}
    if total > limit:  # even without properties it is too long: keep only the basics
        out = {k: out[k] for k in ("value", "currency", "truncated") if k in out}
    return out


def _entry_length(key: str, value: Any) -> int:
    """The JSON length of `"key":value` in an object (a string is written without building an encoder)."""
    return _string_length(key) + 1 + (_string_length(value) if isinstance(value, str) else json_length(value))


def _string_length(text: str) -> int:
    written = encode_basestring(text)  # what json.dumps(text, ensure_ascii=False) writes, quotes included
    return len(written) if written.isascii() else js_length(written)


def customer_id(event: LeadEvent, limit: int = 100) -> str:
    """The customer id sent to Dub/PIMMS: the event's customer id, else its email, else the visitor id, else the event id.

    The first candidate that fits 1..`limit` characters wins, so the same person gets the same id every time.
    """
    email_address = event.customer.email.lower() if event.customer.email else None
    for candidate in (event.customer.external_id, email_address, event.visitor_id, event.id):
        if candidate and len(candidate) <= limit:
            return candidate
    return event.id[:limit]


def is_http_url(value: str | None) -> bool:
    return bool(value) and value.startswith(("http://", "https://")) and " " not in value  # type: ignore[union-attr]
