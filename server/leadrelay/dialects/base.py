"""What a dialect is, and how validation failures become field-level errors."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError

from leadrelay.event import LeadEvent
from leadrelay.protocol import Envelope, FieldError


class DialectError(Exception):
    """The payload breaks the vendor's rules; `errors` says where and how."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


class Dialect(Protocol):
    name: str

    def parse(self, envelope: Envelope) -> LeadEvent:
        """Validate `envelope.payload` exactly and map it to the canonical event.

        Raises DialectError. Server-side enrichment (ip, user agent, cookies,
        received_at) is done by the caller.
        """

    def answer(self, event: LeadEvent) -> dict[str, Any] | None:
        """What the client gets back for an accepted event (Croct's processed event), or None."""


def format_path(loc: tuple[int | str, ...]) -> str:
    """('lead', 'address', 'state') -> 'lead.address.state'; list indexes as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


_MESSAGES = {
    "extra_forbidden": "unknown property",
    "missing": "required property is missing",
}


def errors_from_validation(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[FieldError]:
    """Turn pydantic's errors into FieldErrors with dotted paths and plain messages."""
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        rule = err["type"]
        message = _MESSAGES.get(rule) or err["msg"]
        if rule in ("value_error", "assertion_error") and message.startswith(("Value error, ", "Assertion failed, ")):
            message = message.split(", ", 1)[1]
        errors.append(FieldError(path=format_path(prefix + tuple(err["loc"])), message=message, rule=rule))
    return errors
