"""Destinations: the vendors leadrelay forwards to. A vendor is one file here (and one dialect file).

Adding a vendor: write `destinations/<vendor>.py` with a Destination subclass and its settings,
and add its line to leadrelay.vendors.
"""

from __future__ import annotations

from leadrelay.destinations.base import Destination, Outcome, Outgoing, Undeliverable, classify, classify_error

__all__ = ["Destination", "Outcome", "Outgoing", "Undeliverable", "classify", "classify_error"]
