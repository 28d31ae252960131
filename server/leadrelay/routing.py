"""Which destinations an accepted event goes to: decided at intake, written with the event.

Routing is configuration: a destination takes only the kinds of event it names
(`kinds`: leads, sales); each destination's `<vendor>_events` mapping names the
events it takes (and what the vendor calls them); events in a vendor's own
dialect always go to that vendor; a destination without credentials is off.
"""

from __future__ import annotations

from leadrelay.config import Settings
from leadrelay.event import LeadEvent
from leadrelay.vendors import enabled_destinations


class Router:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.destinations = enabled_destinations(settings)
        self.enabled = set(self.destinations)

    def destinations_for(self, event: LeadEvent) -> list[str]:
        return [name for name, destination in self.destinations.items() if destination.accepts(event)]

    def skipped(self, event: LeadEvent) -> dict[str, str]:
        """{destination: why it does not take `event`} for every destination that is on and does not."""
        reasons = {name: destination.refusal(event) for name, destination in self.destinations.items()}
        return {name: why for name, why in reasons.items() if why is not None}
