"""Validators shared by several dialects: lengths, URLs, emails, phones, hashes, dates, numbers.

Lengths are counted as JavaScript counts them (UTF-16 code units), because the
vendors validate with JavaScript: an emoji such as "🐊" is 2 characters long.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Strict, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from leadrelay.dialects.base import DialectError, FieldError, errors_from_validation

M = TypeVar("M", bound=BaseModel)

# The email syntax zod's `.email()` checks (what Dub and PIMMS run on their side).
EMAIL_PATTERN = re.compile(
    r"(?!\.)(?!.*\.\.)[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+\-]@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}"
)
E164_PATTERN = re.compile(r"\+[1-9][0-9]{1,14}")
SHA256_PATTERN = re.compile(r"[0-9A-Fa-f]{64}")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
URL_FORBIDDEN_PATTERN = re.compile(r"[\s\x00-\x1f\x7f]")
URL_SCHEME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")

URL_MESSAGE = "must be a well-formed URL (absolute, with a scheme and a host, no spaces)"
EMAIL_MESSAGE = "must be a valid email address"
E164_MESSAGE = "must be a phone number in E.164 format: '+', then 2 to 15 digits, e.g. +40712345678"
SHA256_MESSAGE = "a SHA-256 hash is 64 hexadecimal characters"


def js_length(value: str) -> int:
    """The length JavaScript gives `value` (UTF-16 code units)."""
    if value.isascii():
        return len(value)
    return len(value.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Length:
    """A string length bound as a validator; an object, not a closure, so that tests can read its bounds."""

    min_length: int = 0
    max_length: int | None = None

    def __call__(self, value: str) -> str:
        size = js_length(value)
        if size < self.min_length or (self.max_length is not None and size > self.max_length):
            raise PydanticCustomError("length", self.message)
        return value

    @property
    def message(self) -> str:
        low, high = self.min_length, self.max_length
        if high is None:
            return "must not be empty" if low == 1 else f"must be at least {low} characters long"
        if low:
            return f"must be between {low} and {high} characters long"
        return f"must be at most {high} characters long"


def length(min_length: int = 0, max_length: int | None = None) -> Length:
    """A validator that bounds a string's length, with one message naming both bounds."""
    return Length(min_length, max_length)


def is_url(value: str) -> bool:
    """An absolute URL with a scheme and a host, and no spaces or control characters."""
    if URL_FORBIDDEN_PATTERN.search(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return bool(URL_SCHEME_PATTERN.fullmatch(parts.scheme) and parts.hostname)


def url(value: str) -> str:
    """Validator: a well-formed absolute URL."""
    if not is_url(value):
        raise PydanticCustomError("url", URL_MESSAGE)
    return value


def email(value: str) -> str:
    """Validator: an email address, by zod's rules."""
    if not EMAIL_PATTERN.fullmatch(value):
        raise PydanticCustomError("email", EMAIL_MESSAGE)
    return value


def real_date(value: str) -> str:
    """Validator: 'YYYY-MM-DD' naming a day that exists (2023-02-30 does not)."""
    try:
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError(value)
        datetime.date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date", "must be a real date in YYYY-MM-DD") from None
    return value


def ip_address(value: str) -> str:
    """Validator: an IPv4 or IPv6 address, returned in its canonical form."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise PydanticCustomError("ip_address", "must be an IPv4 or IPv6 address") from None


def e164(value: str) -> str:
    """Validator: a phone number in E.164 format."""
    if not E164_PATTERN.fullmatch(value):
        raise PydanticCustomError("e164", E164_MESSAGE)
    return value


def plain_or_sha256(
    check: Callable[[str], str], looks_plain: Callable[[str], bool], plain: str
) -> Callable[[str], str]:
    """A validator for a value given in plaintext (checked by `check`) or as its SHA-256 hex digest.

    A value that looks like plaintext gets `check`'s verdict; else a 64-character value
    is taken for a broken hash; anything else is told both options.
    """
    both = f"must be {plain} or its SHA-256 hash (64 hexadecimal characters)"

    def validate(value: str) -> str:
        if SHA256_PATTERN.fullmatch(value):
            return value
        if looks_plain(value):
            return check(value)
        if js_length(value) == 64:
            raise PydanticCustomError("sha256", SHA256_MESSAGE)
        raise PydanticCustomError("plain_or_sha256", both)

    return validate


email_or_sha256 = plain_or_sha256(email, lambda v: "@" in v, "an email address")
phone_or_sha256 = plain_or_sha256(
    e164, lambda v: v.startswith("+"), "a phone number in E.164 format (e.g. +40712345678)"
)


def one_or_many(check: Callable[[str], str]) -> WrapValidator:
    """Accept a string or a list of strings, always giving a list; a lone string's error has no index."""

    def wrap(value: Any, handler: Callable[[Any], list[str]]) -> list[str]:
        if isinstance(value, str):
            return [check(value)]
        if isinstance(value, list):
            return handler(value)
        raise PydanticCustomError("string_or_list", "must be a string or a list of strings")

    return WrapValidator(wrap)


def finite(value: float) -> float:
    """Validator: no NaN nor infinity (they have no JSON form)."""
    if not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be a finite number")
    return value


def whole_number(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    """A before-validator for counts: an integer (3 or 3.0, not true), within the bounds."""
    if minimum is not None and maximum is not None:
        bounds = f" between {minimum} and {maximum}"
    elif minimum is not None:
        bounds = f" greater than or equal to {minimum}"
    else:
        bounds = f" less than or equal to {maximum}" if maximum is not None else ""
    message = f"must be a whole number{bounds}"

    def check(value: Any) -> int:
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral:
            raise PydanticCustomError("whole_number", message)
        number = int(value)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise PydanticCustomError("whole_number", message)
        return number

    return check


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""json.dumps(value, ensure_ascii=False, separators=(",", ":")), without building an encoder per call."""


def json_length(value: Any, limit: int | None = None) -> int:
    """The length of `JSON.stringify(value)` in JavaScript (UTF-16 code units, no spaces).

    With `limit`, a text short enough to fit whatever its characters are is not measured exactly.
    """
    text = _COMPACT.encode(value)
    if limit is not None and 2 * len(text) <= limit:
        return len(text)
    return js_length(text)


Str = Annotated[str, Strict()]
Url = Annotated[str, Strict(), AfterValidator(url)]
Email = Annotated[str, Strict(), AfterValidator(email)]
Number = Annotated[float, Strict(), AfterValidator(finite)]


def validate(model: type[M], payload: dict[str, Any], extra: Iterable[FieldError] = ()) -> M:
    """Validate `payload` with `model`; raise one DialectError with every broken rule (model's and `extra`)."""
    errors = list(extra)
    try:
        result = model.model_validate(payload)
    except ValidationError as exc:
        raise DialectError(errors_from_validation(exc) + errors) from None
    if errors:
        raise DialectError(errors)
    return result
