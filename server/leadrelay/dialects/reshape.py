"""DATA Reshape: the object given to `reshape.push({...})` or POSTed to its server API (seed 003).

Every object keeps the keys the reference does not list (e.g. `user.new_customer`
in the seed's own examples); they reach LeadEvent.raw untouched. Listed keys are
checked, and may be null (left out). `user.email` and `user.phone` items are kept as
given, so the customer's emails and phones may be SHA-256 hex digests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints
from pydantic_core import PydanticCustomError
from typing_extensions import Required, TypedDict

from leadrelay.dialects.common import (
    Number,
    Str,
    checked_number,
    email_or_sha256,
    ip_address,
    length,
    one_or_many,
    phone_or_sha256,
    validate,
    whole_number,
)
from leadrelay.event import Address, Consent, Context, Customer, LeadEvent
from leadrelay.protocol import CheckedUntypedEnvelope, Envelope, FieldError

LEAD_EVENTS = ("lead_created", "lead_qualified", "lead_disqualified")
"""Events the server API only takes with a currency and an id (the deduplication key)."""

NonEmpty = Annotated[str, Strict(), AfterValidator(length(1))]
Ip = Annotated[str, Strict(), AfterValidator(ip_address)]
Emails = Annotated[list[Annotated[str, Strict(), AfterValidator(email_or_sha256)]], one_or_many(email_or_sha256)]
Phones = Annotated[list[Annotated[str, Strict(), AfterValidator(phone_or_sha256)]], one_or_many(phone_or_sha256)]
Count = Annotated[int, BeforeValidator(whole_number(0))]
Timestamp = Annotated[Number, Field(ge=0)]


class _Open(BaseModel):
    """A Reshape object: listed keys are checked, others are kept as they are."""

    model_config = ConfigDict(extra="allow", strict=True)


class ReshapeEvent(_Open):
    name: NonEmpty
    value: Number | None = None
    currency: NonEmpty | None = None
    exchange_rate: Number | None = None
    id: NonEmpty | None = None
    properties: dict[str, Any] | None = None


class ReshapeContext(_Open):
    url: Str | None = None
    page_type: Str | None = None
    environment: Literal["prod", "dev"] | None = None
    data_source: Str | None = None
    user_agent: Str | None = None
    override_ip: Ip | None = None
    overide_ip: Ip | None = None
    """The seed's spelling of override_ip."""
    landing_url: Str | None = None
    referring_url: Str | None = None


class ReshapeUser(_Open):
    id: Str | None = None
    email: Emails | None = None
    phone: Phones | None = None
    first_name: Str | None = None
    last_name: Str | None = None
    country: Str | None = None
    region: Str | None = None
    city: Str | None = None
    street: Str | None = None
    postal_code: Str | None = None
    orders_total_number: Count | None = None
    orders_canceled_number: Count | None = None
    orders_total_value: Number | None = None
    orders_refunded_value: Number | None = None
    predicted_value: Number | None = None
    created_at: Timestamp | None = None
    """Milliseconds since the Unix epoch."""
    properties: dict[str, Any] | None = None


class ReshapeConsent(_Open):
    analytics: bool | None = None
    personalization: bool | None = None
    marketing: bool | None = None


class ReshapePush(_Open):
    """One `reshape.push()` object."""

    event: ReshapeEvent
    context: ReshapeContext | None = None
    user: ReshapeUser | None = None
    consent: ReshapeConsent | None = None
    cookies: dict[str, Str] | None = None


def lead_event_errors(payload: dict[str, Any]) -> list[FieldError]:
    """Lead events need `event.currency` and `event.id`."""
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("name") not in LEAD_EVENTS:
        return []
    name = event["name"]
    needs = {"currency": "a currency", "id": "an id, the deduplication key"}
    return [
        FieldError(
            path=f"event.{key}", message=f"required property is missing: {name} events need {what}", rule="missing"
        )
        for key, what in needs.items()
        if event.get(key) is None
    ]


# -- The same rules, checked in one pass (leadrelay.fastpath) ----------------------------
# Listed keys are checked as the models check them (the same validators where Python
# checks them), unlisted keys are not; tests/test_fastpath.py checks that whatever
# passes here passes the models too, giving the same answer and the same stored event.

CHECKED_OPEN = ConfigDict(extra="ignore", strict=True)
CheckedNonEmpty = Annotated[str, StringConstraints(min_length=1)]
CheckedNumber = Annotated[Any, AfterValidator(checked_number())]
CheckedTimestamp = Annotated[Any, AfterValidator(checked_number(minimum=0))]
CheckedCount = Annotated[Any, AfterValidator(whole_number(0))]
CheckedIp = Annotated[str, AfterValidator(ip_address)]


