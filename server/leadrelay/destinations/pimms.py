"""PIMMS (a Dub fork): POST {pimms_base_url}/track/lead with `externalId`, modes async|wait, never without a click id.

Leads only: PIMMS's published API (seed 002, VENDORS.md) names no sale endpoint, so no sale is routed to it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

from leadrelay.destinations.base import BaseUrl, Outgoing, Undeliverable
from leadrelay.destinations.track_lead import TrackLeadDestination, customer_fields, optional_fields
from leadrelay.dialects.pimms import MODES
from leadrelay.event import LeadEvent


class PimmsSettings(BaseModel):
    pimms_api_key: SecretStr | None = None
    pimms_base_url: BaseUrl = "https://api.pimms.io"
    pimms_events: dict[str, str] = Field(default_factory=lambda: {"leadGenerated": "Sign up", "lead_created": "Sign up"})
    pimms_mode: Literal["async", "wait"] = "async"
    pimms_rate_per_minute: int = Field(default=600, ge=0)  # PIMMS's default limit


class PimmsDestination(TrackLeadDestination):
    name = "pimms"
    dialect = "pimms"
    vendor = "PIMMS"
    kinds = ("lead",)  # PIMMS publishes no /track/sale: a sale is not sent to it

    def __init__(self, settings: PimmsSettings) -> None:
        super().__init__(settings, settings.pimms_base_url, settings.pimms_api_key)

    @classmethod
    def missing(cls, settings: PimmsSettings) -> str | None:
        return None if settings.pimms_api_key else "no pimms_api_key"

    @property
    def events(self) -> dict[str, str]:
        return self.settings.pimms_events  # type: ignore[no-any-return]

    @property
    def rate_per_minute(self) -> int:
        return self.settings.pimms_rate_per_minute  # type: ignore[no-any-return]

    def refusal(self, event: LeadEvent) -> str | None:
        """Only leads carrying a PIMMS click id: PIMMS has no deferred attribution (a sale's reason is its kind)."""
        if event.kind in self.kinds and not event.click_ids.get("pimms"):
            return "no pimms_id (the visitor did not land through a PIMMS link; PIMMS has no deferred attribution)"
        return super().refusal(event)

    def prepare(self, event: LeadEvent) -> Outgoing:
        name, customer = self.name_and_customer(event)
        if name is None:
            raise Undeliverable(f"event name {event.name!r} is not mapped to a PIMMS event (pimms_events)")
        click = event.click_ids.get("pimms")
        if not click:
            raise Undeliverable("no PIMMS click id (pimms_id): PIMMS has no deferred attribution")
        mode = event.mode if event.dialect == "pimms" and event.mode in MODES else self.settings.pimms_mode
        body: dict[str, Any] = {"clickId": click, "eventName": name, "externalId": customer, "mode": mode}
        body.update({k: v for k, v in customer_fields(event).items() if v is not None})
        body.update(optional_fields(event))
        return self.request(body)
