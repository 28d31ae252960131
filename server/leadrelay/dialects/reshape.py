"""DATA Reshape: the object given to `reshape.push({...})` or POSTed to its server API (seed 003).

Its purchase event, `checkout_completed` (VENDORS.md), is a sale: LeadEvent.kind "sale", its
amount `event.value` in the currency's smallest unit, its invoice id `event.id`, its payment
processor `event.properties.payment_processor` when it names one Dub knows (else `custom`).
Every other event is a lead.

Every object keeps the keys the reference does not list (e.g. `user.new_customer`
in the seed's own examples); they reach LeadEvent.raw untouched. Listed keys are
checked, and may be null (left out). `user.email` and `user.phone` items are kept as
given, so the customer's emails and phones may be SHA-256 hex digests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError

from leadrelay.dialects.common import (
    Number,
    Str,
    email_or_sha256,
    ip_address,
    length,
    one_or_many,
    phone_or_sha256,
    validate,
    whole_number,
)
from leadrelay.dialects.dub import MAX_AMOUNT, PAYMENT_PROCESSORS, minor_unit, minor_units
from leadrelay.event import Address, Consent, Context, Customer, Kind, LeadEvent, Sale
from leadrelay.dialects.base import FieldError, errors_from_validation

if TYPE_CHECKING:
    from leadrelay.protocol import Envelope

LEAD_EVENTS = ("lead_created", "lead_qualified", "lead_disqualified")
"""Events the server API only takes with a currency and an id (the deduplication key)."""
PURCHASE = "checkout_completed"
"""Reshape's purchase: a sale, taken only with a value of 0 or more, an ISO 4217 currency and an id."""

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
    id: NonEmpty | None = None
    """The consent record's id, which Reshape needs when its audit trail is on."""


class ReshapeCookie(BaseModel):
    """One cookie in the list form of `cookies`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: NonEmpty
    value: Str


def cookies_as_map(payload: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Reshape's docs give `cookies` as a map and as a list of `{name, value}`: a list is read as its map
    (a later cookie of one name wins), and its items' errors are given with their index."""
    cookies = payload.get("cookies")
    if not isinstance(cookies, list):
        return payload, []
    errors: list[FieldError] = []
    mapped: dict[str, str] = {}
    for index, item in enumerate(cookies):
        try:
            cookie = ReshapeCookie.model_validate(item)
        except ValidationError as exc:
            errors.extend(errors_from_validation(exc, ("cookies", index)))
            continue
        mapped[cookie.name] = cookie.value
    return {**payload, "cookies": mapped}, errors


class ReshapePush(_Open):
    """One `reshape.push()` object."""

    event: ReshapeEvent
    context: ReshapeContext | None = None
    user: ReshapeUser | None = None
    consent: ReshapeConsent | None = None
    cookies: dict[str, Str] | None = None
    """A map of cookies; the list form is read as its map first (`cookies_as_map`)."""


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


def purchase_errors(payload: dict[str, Any]) -> list[FieldError]:
    """A purchase needs its value (0 or more, at most Dub's largest amount), an ISO 4217 currency and an id."""
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("name") != PURCHASE:
        return []
    needs = {"value": "its value", "currency": "a currency", "id": "an id, the deduplication key (the order's)"}
    missing = f"required property is missing: {PURCHASE} events need"
    errors = [
        FieldError(path=f"event.{key}", message=f"{missing} {what}", rule="missing")
        for key, what in needs.items()
        if event.get(key) is None
    ]
    value, currency = event.get("value"), event.get("currency")
    if isinstance(currency, str) and not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        message = "must be an ISO 4217 currency code: 3 letters, e.g. USD"
        errors.append(FieldError(path="event.currency", message=message, rule="currency"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(currency, str):
        if not 0 <= value or value * minor_unit(currency) > MAX_AMOUNT:  # compared unrounded: 1e308 * 100 is inf
            message = f"a purchase's value must be between 0 and {MAX_AMOUNT} in the currency's smallest unit"
            errors.append(FieldError(path="event.value", message=message, rule="range"))
    return errors


def _sale(event: ReshapeEvent) -> tuple[Kind, Sale | None, str | None]:
    """The kind, the sale part and the currency (upper case for a sale) of a validated event."""
    if event.name != PURCHASE:
        return "lead", None, event.currency
    assert event.value is not None and event.currency is not None  # purchase_errors
    processor = (event.properties or {}).get("payment_processor")
    sale = Sale(
        amount=minor_units(event.value, event.currency),
        payment_processor=processor if processor in PAYMENT_PROCESSORS else "custom",
        invoice_id=event.id,
    )
    return "sale", sale, event.currency.upper()


def _customer(user: ReshapeUser) -> Customer:
    place = {"street": user.street, "city": user.city, "region": user.region, "country": user.country}
    address = None
    if any(v is not None for v in place.values()) or user.postal_code is not None:
        address = Address(**place, postal_code=user.postal_code)
    return Customer(
        external_id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        emails=list(user.email or []),
        phones=list(user.phone or []),
        address=address,
        custom=dict(user.properties or {}),
    )


def _context(context: ReshapeContext) -> Context:
    return Context(
        url=context.url,
        referrer=context.referring_url,
        landing_url=context.landing_url,
        page_type=context.page_type,
        environment=context.environment,
        data_source=context.data_source,
        user_agent=context.user_agent,
        ip=context.override_ip or context.overide_ip,
    )


class ReshapeDialect:
    """DATA Reshape's push object."""

    name = "reshape"

    def configured(self, settings: object) -> ReshapeDialect:
        return self

    def parse(self, envelope: Envelope) -> LeadEvent:
        payload, cookie_errors = cookies_as_map(envelope.payload)
        body = validate(ReshapePush, payload, lead_event_errors(payload) + purchase_errors(payload) + cookie_errors)
        event = body.event
        consent = body.consent
        kind, sale, currency = _sale(event)
        return LeadEvent(
            id=envelope.id,
            name=event.name,
            dialect=self.name,
            kind=kind,
            sale=sale,
            value=event.value,
            currency=currency,
            exchange_rate=1.0 if event.exchange_rate is None else event.exchange_rate,
            source_id=event.id,
            customer=_customer(body.user or ReshapeUser()),
            context=_context(body.context or ReshapeContext()),
            consent=None
            if consent is None
            else Consent(
                analytics=consent.analytics,
                personalization=consent.personalization,
                marketing=consent.marketing,
                id=consent.id,
            ),
            cookies=dict(body.cookies or {}),
            properties=dict(event.properties or {}),
            raw=envelope.payload,
        )

    def answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        return None


DIALECT = ReshapeDialect()
