"""PIMMS (a Dub fork): POST {pimms_base_url}/track/lead with `externalId`, modes async|wait, never without a click id."""

from __future__ import annotations

from typing import Any

from leadrelay.config import Settings
from leadrelay.destinations.base import Outgoing, Undeliverable, customer_id
from leadrelay.destinations.dub import TrackLeadDestination, customer_fields, optional_fields
from leadrelay.event import LeadEvent

MODES = ("async", "wait")


class PimmsDestination(TrackLeadDestination):
    name = "pimms"
    dialect = "pimms"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.pimms_base_url, settings.pimms_api_key)

    @classmethod
    def missing(cls, settings: Settings) -> str | None:
        return None if settings.pimms_api_key else "no pimms_api_key"

    @property
    def events(self) -> dict[str, str]:
        return self.settings.pimms_events

    def accepts(self, event: LeadEvent) -> bool:
        """Only events carrying a PIMMS click id: PIMMS has no deferred attribution."""
        return bool(event.click_ids.pimms) and self.event_name(event) is not None

    def prepare(self, event: LeadEvent) -> Outgoing:
        name = self.event_name(event)
        if name is None:
            raise Undeliverable(f"event name {event.name!r} is not mapped to a PIMMS event (pimms_events)")
        if not event.click_ids.pimms:
            raise Undeliverable("no PIMMS click id (pimms_id): PIMMS has no deferred attribution")
        mode = event.mode if event.dialect == "pimms" and event.mode in MODES else self.settings.pimms_mode
        body: dict[str, Any] = {
            "clickId": event.click_ids.pimms,
            "eventName": name[:255],
            "externalId": customer_id(event),
            "mode": mode,
        }
        body.update({k: v for k, v in customer_fields(event).items() if v is not None})
        body.update(optional_fields(event))
        return Outgoing(url=self.url, json=body, headers=self.headers)
