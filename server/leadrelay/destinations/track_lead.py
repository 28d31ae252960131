"""`POST {base}/track/lead` with `Authorization: Bearer <key>`: Dub's API, and PIMMS's (a Dub fork).

What the two destinations share: the customer fields, quantity and metadata as Dub's
rules (leadrelay.dialects.dub) take them. A value the vendor would refuse is left out,
so the rest of the lead still gets there.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SecretStr

from leadrelay.destinations.base import Destination, Outgoing, customer_id, fit_metadata, is_http_url
from leadrelay.dialects.common import EMAIL_PATTERN
from leadrelay.dialects.dub import MAX_METADATA
from leadrelay.event import LeadEvent


def metadata_of(event: LeadEvent) -> dict[str, Any] | None:
    """value, currency and properties (as Dub and PIMMS keep them), within Dub's 10,000 characters."""
    metadata: dict[str, Any] = {}
    if event.value is not None:
        metadata["value"] = event.value
    if event.currency:
        metadata["currency"] = event.currency
    if event.properties:
        metadata["properties"] = event.properties
    return fit_metadata(metadata, MAX_METADATA) if metadata else None


def customer_fields(event: LeadEvent) -> dict[str, str | None]:
    """customerName/Email/Avatar within the vendor's limits; a value the vendor would reject is None."""
    name = event.customer.name
    email = event.customer.email
    avatar = event.customer.avatar
    return {
        "customerName": name[:100] if name else None,
        "customerEmail": email if email and len(email) <= 100 and EMAIL_PATTERN.fullmatch(email) else None,
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
    """A vendor that takes `POST {base_url}/track/lead` with a Bearer API key."""

    vendor: ClassVar[str]
    dedup_kept: ClassVar[str] = ""  # how long the vendor keeps its dedup key, as a delivery's reason says it

    def __init__(self, settings: Any, base_url: str, api_key: SecretStr | None) -> None:
        super().__init__(settings)
        self._key = api_key.get_secret_value() if api_key else ""
        self.url = f"{base_url}/track/lead"
        self.headers = {"Authorization": f"Bearer {self._key}"}

    def secrets(self) -> list[str]:
        return [self._key]

    def duplicate(self, kept: Any) -> str | None:
        """`link: null` in a 200: the vendor already had a lead for this customer and event name, and recorded nothing."""
        if isinstance(kept, dict) and "link" in kept and kept["link"] is None:
            return (
                f"{self.vendor} answered link: null: it already had a lead with this customer id and event name"
                f" (from an earlier attempt, or from another event{self.dedup_kept}), and recorded nothing new"
            )
        return None

    def request(self, body: dict[str, Any]) -> Outgoing:
        return Outgoing(url=self.url, json=body, headers=self.headers)

    def name_and_customer(self, event: LeadEvent) -> tuple[str | None, str]:
        """The vendor's event name (None when unmapped) and the customer id sent with it."""
        name = self.event_name(event)
        return (name[:255] if name else None), customer_id(event)
