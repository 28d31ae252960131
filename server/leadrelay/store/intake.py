"""Storing what the collector judged: accepted events with their deliveries, and rejections; and the clicks `/c` saw.

`write_intake` is what leadrelay/intake.py's group commit calls, once per group of requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from leadrelay.protocol import FieldError
from leadrelay.store.database import Database, chunks


@dataclass(slots=True)
class Accepted:
    """An accepted event as intake stores it: its row, not its LeadEvent object graph.

    `body` is the event's arrival (leadrelay.arrival.dump_arrival), read back as its
    LeadEvent. A request holds only this while it waits for its commit: the fewer
    objects kept alive across that wait, the more of the process's memory stays in cache.
    """

    id: str
    dialect: str
    name: str
    visitor_id: str | None
    received_at: float
    body: str  # JSON: the event's arrival
    destinations: Sequence[str]
    marks: str | None = None  # the codes of its marks (leadrelay.trust), comma-separated; None for none


@dataclass
class Rejected:
    """A rejected event. One that is not `kept` (over the budget of its shape and source) is only counted."""

    event_id: str | None
    dialect: str | None
    errors: list[FieldError]
    raw: str
    received_at: float
    source: str | None = None  # the client's IP address
    shape: str = ""  # what its errors have in common with others': dialect and rules
    kept: bool = True


@dataclass(slots=True)
class Click:
    """A click id a visitor landed with, seen at `{prefix}/c`: what lets the visitor's events carry it (leadrelay.trust)."""

    visitor_id: str
    vendor: str
    click_id: str
    seen_at: float


Intake = Accepted | Rejected | Click


class _StoredBefore(Exception):
    """An event of the group was already stored: the group is written again, asking which."""


class IntakeWrites(Database):
    def write_intake(self, items: Sequence[Intake]) -> list[bool]:
        """Store a group of items in ONE transaction; per item, False means a duplicate event id.

        A handful of multi-row statements per group, not one per row. The events
        INSERT skips ids already stored; when it stored them all (its row count
        says so: the common case) that is the whole answer. Otherwise the
        transaction is rolled back and written again with RETURNING, which names the
        ids it did insert: an id stored at the same moment by another process is
        simply a duplicate here. RETURNING is not the first choice because SQLite
        hands its rows out one step at a time, and the driver releases the GIL for each.
        Inside `lock_wait`, raises StoreBusy (storing nothing) when another writer
        holds the lock longer.
        """
        now = self.clock()
        events: list[Accepted] = []
        rejections: list[Rejected] = []
        clicks: list[Click] = []
        first: set[str] = set()
        for item in items:
            if isinstance(item, Rejected):
                rejections.append(item)
            elif isinstance(item, Click):
                clicks.append(item)
            elif item.id not in first:  # a repeat inside the group is a duplicate of its first
                first.add(item.id)
                events.append(item)
        try:
            inserted = self._write_group(events, rejections, clicks, now, returning=False)
        except _StoredBefore:
            inserted = self._write_group(events, rejections, clicks, now, returning=True)
        flags: list[bool] = []
        for item in items:
            if not isinstance(item, Accepted):
                flags.append(True)
            else:
                flags.append(item.id in inserted)
                inserted.discard(item.id)  # the first of several with one id takes the flag
        return flags

    def _write_group(
        self, events: list[Accepted], rejections: list[Rejected], clicks: list[Click], now: float, returning: bool
    ) -> set[str]:
        """One transaction for a group; the ids of the events it inserted.

        Without `returning`, raises _StoredBefore (rolling back) when some event id was already stored.
        """
        inserted: set[str] = set()
        with self._transaction():
            for chunk in chunks(events, 500):
                cur = self._insert_many(
                    "events (id, dialect, name, visitor_id, received_at, body, marks)",
                    [(a.id, a.dialect, a.name, a.visitor_id, a.received_at, a.body, a.marks) for a in chunk],
                    " ON CONFLICT (id) DO NOTHING RETURNING id" if returning else " ON CONFLICT (id) DO NOTHING",
                )
                if returning:
                    inserted.update(row["id"] for row in cur.fetchall())
                elif cur.rowcount != len(chunk):
                    raise _StoredBefore
                else:
                    inserted.update(a.id for a in chunk)
            deliveries = [(a.id, d, now, now, now) for a in events if a.id in inserted for d in a.destinations]
            for chunk in chunks(deliveries, 500):
                self._insert_many("deliveries (event_id, destination, next_attempt_at, created_at, updated_at)", chunk)
            kept = [r for r in rejections if r.kept]
            for chunk in chunks(kept, 500):
                self._insert_many(
                    "rejections (event_id, dialect, received_at, errors, raw)",
                    [
                        (r.event_id, r.dialect, r.received_at, json.dumps([e.model_dump() for e in r.errors]), r.raw)
                        for r in chunk
                    ],
                )
            tallies: dict[tuple[float, str, str], int] = {}
            for r in rejections:
                if not r.kept:
                    key = (r.received_at // 3600 * 3600, r.source or "-", r.shape)
                    tallies[key] = tallies.get(key, 0) + 1
            for chunk in chunks([(*key, n) for key, n in tallies.items()], 500):
                self._insert_many(
                    "rejection_tallies (hour, source, shape, count)",
                    chunk,
                    " ON CONFLICT (hour, source, shape) DO UPDATE SET count = rejection_tallies.count + excluded.count",
                )
            for chunk in chunks(clicks, 500):  # a click seen again keeps the time it was first seen
                rows = [(c.visitor_id, c.click_id, c.vendor, c.seen_at) for c in chunk]
                self._insert_many("clicks (visitor_id, click_id, vendor, seen_at)", rows, " ON CONFLICT DO NOTHING")
        return inserted

    def _insert_many(self, target: str, rows: Sequence[tuple[Any, ...]], suffix: str = "") -> Any:
        """One INSERT statement for all `rows` (all of the same width)."""
        row = "(" + ", ".join("?" * len(rows[0])) + ")"
        values = ", ".join([row] * len(rows))
        return self._run(f"INSERT INTO {target} VALUES {values}{suffix}", [v for r in rows for v in r])
