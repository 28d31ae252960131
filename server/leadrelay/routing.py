"""Which destinations an accepted event goes to: decided at intake, written with the event.

Routing is configuration: each destination's `<vendor>_events` mapping names the
events it takes (and what the vendor calls them); events in a vendor's own
dialect always go to that vendor; a destination without credentials is off.
"""

from __future__ import annotations

from leadrelay.config import Settings
from leadrelay.destinations import DESTINATIONS, enabled
from leadrelay.event import LeadEvent


def enabled_destinations(settings: Settings) -> dict[str, str]:
    """{destination: "on" or "off: <what is missing>"} for every known destination."""
    out: dict[str, str] = {}
    for name, cls in DESTINATIONS.items():
        missing = cls.missing(settings)
        out[name] = "on" if missing is None else f"off: {missing}"
    return out


class Router:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.destinations = enabled(settings)
        self.enabled = set(self.destinations)

    def destinations_for(self, event: LeadEvent) -> list[str]:
        return [name for name, destination in self.destinations.items() if destination.accepts(event)]
