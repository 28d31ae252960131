"""Replaying dead letters, as `leadrelay replay` and the console's replay buttons do: the same rule for both.

Dub's 404 (no such click) dead letters younger than 7 days are left dead unless forced: Dub wrote
the lead's customer id + event name before it looked for the click, and until it forgets them a
replay is answered 200 with `link: null` and recorded as deduplicated while Dub records nothing
(leadrelay.destinations.dub.forgets_refused_lead_at).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leadrelay.destinations.dub import forgets_refused_lead_at

if TYPE_CHECKING:
    from leadrelay.store import DeliveryRow, SqlStore


@dataclass
class Replayed:
    """How many dead letters were re-queued, and Dub's that were left dead: {delivery id: (event id, forgotten at)}."""

    count: int
    held: dict[int, tuple[str, float]] = field(default_factory=dict)


def remembered_by_dub(dead: list[DeliveryRow], now: float | None = None) -> dict[int, tuple[str, float]]:
    """Dub dead letters (404 for the click) whose lead Dub still remembers: {delivery id: (event id, forgotten at)}."""
    now = time.time() if now is None else now
    held: dict[int, tuple[str, float]] = {}
    for row in dead:
        until = forgets_refused_lead_at(row.last_status, row.last_error, row.updated_at) if row.destination == "dub" else None
        if until is not None and until > now:
            held[row.delivery_id] = (row.event_id, until)
    return held


def replay_dead(
    store: SqlStore, destination: str | None = None, event_id: str | None = None, force: bool = False
) -> Replayed:
    """Re-queue the dead letters of `destination` and/or `event_id` (both None: every one), leaving Dub's
    remembered ones dead unless `force`."""
    if force:
        return Replayed(store.replay(destination=destination, event_id=event_id))
    dead = store.list_deliveries(state="dead", destination=destination, event_id=event_id, limit=1 << 62)
    held = remembered_by_dub(dead, store.clock())
    if not held:
        return Replayed(store.replay(destination=destination, event_id=event_id))
    # one by one, leaving out what Dub would deduplicate
    count = sum(store.replay(destination=r.destination, event_id=r.event_id) for r in dead if r.delivery_id not in held)
    return Replayed(count, held)
