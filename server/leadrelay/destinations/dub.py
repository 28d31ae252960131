"""Dub: POST {dub_base_url}/track/lead (seed 004) for a lead and /track/sale for a sale, Bearer API key.

A sale needs no click id: Dub credits it to the customer's lead (`leadEventName` names which) or,
with `clickId`, to that click. It needs a customer id (`customerExternalId`): a sale from another
dialect (Reshape's `checkout_completed`) without one (nor an email, which stands for it as it does
for a lead) is not sent (`refusal`); its name is `Purchase`, Dub's default, unless `dub_events`
names it. Its `invoiceId` is Dub's idempotency key, as it is leadrelay's
(leadrelay.dialects.dub.sale_event_id): every attempt of a delivery sends the same one.

Dub answers `sale: null` when it records no sale (`unattributed`): the delivery's own final state.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SecretStr

from leadrelay.destinations.base import WILDCARD, BaseUrl, Outgoing, Unattributed, Undeliverable, fit_metadata
from leadrelay.destinations.track_lead import TrackLeadDestination, customer_fields, optional_fields
from leadrelay.dialects.common import json_length
from leadrelay.dialects.dub import MAX_METADATA, MODES, Mode
from leadrelay.event import Kind, LeadEvent

DEDUP_S = 7 * 86400  # how long Dub keeps a lead's dedup key (customer id + event name)
SALE_NAME = "Purchase"  # Dub's eventName when a sale names none: a sale of another dialect's name


def forgets_refused_lead_at(status: int | None, error: str | None, refused_at: float) -> float | None:
    """When Dub forgets a lead it refused with 404 for its click (a dead letter's last answer), or None.

    Dub writes its dedup key (customer id + event name) before it looks for the click, and keeps it 7
    days: until then the same lead, even with a click Dub now knows, is answered 200 with `link: null`
    and recorded nothing. Every 404 of /track/lead that names the clickId comes after that write.
    """
    if status != 404 or not error or "clickId" not in error:
        return None
    return refused_at + DEDUP_S


class DubSettings(BaseModel):
    dub_api_key: SecretStr | None = None
    dub_base_url: BaseUrl = "https://api.dub.co"
    dub_events: dict[str, str] = Field(default_factory=lambda: {"leadGenerated": "Sign up", "lead_created": "Sign up"})
    dub_mode: Mode = "async"
    dub_deferred: bool = False
    dub_rate_per_minute: int = Field(default=60, ge=0)  # Dub's lowest plan; 0: not paced
    dub_unattributed_retry_s: float = Field(default=600.0, ge=0)
    """How long after its first attempt a sale Dub answered `sale: null` for (no such customer) is tried again."""


class DubDestination(TrackLeadDestination):
    name = "dub"
    dialect = "dub"
    vendor = "Dub"
    dedup_kept = " in the last 7 days"
    kinds = ("lead", "sale")

    def __init__(self, settings: DubSettings) -> None:
        super().__init__(settings, settings.dub_base_url, settings.dub_api_key)
        self.sale_url = f"{settings.dub_base_url}/track/sale"

    @classmethod
    def missing(cls, settings: DubSettings) -> str | None:
        return None if settings.dub_api_key else "no dub_api_key"

    @property
    def events(self) -> dict[str, str]:
        return self.settings.dub_events  # type: ignore[no-any-return]

    def unattributed(self, kept: Any, event: LeadEvent | None) -> Unattributed | None:
        """`sale: null` in a 200 to /track/sale: Dub recorded no sale. For an amount of 0 it never will; else it knows
        no customer of this id (and the sale names no click), which a lead still on its way may change: tried again
        for dub_unattributed_retry_s (Dub caches only the answers that record a sale, so a retry is looked at anew)."""
        if not isinstance(kept, dict) or "sale" not in kept or kept["sale"] is not None:
            return None
        sale = event.sale if event is not None else None
        if sale is not None and sale.amount <= 0:
            return Unattributed("Dub records no sale of amount 0: the sale was not attributed")
        customer = sale_customer(event) if event is not None else None
        reason = (
            f"Dub knows no customer {customer!r}: the sale was not attributed (no lead of this customer reached Dub,"
            " and the sale names no click)"
        )
        return Unattributed(reason, self.settings.dub_unattributed_retry_s)

    def names(self, kind: Kind) -> dict[str, str]:
        """A sale of another dialect is Dub's `Purchase`, unless dub_events names it (its '*' is for leads)."""
        return {**self.events, WILDCARD: SALE_NAME} if kind == "sale" else self.events

    @property
    def rate_per_minute(self) -> int:
        return self.settings.dub_rate_per_minute  # type: ignore[no-any-return]

    def refusal(self, event: LeadEvent) -> str | None:
        """A mapped lead with a Dub click id, or without one when the customer is known and deferred
        attribution is on, or asked for: Dub's own body with `clickId: ""`, which only a server sends.
        A sale with a customer id (its customer's lead is Dub's to find)."""
        unmapped = super().refusal(event)
        if unmapped is not None:
            return unmapped
        if event.kind == "sale":
            if sale_customer(event) is None:
                return "Dub credits a sale to a customer id (customerExternalId), and this sale names none (nor an email)"
            return None
        if event.click_ids.get("dub"):
            return None
        if not self._deferred(event):
            return "no dub_id (the visitor did not land through a Dub link), and deferred attribution is off (dub_deferred)"
        if not event.customer.external_id:
            return "no dub_id, and no customer id to attribute the lead to later (deferred attribution)"
        return None

    def _deferred(self, event: LeadEvent) -> bool:
        return self.settings.dub_deferred or event.dialect == "dub"

    def prepare(self, event: LeadEvent) -> Outgoing:
        name, customer = self.name_and_customer(event)
        if name is None:
            raise Undeliverable(f"event name {event.name!r} is not mapped to a Dub event (dub_events)")
        if event.kind == "sale":
            buyer = sale_customer(event)
            if buyer is None:
                raise Undeliverable("a sale without a customer id (customerExternalId) nor an email")
            return self.sale(event, name, buyer)
        click = event.click_ids.get("dub", "")
        if not click and not self._deferred(event):
            raise Undeliverable("no Dub click id (dub_id) and deferred attribution is off (dub_deferred)")
        mode = event.mode if event.dialect == "dub" and event.mode in MODES else self.settings.dub_mode
        body: dict[str, Any] = {
            "clickId": click,
            "eventName": name,
            "customerExternalId": customer,
            **customer_fields(event),
            "mode": mode,
            **optional_fields(event),
        }
        return self.request(body)

    def sale(self, event: LeadEvent, name: str, customer: str) -> Outgoing:
        """`POST /track/sale`: the sale's amount in cents, its currency as Dub writes it (lower case), its invoice id."""
        sale = event.sale
        if sale is None:
            raise Undeliverable("a sale event without its sale (amount, payment processor)")
        body: dict[str, Any] = {
            "customerExternalId": customer,
            "amount": sale.amount,
            "currency": (event.currency or "usd").lower(),
            "eventName": name,
            "paymentProcessor": sale.payment_processor,
            "invoiceId": sale.invoice_id,
            "leadEventName": sale.lead_event_name,
            **customer_fields(event),
        }
        click = event.click_ids.get("dub")
        if click:
            body["clickId"] = click
        if event.properties:
            fits = json_length(event.properties) <= MAX_METADATA
            body["metadata"] = event.properties if fits else fit_metadata({"properties": event.properties}, MAX_METADATA)
        return Outgoing(url=self.sale_url, json=body, headers=self.headers)


def sale_customer(event: LeadEvent) -> str | None:
    """The customerExternalId of a sale: the customer's id, else (as for a lead) the email; never a made-up id,
    since Dub credits the sale only to a customer it knows by this id."""
    email_address = event.customer.email.lower() if event.customer.email and "@" in event.customer.email else None
    for candidate in (event.customer.external_id, email_address):
        if candidate and len(candidate) <= 100:
            return candidate
    return None
