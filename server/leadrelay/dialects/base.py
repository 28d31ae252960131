"""What a dialect is, and how validation failures become field-level errors."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from leadrelay.event import LeadEvent

if TYPE_CHECKING:  # the envelope is the collector's (leadrelay.protocol), which reads the vendor registry
    from leadrelay.protocol import Envelope


class FieldError(BaseModel):
    """One broken rule: where (a dotted path into the payload), what, and the rule's short name."""

    path: str
    message: str
    rule: str


CHECKED = ConfigDict(extra="forbid", strict=True)
"""Known properties only, exact JSON types: a checked schema may be stricter than the exact rules, never looser."""


class DialectError(Exception):
    """The payload breaks the vendor's rules; `errors` says where and how."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


class Dialect(Protocol):
    name: str

    def configured(self, settings: Any) -> Dialect:
        """This dialect as the site's settings configure it (most dialects have nothing to configure)."""

    def parse(self, envelope: Envelope) -> LeadEvent:
        """Validate `envelope.payload` exactly and map it to the canonical event.

        Raises DialectError. Server-side enrichment (ip, user agent, cookies,
        received_at) is done by the caller.
        """

    def answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        """What the client gets back for an accepted envelope (Croct's processed event), or None."""


@runtime_checkable
class CheckedDialect(Dialect, Protocol):
    """A dialect whose valid payloads a schema can also recognise in one pass (leadrelay.fastpath)."""

    checked_type: Any
    """The envelope `type`s the checked schema takes (a Literal)."""
    checked_payload: Any
    """A TypedDict: whatever it takes (with no astral character) `parse` accepts too.

    It must also bound nesting within collect.MAX_DEPTH, as croct's does: the fast path
    skips the exact path's depth check (a payload typed `dict[str, Any]` would need one).
    """

    def event_of(self, envelope: dict[str, Any]) -> LeadEvent:
        """The event of an envelope `parse` accepted (as a dict), mapped as `parse` maps it, without validating again."""

    def name_of(self, envelope: dict[str, Any]) -> str:
        """The name of the event of an envelope the checked schema took (what `event_of(envelope).name` would say)."""


def format_path(loc: tuple[int | str, ...]) -> str:
    """('lead', 'address', 'state') -> 'lead.address.state'; list indexes as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"


# Plain messages for pydantic's built-in error types; `{name}` is filled from the error's context.
_MESSAGES = {
    "extra_forbidden": "unknown property",
    "missing": "required property is missing",
    "string_type": "must be a string",
    "bool_type": "must be a boolean (true or false)",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "list_type": "must be a list",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be greater than or equal to {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be less than or equal to {le}",
    "string_too_short": "must be at least {min_length} characters long",
    "string_too_long": "must be at most {max_length} characters long",
    "string_pattern_mismatch": "must match {pattern}",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
}


def _message(err: Any) -> str:
    """The plain message of one pydantic error (custom errors keep their own message)."""
    rule: str = err["type"]
    template = _MESSAGES.get(rule)
    if template is not None:
        try:
            return re.sub(r"\b1 (item|character)s\b", r"1 \1", template.format(**err.get("ctx", {})))
        except (KeyError, IndexError):
            pass
    message: str = err["msg"]
    if rule in ("value_error", "assertion_error") and message.startswith(("Value error, ", "Assertion failed, ")):
        return message.split(", ", 1)[1]
    if message.startswith("Input should be "):
        return "must be " + message.removeprefix("Input should be ")
    return message


def errors_from_validation(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[FieldError]:
    """Turn pydantic's errors into FieldErrors with dotted paths and plain messages."""
    return [
        FieldError(path=format_path(prefix + tuple(err["loc"])), message=_message(err), rule=err["type"])
        for err in exc.errors(include_url=False)
    ]
