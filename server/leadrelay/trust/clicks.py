"""Which click ids an event may carry to a vendor.

A click id is a claim: whoever sends a lead with a Dub click id asks the site's Dub
account to credit that click (and, in Dub's partner programme, to pay its partner).
An event may name a click id in its payload (a Dub- or PIMMS-shaped call), in its
envelope's `click_ids`, or through the visitor's click-id cookies. For each vendor the
first of those that is *verified* is the one the event carries; those before it that are
not are held back: never forwarded, and shown to the operator with the event.

Which claims are verified is the trust layer's decision for the whole request
(leadrelay.trust.Trust): every claim of a caller holding a server key (a backend vouches
for its own click ids) or when `click_verification` is off; otherwise only the click ids
the store saw at `{prefix}/c` for this signed visitor. The same function decides again,
from the stored arrival, whenever the event is read: a delivery sends what intake decided.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from leadrelay.vendors import CLICK_IDS

Verified = Collection[tuple[str, str]]
"""The (vendor, click id) pairs an event may carry."""

SOURCES = ("payload", "envelope", "cookie")
_NONE: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class HeldBack:
    vendor: str
    click_id: str
    source: str  # "payload", "envelope" or "cookie": where the event claimed it


def attribute(
    payload: Mapping[str, str],
    envelope: Mapping[str, Any] | None,
    cookies: Mapping[str, str],
    verified: Verified | None,
) -> tuple[dict[str, str], list[HeldBack]]:
    """The click id per vendor an event carries, and the claims held back.

    `payload` holds the click ids of the payload itself, `envelope` is the envelope's
    `click_ids` (as sent), `cookies` the visitor's click-id cookies; `verified` None
    means every claim counts (and the first one wins, as the claims' order says).
    """
    clicks: dict[str, str] = {}
    held: list[HeldBack] = []
    sources = (payload, envelope or _NONE, cookies)
    for vendor in CLICK_IDS:
        for source, claims in zip(SOURCES, sources):
            claim = claims.get(vendor)
            if not claim:
                continue
            if verified is None or (vendor, claim) in verified:
                clicks[vendor] = claim
                break
            if all(h.click_id != claim or h.vendor != vendor for h in held):
                held.append(HeldBack(vendor, claim, source))
    return clicks, held


def claimed_clicks(events: list[Any], cookies: Mapping[str, str]) -> set[tuple[str, str]]:
    """Every (vendor, click id) a batch's envelopes and the visitor's cookies claim, read before the
    events are validated: only what a lookup needs (an event that turns out invalid is rejected anyway)."""
    found = set(cookies.items())
    for raw in events:
        sent = raw.get("click_ids") if isinstance(raw, dict) else None
        if isinstance(sent, dict):
            for vendor in CLICK_IDS:
                value = sent.get(vendor)
                if isinstance(value, str) and value:
                    found.add((vendor, value))
    return found
