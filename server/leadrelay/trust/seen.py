"""The clicks this process knows a visitor landed with: those it remembered at `{prefix}/c`, and those the store confirmed.

A click once seen for a visitor stays seen (the store never forgets one), so a remembered
click needs no query: a returning visitor's beacons, whose click this process recorded when
they landed, cost the collector a dict lookup, not a read of the store (~25 µs on SQLite
between commits). A claim not remembered is looked up; one the store does not know is never
remembered, so it is looked up again each time. Several processes each remember their own.
The loop and the heavy thread (leadrelay.offload) share one memory, behind a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

CAPACITY = 16_384
"""Clicks remembered, the oldest forgotten first: a few MB, the visitors of the last hours of a busy site."""

Click = tuple[str, str, str]  # visitor id, vendor, click id


class SeenClicks:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._known: dict[Click, None] = {}  # a dict keeps insertion order: the first key is the oldest
        self._lock = threading.Lock()

    def remember(self, visitor_id: str, clicks: Iterable[tuple[str, str]]) -> None:
        known = self._known
        with self._lock:
            for vendor, click_id in clicks:
                known[(visitor_id, vendor, click_id)] = None
            while len(known) > self.capacity:
                del known[next(iter(known))]

    def split(self, visitor_id: str, claims: Iterable[tuple[str, str]]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """The claims remembered as seen for the visitor, and those to look up."""
        known, unknown = set(), set()
        with self._lock:
            for claim in claims:
                (known if (visitor_id, *claim) in self._known else unknown).add(claim)
        return known, unknown
