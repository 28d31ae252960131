"""An accepted event as it arrived: the envelope the client sent and what the server saw of its request.

The collector stores this, not the canonical LeadEvent. Mapping a payload to the
canonical event and writing that out was half of an accepted beacon's own cost,
and its JSON twice the size, while nothing needs the canonical event until the
event is read: by a delivery, or by the operator. Reading an arrival maps it as the
collector would have at intake: `event_of`, then `enrich` with what the server saw
and the click ids the trust layer granted (leadrelay.trust), so a delivery sends what
intake decided. What intake noted about the event (`marks`: a click id held back, a
clock far off) is kept beside the envelope when there is any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json

from leadrelay.dialects.base import CheckedDialect, Dialect
from leadrelay.encoding import dump_json
from leadrelay.event import LeadEvent, Mark
from leadrelay.protocol import Envelope
from leadrelay.trust.clicks import HeldBack, attribute
from leadrelay.vendors import DIALECTS


@dataclass(slots=True)
class Seen:
    """What the server saw of the request that brought an event: the same for every event of a batch."""

    visitor_id: str
    received_at: float
    ip: str | None
    user_agent: str | None
    click_ids: dict[str, str]  # from the visitor's click-id cookies, by vendor
    verified_clicks: frozenset[tuple[str, str]] | None = None
    """The (vendor, click id) pairs the trust layer let the events carry; None: any (leadrelay.trust.clicks).
    Stored as {vendor: [click ids]}. Rows written before the trust layer have none: they are read as accepted."""

    def as_json(self) -> dict[str, Any]:
        doc = {
            "visitor_id": self.visitor_id,
            "received_at": self.received_at,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "click_ids": self.click_ids,
        }
        if self.verified_clicks is not None:
            grouped: dict[str, list[str]] = {}
            for vendor, click_id in sorted(self.verified_clicks):
                grouped.setdefault(vendor, []).append(click_id)
            doc["verified_clicks"] = grouped
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Seen:
        clicks = {vendor: click for vendor, click in doc["click_ids"].items() if click}
        stored = doc.get("verified_clicks")
        verified = None if stored is None else frozenset((v, c) for v, ids in stored.items() for c in ids)
        return cls(doc["visitor_id"], doc["received_at"], doc["ip"], doc["user_agent"], clicks, verified)


def dump_arrival(envelope: dict[str, Any], seen: dict[str, Any], marks: list[Mark] | None = None) -> str:
    """The stored body of an accepted `envelope`; `seen` is `Seen.as_json()`, built once per batch."""
    if marks:
        return dump_json({"envelope": envelope, "seen": seen, "marks": marks}).decode()
    return dump_json({"envelope": envelope, "seen": seen}).decode()


def event_of(dialect: Dialect, envelope: dict[str, Any]) -> LeadEvent:
    """The event of an envelope `dialect` accepted (as a dict), mapped as its `parse` maps it.

    A checked dialect maps without validating; another validates again, since its
    mapping reads the validated model.
    """
    if isinstance(dialect, CheckedDialect):
        return dialect.event_of(envelope)
    return dialect.parse(Envelope.model_validate(envelope))


def event_of_arrival(envelope: dict[str, Any], seen: Seen, marks: list[Mark] | None = None) -> LeadEvent:
    """The canonical event of an accepted envelope, enriched with what the server saw."""
    event = event_of(DIALECTS[envelope["dialect"]], envelope)
    enrich(event, envelope, seen)
    event.marks = marks or []
    return event


def load_stored(body: str | bytes) -> LeadEvent:
    """The event a stored body (`dump_arrival`) holds."""
    doc = from_json(body)
    marks = [Mark(m["code"], m["message"]) for m in doc.get("marks", ())]
    return event_of_arrival(doc["envelope"], Seen.from_json(doc["seen"]), marks)


def held_back(payload_clicks: dict[str, str], envelope: dict[str, Any], seen: Seen) -> list[HeldBack]:
    """The click claims `enrich` would hold back, for an event that is not mapped at intake."""
    if seen.verified_clicks is None or not (payload_clicks or envelope.get("click_ids") or seen.click_ids):
        return []
    return attribute(payload_clicks, envelope.get("click_ids"), seen.click_ids, seen.verified_clicks)[1]


def enrich(event: LeadEvent, envelope: dict[str, Any], seen: Seen) -> list[HeldBack]:
    """Add what only the server knows (when, from where, which visitor), the page the envelope
    names and the clicks the trust layer let it carry (the payload's, else the envelope's,
    else the cookies': leadrelay.trust.clicks). The payload's own values come first.
    Returns the click claims held back."""
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
    event.click_ids, held = attribute(event.click_ids, envelope.get("click_ids"), seen.click_ids, seen.verified_clicks)
    return held
