"""Destinations: the vendors leadrelay forwards to. A vendor is one file here (and one dialect file).

Adding a vendor: write `destinations/<vendor>.py` with a Destination subclass and add it to DESTINATIONS.
"""

from __future__ import annotations

from leadrelay.config import Settings
from leadrelay.destinations.base import Destination, Outcome, Outgoing, Undeliverable, classify, classify_error
from leadrelay.destinations.dub import DubDestination
from leadrelay.destinations.pimms import PimmsDestination
from leadrelay.destinations.reshape import ReshapeDestination

DESTINATIONS: dict[str, type[Destination]] = {
    "dub": DubDestination,
    "pimms": PimmsDestination,
    "reshape": ReshapeDestination,
}


def enabled(settings: Settings) -> dict[str, Destination]:
    """The destinations whose credentials are configured, by name."""
    return {name: cls(settings) for name, cls in DESTINATIONS.items() if cls.missing(settings) is None}


__all__ = [
    "DESTINATIONS",
    "Destination",
    "DubDestination",
    "Outcome",
    "Outgoing",
    "PimmsDestination",
    "ReshapeDestination",
    "Undeliverable",
    "classify",
    "classify_error",
    "enabled",
]
