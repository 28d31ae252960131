"""The canonical event: what every dialect produces and every destination consumes.

An event is of one `kind`: a lead (someone signed up, asked, qualified) or a sale (someone
paid; its `sale` part says how much). Destinations say which kinds they take
(leadrelay.destinations.base.Destination.kinds).

Plain dataclasses, not pydantic models: a dialect builds one only from a payload
it has just validated, so validating it again would be wasted work (ten times the
cost of building it).
`dump_event` turns it into JSON: what `leadrelay events` prints (the store keeps
an event as it arrived, and maps it again when read: leadrelay.arrival).
No __slots__: orjson writes a dataclass with a __dict__ five times as fast as one without.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter

from leadrelay.encoding import dump_json


@dataclass(kw_only=True)
class Address:
    street: str | None = None
    district: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    postal_code: str | None = None


@dataclass(kw_only=True)
class Customer:
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    avatar: str | None = None
    address: Address | None = None
    company: str | None = None
    company_url: str | None = None
    job_title: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None


@dataclass(kw_only=True)
class Context:
    url: str | None = None
    referrer: str | None = None
    landing_url: str | None = None
    page_type: str | None = None
    environment: str | None = None
    data_source: str | None = None
    user_agent: str | None = None
    ip: str | None = None


@dataclass(kw_only=True)
class Consent:
    analytics: bool | None = None
    personalization: bool | None = None
    marketing: bool | None = None
    id: str | None = None  # the consent record's id (Reshape's audit trail)


@dataclass
class Mark:
    """What the operator is told about an accepted event (leadrelay.trust): `code` to count by, `message` to read."""

    code: str
    message: str


Kind = Literal["lead", "sale"]
KINDS: tuple[Kind, ...] = ("lead", "sale")


@dataclass(kw_only=True)
class Sale:
    """What a sale event says of the sale besides its value and currency, which are the event's own."""

    amount: int
    """in the currency's smallest unit: cents, or whole units of a zero-decimal currency (JPY)"""
    payment_processor: str
    invoice_id: str | None = None
    """the seller's invoice id: a repeat of it is the same sale (the event's id is derived from it)"""
    lead_event_name: str | None = None
    """the lead event this sale follows, when the seller names it"""


@dataclass(kw_only=True)
class LeadEvent:
    """One event, a lead or a sale, whatever dialect it arrived in.

    `id` is the deduplication key: the client-generated id of the beacon, kept
    through every retry and sent on to vendors that de-duplicate on it (a sale
    with an invoice id has an id derived from it: leadrelay.dialects.dub.sale_event_id).
    A sale has `kind` "sale" and its `sale` part; its `value` and `currency` say the
    amount in the currency's main unit (ISO 4217, upper case), as most vendors take it.
    """

    id: str
    name: str
    dialect: str
    kind: Kind = "lead"
    sale: Sale | None = None
    value: float | None = None
    currency: str | None = None
    exchange_rate: float | None = None
    source_id: str | None = None
    """the id the payload itself gives the event (Reshape event.id, Croct leadId)"""
    customer: Customer = field(default_factory=Customer)
    click_ids: dict[str, str] = field(default_factory=dict)
    """vendor name -> the click id the visitor carried (leadrelay.vendors names the click-id vendors)"""
    visitor_id: str | None = None
    context: Context = field(default_factory=Context)
    consent: Consent | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None
    quantity: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0
    marks: list[Mark] = field(default_factory=list)
    """what intake noted about the event: a click id held back, a clock far off"""


_JSON = TypeAdapter(LeadEvent)


def dump_event(event: LeadEvent, *, raw: bool = True) -> str:
    """The event as JSON (what `leadrelay events` prints); without the vendor payload when `raw` is false."""
    if raw:
        return dump_json(event).decode()
    return _JSON.dump_json(event, exclude={"raw"}).decode()
