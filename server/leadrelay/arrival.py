"""An accepted event as it arrived: the envelope the client sent and what the server saw of its request.

The collector stores this, not the canonical LeadEvent. Mapping a payload to the
canonical event and writing that out was half of an accepted beacon's own cost,
and its JSON twice the size, while nothing needs the canonical event until the
event is read: by a delivery, or by the operator. Reading an arrival maps it as the
collector would have at intake: `event_of`, then `enrich` with what the server saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

from leadrelay.dialects.base import CheckedDialect, Dialect
from leadrelay.encoding import dump_json
from leadrelay.event import LeadEvent
from leadrelay.protocol import Envelope
from leadrelay.vendors import CLICK_IDS, DIALECTS


@dataclass(slots=True)
class Seen:
    """What the server saw of the request that brought an event: the same for every event of a batch."""

    visitor_id: str
    received_at: float
    ip: str | None
    user_agent: str | None
    click_ids: dict[str, str]  # from the visitor's click-id cookies, by vendor

    def as_json(self) -> dict[str, Any]:
        return {
            "visitor_id": self.visitor_id,
            "received_at": self.received_at,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "click_ids": self.click_ids,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Seen:
        clicks = {vendor: click for vendor, click in doc["click_ids"].items() if click}
        return cls(doc["visitor_id"], doc["received_at"], doc["ip"], doc["user_agent"], clicks)


def dump_arrival(envelope: dict[str, Any], seen: dict[str, Any]) -> str:
    """The stored body of an accepted `envelope`; `seen` is `Seen.as_json()`, built once per batch."""
    return dump_json({"envelope": envelope, "seen": seen}).decode()


def event_of(dialect: Dialect, envelope: dict[str, Any]) -> LeadEvent:
    """The event of an envelope `dialect` accepted (as a dict), mapped as its `parse` maps it.

    A checked dialect maps without validating; another validates again, since its
    mapping reads the validated model.
    """
    if isinstance(dialect, CheckedDialect):
        return dialect.event_of(envelope)
    return dialect.parse(Envelope.model_validate(envelope))


def event_of_arrival(envelope: dict[str, Any], seen: Seen) -> LeadEvent:
    """The canonical event of an accepted envelope, enriched with what the server saw."""
    event = event_of(DIALECTS[envelope["dialect"]], envelope)
    enrich(event, envelope, seen)
    return event


def load_stored(body: str | bytes) -> LeadEvent:
    """The event a stored body (`dump_arrival`) holds."""
    doc = from_json(body)
    return event_of_arrival(doc["envelope"], Seen.from_json(doc["seen"]))


def enrich(event: LeadEvent, envelope: dict[str, Any], seen: Seen) -> None:
    """Add what only the server knows (when, from where, which visitor), the page the envelope
    names and the clicks it or the cookies name. The payload's own values come first."""
    event.received_at = seen.received_at
    event.visitor_id = seen.visitor_id
    ctx = event.context
    page = envelope.get("context")
    if page:
        ctx.url = ctx.url or page.get("url")
        ctx.referrer = ctx.referrer or page.get("referrer")
        ctx.landing_url = ctx.landing_url or page.get("landing_url")
    ctx.user_agent = ctx.user_agent or seen.user_agent
    ctx.ip = ctx.ip or seen.ip
    sent = envelope.get("click_ids") or {}
    clicks = event.click_ids
    for vendor in CLICK_IDS:
        if vendor not in clicks:
            click = sent.get(vendor) or seen.click_ids.get(vendor)
            if click:
                clicks[vendor] = click
