"""Dub: POST {dub_base_url}/track/lead, Bearer API key, the body of Dub's OpenAPI (seed 004)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from leadrelay.config import Settings
from leadrelay.destinations.base import Destination, Outgoing, Undeliverable, customer_id, fit_metadata, is_http_url
from leadrelay.event import LeadEvent

METADATA_LIMIT = 10_000
EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
MODES = ("async", "wait", "deferred")


def metadata_of(event: LeadEvent) -> dict[str, Any] | None:
    """value, currency and properties (as Dub and PIMMS keep them), within Dub's 10,000 characters."""
    metadata: dict[str, Any] = {}
    if event.value is not None:
        metadata["value"] = event.value
    if event.currency:
        metadata["currency"] = event.currency
    if event.properties:
        metadata["properties"] = event.properties
    return fit_metadata(metadata, METADATA_LIMIT) if metadata else None


def customer_fields(event: LeadEvent) -> dict[str, str | None]:
    """customerName/Email/Avatar within the vendor's limits; a value the vendor would reject is left out."""
    name = event.customer.name
    email = event.customer.email
    avatar = event.customer.avatar
    return {
        "customerName": name[:100] if name else None,
        "customerEmail": email if email and len(email) <= 100 and EMAIL.match(email) else None,
        "customerAvatar": avatar if is_http_url(avatar) else None,
    }


def optional_fields(event: LeadEvent) -> dict[str, Any]:
    """eventQuantity (1-100) and metadata, each only when the event has one the vendor takes."""
    fields: dict[str, Any] = {}
    if event.quantity is not None and 1 <= event.quantity <= 100:
        fields["eventQuantity"] = event.quantity
    metadata = metadata_of(event)
    if metadata is not None:
        fields["metadata"] = metadata
    return fields


class TrackLeadDestination(Destination):
    """`POST {base}/track/lead` with `Authorization: Bearer <key>`: Dub's API, and PIMMS's (a Dub fork)."""

    def __init__(self, settings: Settings, base_url: str, api_key: SecretStr | None) -> None:
        super().__init__(settings)
        self._key = api_key.get_secret_value() if api_key else ""
        self.url = f"{base_url}/track/lead"
        self.headers = {"Authorization": f"Bearer {self._key}"}

    def secrets(self) -> list[str]:
        return [self._key]


class DubDestination(TrackLeadDestination):
    name = "dub"
    dialect = "dub"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.dub_base_url, settings.dub_api_key)

    @classmethod
    def missing(cls, settings: Settings) -> str | None:
        return None if settings.dub_api_key else "no dub_api_key"

    @property
    def events(self) -> dict[str, str]:
        return self.settings.dub_events

    def accepts(self, event: LeadEvent) -> bool:
        """A mapped event with a Dub click id, or without one when deferred attribution is on and the customer is known."""
        if self.event_name(event) is None:
            return False
        return bool(event.click_ids.dub) or (self.settings.dub_deferred and bool(event.customer.external_id))

    def prepare(self, event: LeadEvent) -> Outgoing:
        name = self.event_name(event)
        if name is None:
            raise Undeliverable(f"event name {event.name!r} is not mapped to a Dub event (dub_events)")
        click = event.click_ids.dub or ""
        if not click and not self.settings.dub_deferred:
            raise Undeliverable("no Dub click id (dub_id) and deferred attribution is off (dub_deferred)")
        mode = event.mode if event.dialect == "dub" and event.mode in MODES else self.settings.dub_mode
        body: dict[str, Any] = {
            "clickId": click,
            "eventName": name[:255],
            "customerExternalId": customer_id(event),
            **customer_fields(event),
            "mode": mode,
            **optional_fields(event),
        }
        return Outgoing(url=self.url, json=body, headers=self.headers)
