"""Retention: what is past its time is deleted in small batches, each its own short transaction
(leadrelay/maintenance.py runs them): intake waits for one batch at most, never for the whole purge.

- events whose every delivery is final and done (delivered, deduplicated or unattributed), with those deliveries,
  `retention_days` after they arrived; an event with a delivery still waiting or dead-lettered stays
  (a dead letter stays until it is replayed and delivered, or purged by hand);
- rejected events (and their tallies) after `rejection_retention_days`;
- the clicks visitors landed with, `click_retention_days` after they were first seen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from leadrelay.store.tallies import Tallies, removed


@dataclass
class Removed:
    """How many rows of each kind a purge (or an erasure) removed."""

    events: int = 0
    deliveries: int = 0
    rejections: int = 0
    clicks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __bool__(self) -> bool:
        return any((self.events, self.deliveries, self.rejections, self.clicks))


class Retention(Tallies):
    def purge_rejections(self, before: float, batch: int = 1000) -> int:
        """Delete up to `batch` rejections (and tallies) older than `before`, in one short transaction."""
        with self._transaction():
            cur = self._run(
                "DELETE FROM rejections WHERE id IN (SELECT id FROM rejections WHERE received_at < ? LIMIT ?)",
                (before, batch),
            )
            removed = int(cur.rowcount)
            self._run("DELETE FROM rejection_tallies WHERE hour < ?", (before - 3600,))
        return removed

    def purge_events(
        self, before: float, batch: int = 500, after: tuple[float, str] | None = None
    ) -> tuple[int, int, tuple[float, str] | None]:
        """Look at up to `batch` events received before `before` (and after the event `after`: its
        received_at and id), oldest first; delete those whose deliveries are all done, with them.
        (events, deliveries) deleted, and the last event looked at (None: nothing older is left)."""
        start_at, start_id = after if after is not None else (-1.0, "")
        rows = self._run(
            "SELECT id, received_at FROM events WHERE received_at < ?"
            " AND (received_at > ? OR (received_at = ? AND id > ?)) ORDER BY received_at, id LIMIT ?",
            (before, start_at, start_at, start_id, batch),
        ).fetchall()
        self._end_read()
        if not rows:
            return 0, 0, None
        ids = [r["id"] for r in rows]
        marks = ", ".join("?" * len(ids))
        with self._transaction():
            held = self._run(
                f"SELECT DISTINCT event_id FROM deliveries WHERE event_id IN ({marks}) AND state IN ('pending', 'dead')",
                ids,
            ).fetchall()
            kept = {r["event_id"] for r in held}
            done = [i for i in ids if i not in kept]
            deliveries = events = 0
            if done:
                marks = ", ".join("?" * len(done))
                gone = self._run(
                    f"DELETE FROM deliveries WHERE event_id IN ({marks}) RETURNING destination, state", done
                ).fetchall()
                events = int(self._run(f"DELETE FROM events WHERE id IN ({marks})", done).rowcount)
                deliveries = len(gone)
                self._tally(removed(gone))
        last = (float(rows[-1]["received_at"]), str(rows[-1]["id"]))
        return events, deliveries, (last if len(rows) == batch else None)

    def purge_clicks(self, before: float, batch: int = 1000) -> int:
        """Delete up to `batch` clicks first seen before `before`, in one short transaction."""
        with self._transaction():
            cur = self._run(
                "DELETE FROM clicks WHERE (visitor_id, click_id, vendor) IN"
                " (SELECT visitor_id, click_id, vendor FROM clicks WHERE seen_at < ? LIMIT ?)",
                (before, batch),
            )
            return int(cur.rowcount)
