"""Dub: the body of `POST /track/lead` (seed 004), also in its older shape with `externalId` (seed 001),
and the body of `POST /track/sale` (an envelope of `"type": "sale"`; the fields of Dub's API, as its
official SDK's TrackSaleRequestBody names them).

Dub has one `customerName`; it is kept whole in `customer.first_name` (so
`customer.name` gives it back unchanged) rather than split on a guess.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict, field_validator
from pydantic_core import PydanticCustomError

from leadrelay.dialects.common import Email, Str, Url, json_length, length, validate, whole_number
from leadrelay.dialects.base import FieldError
from leadrelay.event import Customer, LeadEvent, Sale

if TYPE_CHECKING:
    from leadrelay.protocol import Envelope

MAX_METADATA = 10_000
"""Dub (and PIMMS) cap `JSON.stringify(metadata)` at this many characters."""
MODES = ("async", "wait", "deferred")
Mode = Literal["async", "wait", "deferred"]
SALE_TYPE = "sale"
"""The envelope `type` of a `track/sale` body; any other type (or none) is a `track/lead` body."""
PAYMENT_PROCESSORS = ("stripe", "shopify", "polar", "paddle", "apple", "revenuecat", "lemonsqueezy", "dub", "custom")
"""What Dub's `paymentProcessor` takes (its official SDK's PaymentProcessor, which also names lemonsqueezy)."""
PaymentProcessor = Literal["stripe", "shopify", "polar", "paddle", "apple", "revenuecat", "lemonsqueezy", "dub", "custom"]
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
"""Dub's sale `amount` is in cents, except in these currencies, where it is whole units (https://d.to/currency)."""
MAX_AMOUNT = 2**53 - 1
"""Dub reads JSON numbers as JavaScript does: past this an integer is no longer exact."""
SALE_ID_PREFIX = "dub-invoice:"


def not_blank(value: str) -> str:
    """Dub trims names and ids before checking them: spaces alone are empty."""
    if value and not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


EventName = Annotated[str, Strict(), AfterValidator(length(1, 255)), AfterValidator(not_blank)]
ExternalId = Annotated[str, Strict(), AfterValidator(length(1, 100)), AfterValidator(not_blank)]
Name = Annotated[str, Strict(), AfterValidator(length(0, 100))]
CustomerEmail = Annotated[Email, AfterValidator(length(0, 100))]


def metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    """Dub caps `JSON.stringify(metadata)` at 10,000 characters."""
    if json_length(value) > MAX_METADATA:
        raise PydanticCustomError("metadata_size", "must be at most 10,000 characters long once written as JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(metadata_size)]


class TrackLead(BaseModel):
    """`POST /track/lead`. The customer id is `customerExternalId`, or `externalId` in older clients."""

    model_config = ConfigDict(extra="forbid", strict=True)

    clickId: Str
    eventName: EventName
    customerExternalId: ExternalId | None = None
    externalId: ExternalId | None = None
    customerName: Name | None = None
    customerEmail: CustomerEmail | None = None
    customerAvatar: Url | None = None
    mode: Mode = "async"
    eventQuantity: Annotated[int, BeforeValidator(whole_number(1, 100))] | None = None
    metadata: Metadata | None = None

    @field_validator("customerExternalId", "externalId", "mode", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("string_type", "must be a string")
        return value

    @property
    def customer_id(self) -> str | None:
        return self.customerExternalId or self.externalId


def customer_id_errors(payload: dict[str, Any]) -> list[FieldError]:
    """Exactly one of customerExternalId and its older name externalId."""
    given = [key for key in ("customerExternalId", "externalId") if key in payload]
    if not given:
        return [FieldError(path="customerExternalId", message="required property is missing", rule="missing")]
    if len(given) == 2:
        message = "give customerExternalId or its older name externalId, not both"
        return [FieldError(path="externalId", message=message, rule="conflict")]
    return []


class TrackLeadBody(Protocol):
    """What Dub's and PIMMS's track-lead bodies share (PIMMS is a Dub fork)."""

    @property
    def eventName(self) -> str: ...
    @property
    def customerName(self) -> str | None: ...
    @property
    def customerEmail(self) -> str | None: ...
    @property
    def customerAvatar(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def eventQuantity(self) -> int | None: ...
    @property
    def metadata(self) -> Any: ...


def customer_of(body: TrackLeadBody | TrackSale, external_id: str | None) -> Customer:
    """The customer a Dub-shaped body names; customerName is kept whole in first_name."""
    return Customer(
        external_id=external_id,
        first_name=body.customerName,
        emails=[body.customerEmail] if body.customerEmail else [],
        avatar=body.customerAvatar,
    )


def track_lead_event(
    envelope: Envelope, dialect: str, body: TrackLeadBody, external_id: str | None, click_ids: dict[str, str]
) -> LeadEvent:
    """The canonical event of a validated track-lead body; customerName is kept whole in first_name."""
    return LeadEvent(
        id=envelope.id,
        name=body.eventName,
        dialect=dialect,
        customer=customer_of(body, external_id),
        click_ids=click_ids,
        mode=body.mode,
        quantity=body.eventQuantity,
        properties=dict(body.metadata or {}),
        raw=envelope.payload,
    )


# -- POST /track/sale -------------------------------------------------------------------


def _currency(value: str) -> str:
    """ISO 4217 (Dub lower-cases it): kept upper-case, as the canonical event's currency is."""
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise PydanticCustomError("currency", "must be an ISO 4217 currency code: 3 letters, e.g. usd")
    return value.upper()


Currency = Annotated[str, Strict(), AfterValidator(_currency)]
Amount = Annotated[int, BeforeValidator(whole_number(0, MAX_AMOUNT))]


class TrackSale(BaseModel):
    """`POST /track/sale`: a sale of `amount` cents (whole units in a zero-decimal currency) by a known customer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customerExternalId: ExternalId
    amount: Amount
    currency: Currency = "USD"
    eventName: EventName = "Purchase"
    paymentProcessor: PaymentProcessor = "custom"
    invoiceId: Str | None = None
    leadEventName: EventName | None = None
    clickId: Str | None = None
    customerName: Name | None = None
    customerEmail: CustomerEmail | None = None
    customerAvatar: Url | None = None
    metadata: Metadata | None = None

    @field_validator("customerExternalId", "amount", "currency", "eventName", "paymentProcessor", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """Dub's defaults fill an absent field, never a null one."""
        if value is None:
            raise PydanticCustomError("null", "must not be null")
        return value


def sale_event_id(invoice_id: str) -> str:
    """The event id of a sale with this invoice id: Dub records one sale per invoice id, and so does leadrelay."""
    return SALE_ID_PREFIX + hashlib.sha256(invoice_id.encode("utf-8", "surrogatepass")).hexdigest()


def major_units(amount: int, currency: str) -> float:
    """A sale's amount in the currency's main unit (19.99 for 1999 usd cents; 1580 for 1580 jpy)."""
    return float(amount) if currency.lower() in ZERO_DECIMAL_CURRENCIES else amount / 100


def minor_unit(currency: str) -> int:
    """How many of Dub's `amount` units make one of the currency's main unit: 100 (cents), 1 in a zero-decimal currency."""
    return 1 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 100


def minor_units(value: float, currency: str) -> int:
    """A value in the currency's main unit as Dub's `amount`: 1999 for 19.99 usd, 1580 for 1580 jpy."""
    return round(value * minor_unit(currency))


def track_sale_event(envelope: Envelope, body: TrackSale) -> LeadEvent:
    """The canonical sale event of a validated track-sale body: its id is derived from its invoice id, when it has one."""
    return LeadEvent(
        id=sale_event_id(body.invoiceId) if body.invoiceId else envelope.id,
        name=body.eventName,
        dialect="dub",
        kind="sale",
        sale=Sale(
            amount=body.amount,
            payment_processor=body.paymentProcessor,
            invoice_id=body.invoiceId or None,
            lead_event_name=body.leadEventName,
        ),
        value=major_units(body.amount, body.currency),
        currency=body.currency,
        source_id=body.invoiceId or None,
        customer=customer_of(body, body.customerExternalId),
        click_ids={"dub": body.clickId} if body.clickId else {},
        properties=dict(body.metadata or {}),
        raw=envelope.payload,
    )


class DubDialect:
    """Dub's lead and sale tracking bodies."""

    name = "dub"

    def configured(self, settings: object) -> DubDialect:
        return self

    def parse(self, envelope: Envelope) -> LeadEvent:
        if envelope.type == SALE_TYPE:
            return track_sale_event(envelope, validate(TrackSale, envelope.payload))
        body = validate(TrackLead, envelope.payload, customer_id_errors(envelope.payload))
        return track_lead_event(envelope, self.name, body, body.customer_id, {"dub": body.clickId} if body.clickId else {})

    def answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        return None


DIALECT = DubDialect()
