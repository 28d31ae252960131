"""Croct: `croct.track('leadGenerated', payload)`, validated by the rules Croct publishes (seed 000).

Optional properties may be left out but not set to null, as in Croct's own SDK.
Beyond the seed, `currency` is capped at 10 characters, `avatar` at 500 and
`companyUrl` at 200, as Croct's SDK does (`@croct/sdk` schemas).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from leadrelay.dialects.base import CHECKED, DialectError, FieldError
from leadrelay.dialects.common import js_length, length, real_date, url, validate
from leadrelay.event import Address, Customer, LeadEvent

if TYPE_CHECKING:
    from leadrelay.protocol import Envelope

SUPPORTED_TYPES: frozenset[str] = frozenset({"leadGenerated"})
"""The Croct event types validated exactly; the croct_event_types setting may add others."""



class CroctSettings(BaseModel):
    croct_event_types: list[str] = Field(default_factory=lambda: ["leadGenerated"])
    """The Croct event types accepted: leadGenerated is validated exactly, others must be objects."""


MAX_ATTRIBUTES = 10
MAX_ATTRIBUTE_NAME = 20
MAX_STRING = 100
MAX_COLLECTION = 30
MAX_MAP_KEY = 50
ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


Text50 = Annotated[str, Strict(), AfterValidator(length(1, 50))]
Text100 = Annotated[str, Strict(), AfterValidator(length(1, 100))]
Text254 = Annotated[str, Strict(), AfterValidator(length(1, 254))]
Text30 = Annotated[str, Strict(), AfterValidator(length(1, 30))]
Date = Annotated[str, Strict(), AfterValidator(real_date)]
Avatar = Annotated[str, Strict(), AfterValidator(url), AfterValidator(length(0, 500))]
CompanyUrl = Annotated[str, Strict(), AfterValidator(url), AfterValidator(length(0, 200))]


class _Strict(BaseModel):
    """Croct's objects: known properties only, exact JSON types, no nulls."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="wrap")
    @classmethod
    def _not_null(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Nulls are reported with every other broken rule of the object, in one check per object
        rather than one call per property (this runs on every beacon)."""
        if not isinstance(data, dict) or None not in data.values():
            return handler(data)
        nulls = [key for key, value in data.items() if value is None and key in cls.model_fields]
        if not nulls:
            return handler(data)
        problems = [_problem("null", "must not be null: leave the property out instead", (key,), None) for key in nulls]
        try:
            handler({key: value for key, value in data.items() if key not in nulls})
        except ValidationError as exc:
            problems.extend(_again(err) for err in exc.errors(include_url=False))
        order = {key: i for i, key in enumerate(data)}
        problems.sort(key=lambda problem: order.get(problem["loc"][0], len(order)) if problem["loc"] else -1)
        raise ValidationError.from_exception_data(cls.__name__, problems)


def _again(err: ErrorDetails) -> InitErrorDetails:
    """An error of a validation, to be raised again with others (its type, message and context kept)."""
    context = err.get("ctx")
    return InitErrorDetails(type=PydanticCustomError(err["type"], err["msg"], context), loc=err["loc"], input=err["input"])


class LeadAddress(_Strict):
    street: Text100 | None = None
    district: Text100 | None = None
    city: Text100 | None = None
    region: Text100 | None = None
    country: Text100 | None = None
    postalCode: Annotated[str, Strict(), AfterValidator(length(1, 20))] | None = None


class LeadProfile(_Strict):
    """The `lead` property: a Croct user profile."""

    firstName: Text50 | None = None
    lastName: Text50 | None = None
    birthDate: Date | None = None
    gender: Literal["male", "female", "neutral", "unknown"] | None = None
    email: Text254 | None = None
    alternateEmail: Text254 | None = None
    phone: Text30 | None = None
    alternatePhone: Text30 | None = None
    address: LeadAddress | None = None
    avatar: Avatar | None = None
    company: Annotated[str, Strict(), AfterValidator(length(1, 200))] | None = None
    companyUrl: CompanyUrl | None = None
    jobTitle: Text50 | None = None
    custom: dict[str, Any] | None = None

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problems = custom_attribute_errors(value or {})
        if problems:
            raise ValidationError.from_exception_data("custom", problems)
        return value


class LeadGenerated(_Strict):
    """The `leadGenerated` payload, plus the `userId` the seed's own snippet passes."""

    userId: Text100 | None = None
    leadId: Text100 | None = None
    currency: Annotated[str, Strict(), AfterValidator(length(1, 10))] | None = None
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    lead: LeadProfile | None = None


def _problem(rule: str, message: str, loc: tuple[str | int, ...], value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(rule, message), loc=loc, input=value)


def _primitive_errors(value: Any, loc: tuple[str | int, ...]) -> list[InitErrorDetails]:
    """A string of at most 100 characters, a finite number, a boolean or null."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        ok = isinstance(value, int) or math.isfinite(value)
        return [] if ok else [_problem("finite_number", "must be a finite number", loc, value)]
    if isinstance(value, str):
        if js_length(value) > MAX_STRING:
            return [_problem("length", f"must be at most {MAX_STRING} characters long", loc, value)]
        return []
    if isinstance(value, list | dict):
        message = (
            "too deeply nested: a list or map inside a list or map may hold only strings, numbers, booleans or null"
        )
        return [_problem("nesting", message, loc, value)]
    return [_problem("attribute_type", "must be a string, number, boolean, null, list or map", loc, value)]


def _value_errors(value: Any, loc: tuple[str | int, ...], depth: int) -> list[InitErrorDetails]:
    """A custom attribute value; `depth` is how many more levels of lists and maps may follow."""
    if depth == 0 or not isinstance(value, list | dict):
        return _primitive_errors(value, loc)
    problems: list[InitErrorDetails] = []
    if len(value) > MAX_COLLECTION:
        kind = "list may hold at most 30 elements" if isinstance(value, list) else "map may hold at most 30 entries"
        problems.append(_problem("collection_size", f"a {kind}", loc, value))
    items = enumerate(value) if isinstance(value, list) else value.items()
    for key, item in items:
        if isinstance(key, str) and js_length(key) > MAX_MAP_KEY:
            problems.append(
                _problem("map_key", f"map keys must be at most {MAX_MAP_KEY} characters long", (*loc, key), key)
            )
        problems.extend(_value_errors(item, (*loc, key), depth - 1))
    return problems


def custom_attribute_errors(custom: dict[str, Any]) -> list[InitErrorDetails]:
    """Every way `custom` breaks Croct's custom attribute rules, located relative to it."""
    problems: list[InitErrorDetails] = []
    if len(custom) > MAX_ATTRIBUTES:
        problems.append(_problem("too_many_attributes", f"at most {MAX_ATTRIBUTES} attributes", (), custom))
    for name, value in custom.items():
        if js_length(name) > MAX_ATTRIBUTE_NAME:
            message = f"attribute names must be at most {MAX_ATTRIBUTE_NAME} characters long"
            problems.append(_problem("attribute_name", message, (name,), name))
        elif not ATTRIBUTE_NAME.fullmatch(name):
            message = (
                "attribute names must start with a letter or underscore, followed by letters, digits or underscores"
            )
            problems.append(_problem("attribute_name", message, (name,), name))
        problems.extend(_value_errors(value, (name,), depth=2))
    return problems


# -- The same rules, checked in one pass (leadrelay.fastpath) ----------------------------
# Lengths here count code points, which equal JavaScript's UTF-16 lengths only when no
# character is astral: the fast path runs only on such bodies. Stricter than the models
# above where that is simpler (URLs, nulls); tests/test_fastpath.py checks that whatever
# passes here passes the models too, giving the same answer and the same stored event,
# and that both state the same properties and bounds.

Chars20 = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Chars30 = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Chars50 = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Chars100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Chars200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Chars254 = Annotated[str, StringConstraints(min_length=1, max_length=254)]
# A day every month has (01-28), or one its month surely has (29-30 but in February, 31 in the long
# months), of a year 0001-9999: a real date by pattern alone, checked without a call into Python.
# February 29 is left to the exact way (it needs a leap year).
REAL_DAY = (
    r"^(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)$"
)
CheckedDate = Annotated[str, StringConstraints(pattern=REAL_DAY)]
# A plain http(s) URL whose every character is printable ASCII: common.is_url takes all of them
# (no port to range-check, no IPv6 brackets, nothing urlsplit strips); others go the exact way.
CHECKED_URL = r"^https?://[A-Za-z0-9.-]+(?:[/?#][!-~]*)?$"
CheckedAvatar = Annotated[str, StringConstraints(max_length=500, pattern=CHECKED_URL)]
CheckedCompanyUrl = Annotated[str, StringConstraints(max_length=200, pattern=CHECKED_URL)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Primitive = None | bool | int | Finite | Annotated[str, StringConstraints(max_length=MAX_STRING)]
MapKey = Annotated[str, StringConstraints(max_length=MAX_MAP_KEY)]
Collection = Annotated[list[Primitive], Field(max_length=MAX_COLLECTION)] | Annotated[
    dict[MapKey, Primitive], Field(max_length=MAX_COLLECTION)
]
AttributeValue = (
    Primitive
    | Annotated[list[Primitive | Collection], Field(max_length=MAX_COLLECTION)]
    | Annotated[dict[MapKey, Primitive | Collection], Field(max_length=MAX_COLLECTION)]
)
AttributeName = Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE_NAME, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


# A value LeadGenerated takes (a finite number >= 0), checked without a call into Python: an integer
# up to 2**63 - 1 (a larger one goes the exact way) or a finite float. The output is not used, so an
# integer stays an integer in the stored payload.
CheckedAmount = Annotated[int, Field(ge=0, le=2**63 - 1)] | Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CheckedAddress(TypedDict, total=False):
    __pydantic_config__ = CHECKED  # type: ignore[misc]

    street: Chars100
    district: Chars100
    city: Chars100
    region: Chars100
    country: Chars100
    postalCode: Chars20


class CheckedLead(TypedDict, total=False):
    __pydantic_config__ = CHECKED  # type: ignore[misc]

    firstName: Chars50
    lastName: Chars50
    birthDate: CheckedDate
    gender: Literal["male", "female", "neutral", "unknown"]
    email: Chars254
    alternateEmail: Chars254
    phone: Chars30
    alternatePhone: Chars30
    address: CheckedAddress
    avatar: CheckedAvatar
    company: Chars200
    companyUrl: CheckedCompanyUrl
    jobTitle: Chars50
    custom: Annotated[dict[AttributeName, AttributeValue], Field(max_length=MAX_ATTRIBUTES)]


class CheckedLeadGenerated(TypedDict, total=False):
    __pydantic_config__ = CHECKED  # type: ignore[misc]

    userId: Chars100
    leadId: Chars100
    currency: Annotated[str, StringConstraints(min_length=1, max_length=10)]
    value: CheckedAmount
    lead: CheckedLead




def _customer(payload: dict[str, Any]) -> Customer:
    """The customer of a payload that passed Croct's rules (so every value has its documented type)."""
    lead = payload.get("lead", {})
    a = lead.get("address")
    address = None
    if a is not None:
        address = Address(
            street=a.get("street"),
            district=a.get("district"),
            city=a.get("city"),
            region=a.get("region"),
            country=a.get("country"),
            postal_code=a.get("postalCode"),
        )
    return Customer(
        external_id=payload.get("userId"),
        first_name=lead.get("firstName"),
        last_name=lead.get("lastName"),
        emails=[e for e in (lead.get("email"), lead.get("alternateEmail")) if e is not None],
        phones=[p for p in (lead.get("phone"), lead.get("alternatePhone")) if p is not None],
        avatar=lead.get("avatar"),
        address=address,
        company=lead.get("company"),
        company_url=lead.get("companyUrl"),
        job_title=lead.get("jobTitle"),
        birth_date=lead.get("birthDate"),
        gender=lead.get("gender"),
        custom=dict(lead.get("custom", {})),
    )


def patch(lead: dict[str, Any]) -> dict[str, Any]:
    """Croct's profile patch for `lead`: one 'set' per attribute, each custom attribute on its own."""
    operations: list[dict[str, Any]] = []
    for key, value in lead.items():
        if key == "custom":
            for name, v in value.items():
                operations.append({"type": "set", "path": "custom." + name, "value": v})
        else:
            operations.append({"type": "set", "path": key, "value": value})
    return {"operations": operations}


class CroctDialect:
    """Croct's `leadGenerated` event, plus any other event types the site configures.

    leadGenerated is validated exactly; another configured type (whose schema the
    seeds do not give) must be a JSON object and is kept whole as the event's properties.
    """

    name = "croct"
    checked_type = Literal["leadGenerated"]
    checked_payload = CheckedLeadGenerated

    def __init__(self, types: Iterable[str] = ("leadGenerated",)) -> None:
        self.types = frozenset(types) | SUPPORTED_TYPES

    def configured(self, settings: CroctSettings) -> CroctDialect:
        return CroctDialect(settings.croct_event_types)

    def parse(self, envelope: Envelope) -> LeadEvent:
        if envelope.type is None or envelope.type not in self.types:
            supported = ", ".join(sorted(self.types))
            problem = (
                "missing Croct event type"
                if envelope.type is None
                else f"unsupported Croct event type '{envelope.type}'"
            )
            message = f"{problem}; supported types: {supported} (see the croct_event_types setting)"
            raise DialectError([FieldError(path="type", message=message, rule="event_type")])
        if envelope.type == "leadGenerated":
            validate(LeadGenerated, envelope.payload)
        return self._event(envelope.id, envelope.type, envelope.payload)

    def event_of(self, envelope: dict[str, Any]) -> LeadEvent:
        """The event of an accepted envelope: a leadGenerated passed Croct's rules, another type is kept whole."""
        return self._event(envelope["id"], envelope["type"], envelope["payload"])

    def name_of(self, envelope: dict[str, Any]) -> str:
        return str(envelope["type"])

    def _event(self, event_id: str, event_type: str, payload: dict[str, Any]) -> LeadEvent:
        if event_type == "leadGenerated":
            return self._lead_generated(event_id, payload)
        return LeadEvent(id=event_id, name=event_type, dialect=self.name, properties=payload, raw=payload)

    def _lead_generated(self, event_id: str, payload: dict[str, Any]) -> LeadEvent:
        value = payload.get("value")
        return LeadEvent(
            id=event_id,
            name="leadGenerated",
            dialect=self.name,
            value=None if value is None else float(value),
            currency=payload.get("currency"),
            source_id=payload.get("leadId"),
            customer=_customer(payload),
            raw=payload,
        )

    def answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        """The processed event Croct's `track()` resolves to: leadId, currency, value and patch."""
        payload: dict[str, Any] = envelope["payload"]
        if envelope["type"] != "leadGenerated":
            return dict(payload)
        out: dict[str, Any] = {key: payload[key] for key in ("leadId", "currency", "value") if key in payload}
        if "lead" in payload:
            out["patch"] = patch(payload["lead"])
        return out


DIALECT = CroctDialect()