def _checked_many(check: Callable[[str], str]) -> Callable[[Any], Any]:
    """A string or a list of strings, each passing `check`, as `one_or_many` takes them."""

    def validate(value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise PydanticCustomError("string_or_list", "must be a string or a list of strings")
        for item in items:
            check(item)
        return value

    return validate


CheckedEmails = Annotated[Any, AfterValidator(_checked_many(email_or_sha256))]
CheckedPhones = Annotated[Any, AfterValidator(_checked_many(phone_or_sha256))]


def _lead_event_complete(event: dict[str, Any]) -> dict[str, Any]:
    if lead_event_errors({"event": event}):
        raise PydanticCustomError("missing", "lead events need a currency and an id")
    return event


class CheckedReshapeEvent(TypedDict, total=False):
    __pydantic_config__ = CHECKED_OPEN  # type: ignore[misc]

    name: Required[CheckedNonEmpty]
    value: CheckedNumber | None
    currency: CheckedNonEmpty | None
    exchange_rate: CheckedNumber | None
    id: CheckedNonEmpty | None
    properties: dict[str, Any] | None


class CheckedReshapeContext(TypedDict, total=False):
    __pydantic_config__ = CHECKED_OPEN  # type: ignore[misc]

    url: str | None
    page_type: str | None
    environment: Literal["prod", "dev"] | None
    data_source: str | None
    user_agent: str | None
    override_ip: CheckedIp | None
    overide_ip: CheckedIp | None
    landing_url: str | None
    referring_url: str | None


class CheckedReshapeUser(TypedDict, total=False):
    __pydantic_config__ = CHECKED_OPEN  # type: ignore[misc]

    id: str | None
    email: CheckedEmails | None
    phone: CheckedPhones | None
    first_name: str | None
    last_name: str | None
    country: str | None
    region: str | None
    city: str | None
    street: str | None
    postal_code: str | None
    orders_total_number: CheckedCount | None
    orders_canceled_number: CheckedCount | None
    orders_total_value: CheckedNumber | None
    orders_refunded_value: CheckedNumber | None
    predicted_value: CheckedNumber | None
    created_at: CheckedTimestamp | None
    properties: dict[str, Any] | None


class CheckedReshapeConsent(TypedDict, total=False):
    __pydantic_config__ = CHECKED_OPEN  # type: ignore[misc]

    analytics: bool | None
    personalization: bool | None
    marketing: bool | None


class CheckedReshapePush(TypedDict, total=False):
    __pydantic_config__ = CHECKED_OPEN  # type: ignore[misc]

    event: Required[Annotated[CheckedReshapeEvent, AfterValidator(_lead_event_complete)]]
    context: CheckedReshapeContext | None
    user: CheckedReshapeUser | None
    consent: CheckedReshapeConsent | None
    cookies: dict[str, str] | None


CHECKED_ENVELOPE = CheckedUntypedEnvelope[Literal["reshape"], CheckedReshapePush]


# -- Mapping: from a payload that passed either check ------------------------------------


def _many(value: str | list[str] | None) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _ip(value: str | None) -> str | None:
    return None if value is None else ip_address(value)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _customer(user: dict[str, Any]) -> Customer:
    place = {key: user.get(key) for key in ("street", "city", "region", "country")}
    address = None
    if any(v is not None for v in place.values()) or user.get("postal_code") is not None:
        address = Address(**place, postal_code=user.get("postal_code"))
    return Customer(
        external_id=user.get("id"),
        first_name=user.get("first_name"),
        last_name=user.get("last_name"),
        emails=_many(user.get("email")),
        phones=_many(user.get("phone")),
        address=address,
        custom=dict(user.get("properties") or {}),
    )


def _context(context: dict[str, Any]) -> Context:
    return Context(
        url=context.get("url"),
        referrer=context.get("referring_url"),
        landing_url=context.get("landing_url"),
        page_type=context.get("page_type"),
        environment=context.get("environment"),
        data_source=context.get("data_source"),
        user_agent=context.get("user_agent"),
        ip=_ip(context.get("override_ip")) or _ip(context.get("overide_ip")),
    )


class ReshapeDialect:
    """DATA Reshape's push object."""

    name = "reshape"
    checked = CHECKED_ENVELOPE

    def parse(self, envelope: Envelope) -> LeadEvent:
        validate(ReshapePush, envelope.payload, lead_event_errors(envelope.payload))
        return self._push(envelope.id, envelope.payload)

    def event_of(self, envelope: dict[str, Any]) -> LeadEvent:
        """The event of an envelope that passed CHECKED_ENVELOPE."""
        return self._push(envelope["id"], envelope["payload"])

    def _push(self, event_id: str, payload: dict[str, Any]) -> LeadEvent:
        """The canonical event of a payload that passed Reshape's rules, mapped as the models read it."""
        event = payload["event"]
        consent = payload.get("consent")
        rate = _number(event.get("exchange_rate"))
        return LeadEvent(
            id=event_id,
            name=event["name"],
            dialect=self.name,
            value=_number(event.get("value")),
            currency=event.get("currency"),
            exchange_rate=1.0 if rate is None else rate,
            source_id=event.get("id"),
            customer=_customer(payload.get("user") or {}),
            context=_context(payload.get("context") or {}),
            consent=None
            if consent is None
            else Consent(
                analytics=consent.get("analytics"),
                personalization=consent.get("personalization"),
                marketing=consent.get("marketing"),
            ),
            cookies=dict(payload.get("cookies") or {}),
            properties=dict(event.get("properties") or {}),
            raw=payload,
        )

    def answer(self, event: LeadEvent) -> dict[str, Any] | None:
        return None


DIALECT = ReshapeDialect()
