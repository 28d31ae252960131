"""Storing what the collector judged: accepted events with their deliveries, and rejections; and the clicks `/c` saw.

`write_intake` is what leadrelay/intake.py's group commit calls, once per group of requests.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from leadrelay.protocol import FieldError
from leadrelay.store.database import chunks
from leadrelay.store.tallies import Tallies


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
    kind: str = "lead"  # leadrelay.event.Kind


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


EVENT_COLUMNS = ("id", "dialect", "name", "visitor_id", "received_at", "body", "marks", "kind")
DELIVERY_COLUMNS = ("event_id", "destination", "next_attempt_at", "created_at", "updated_at")
NEW_EVENTS_ONLY = " WHERE event_id IN (SELECT id FROM new_events)"  # in one statement: the deliveries of new events
TALLY_NEW_DELIVERIES = (
    "INSERT INTO delivery_tallies (destination, state, count)"
    " SELECT destination, 'pending', COUNT(*) FROM new_deliveries GROUP BY destination ORDER BY destination"
    " ON CONFLICT (destination, state) DO UPDATE SET count = delivery_tallies.count + excluded.count"
)


@dataclass
class _Rows:
    """One table's rows of a group, and what follows its INSERT (ON CONFLICT ...)."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    suffix: str = ""


@dataclass
class _Group:
    """A group of intake items sorted by table: its events (the first of each id), and the other tables' rows."""

    items: Sequence[Intake]
    events: list[Accepted]
    others: list[_Rows]
    now: float

    @classmethod
    def of(cls, items: Sequence[Intake], now: float) -> _Group:
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
        return cls(items, events, _other_rows(rejections, clicks), now)

    def flags(self, inserted: set[str]) -> list[bool]:
        """Per item, whether it was stored: False for an event whose id was (`inserted` lists the new ones)."""
        flags: list[bool] = []
        for item in self.items:
            if not isinstance(item, Accepted):
                flags.append(True)
            else:
                flags.append(item.id in inserted)
                inserted.discard(item.id)  # the first of several with one id takes the flag
        return flags


class IntakeWrites(Tallies):
    def write_intake(self, items: Sequence[Intake]) -> list[bool]:
        """Store a group of items in ONE transaction; per item, False means a duplicate event id.

        A handful of multi-row statements per group, not one per row. The events
        INSERT skips ids already stored; when it stored them all (its row count
        says so: the common case) that is the whole answer. Otherwise the
        transaction is rolled back and written again with RETURNING, which names the
        ids it did insert: an id stored at the same moment by another process is
        simply a duplicate here. RETURNING is not the first choice because SQLite
        hands its rows out one step at a time, and the driver releases the GIL for each.
        A backend that can write a group in one statement (PostgreSQL: every INSERT a
        data-modifying WITH clause, as its own transaction) does so, with RETURNING:
        one round trip per group, not BEGIN, a statement per table, and COMMIT.
        Inside `lock_wait`, raises StoreBusy (storing nothing) when another writer
        holds the lock longer.
        """
        group = _Group.of(items, self.clock())
        if self.backend.group_in_one_statement:
            rows = self._run_alone(*self._group_statement(group))
            inserted = {row["id"] for row in rows}
        else:
            try:
                inserted = self._write_group(group.events, group.others, group.now, returning=False)
            except _StoredBefore:
                inserted = self._write_group(group.events, group.others, group.now, returning=True)
        return group.flags(inserted)

    async def write_intake_async(self, items: Sequence[Intake]) -> list[bool]:
        """`write_intake` on the event loop, for a backend that `commits_async` (PostgreSQL): the group's one
        statement goes out on the loop's own connection, and the loop serves requests while it waits."""
        group = _Group.of(items, self.clock())
        rows = await self._run_alone_async(*self._group_statement(group))
        return group.flags({row["id"] for row in rows})

    def _write_group(self, events: list[Accepted], others: list[_Rows], now: float, returning: bool) -> set[str]:
        """One transaction for a group; the ids of the events it inserted.

        Without `returning`, raises _StoredBefore (rolling back) when some event id was already stored.
        """
        inserted: set[str] = set()
        with self._transaction():
            for chunk in chunks(events, 500):
                cur = self._insert_many(
                    "events",
                    EVENT_COLUMNS,
                    _event_rows(chunk),
                    " ON CONFLICT (id) DO NOTHING RETURNING id" if returning else " ON CONFLICT (id) DO NOTHING",
                )
                if returning:
                    inserted.update(row["id"] for row in cur.fetchall())
                elif cur.rowcount != len(chunk):
                    raise _StoredBefore
                else:
                    inserted.update(a.id for a in chunk)
            deliveries = _delivery_rows([a for a in events if a.id in inserted], now)
            for part in [_Rows("deliveries", DELIVERY_COLUMNS, deliveries), *others]:
                for chunk in chunks(part.rows, 500):
                    self._insert_many(part.table, part.columns, chunk, part.suffix)
            self._tally(Counter((d[1], "pending") for d in deliveries))  # last: counters stay locked until the commit
        return inserted

    def _group_statement(self, group: _Group) -> tuple[str, list[Any]]:
        """The group as ONE statement, its own transaction, returning the ids of the events it inserted."""
        query, params = self.backend.insert_rows("events", EVENT_COLUMNS, _event_rows(group.events), " ON CONFLICT (id) DO NOTHING RETURNING id")
        clauses = [f"new_events AS ({query})"]
        params = list(params)
        deliveries = _delivery_rows(group.events, group.now)
        if deliveries:  # the new events' deliveries, and the counts they add to (tallies.py), in the same statement
            part_query, part_params = self.backend.insert_rows(
                "deliveries", DELIVERY_COLUMNS, deliveries, NEW_EVENTS_ONLY + " RETURNING destination"
            )
            clauses += [f"new_deliveries AS ({part_query})", f"counted AS ({TALLY_NEW_DELIVERIES})"]
            params += part_params
        for n, part in enumerate(p for p in group.others if p.rows):
            part_query, part_params = self.backend.insert_rows(part.table, part.columns, part.rows, part.suffix)
            clauses.append(f"w{n} AS ({part_query})")
            params += part_params
        return f"WITH {', '.join(clauses)} SELECT id FROM new_events", params

    def _insert_many(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], suffix: str = "") -> Any:
        """One INSERT statement for all `rows` (each a value per column), written as the backend writes it best."""
        return self._run(*self.backend.insert_rows(table, columns, rows, suffix))


def _event_rows(events: Sequence[Accepted]) -> list[tuple[Any, ...]]:
    return [(a.id, a.dialect, a.name, a.visitor_id, a.received_at, a.body, a.marks, a.kind) for a in events]


def _delivery_rows(events: Sequence[Accepted], now: float) -> list[tuple[Any, ...]]:
    return [(a.id, d, now, now, now) for a in events for d in a.destinations]


def _other_rows(rejections: list[Rejected], clicks: list[Click]) -> list[_Rows]:
    """A group's rows besides its events and deliveries: rejections kept, rejections counted, clicks."""
    kept = [
        (r.event_id, r.dialect, r.received_at, json.dumps([e.model_dump() for e in r.errors]), r.raw)
        for r in rejections
        if r.kept
    ]
    tallies: dict[tuple[float, str, str], int] = {}
    for r in rejections:
        if not r.kept:
            key = (r.received_at // 3600 * 3600, r.source or "-", r.shape)
            tallies[key] = tallies.get(key, 0) + 1
    return [
        _Rows("rejections", ("event_id", "dialect", "received_at", "errors", "raw"), kept),
        _Rows(
            "rejection_tallies",
            ("hour", "source", "shape", "count"),
            [(*key, n) for key, n in tallies.items()],
            " ON CONFLICT (hour, source, shape) DO UPDATE SET count = rejection_tallies.count + excluded.count",
        ),
        # A click seen again keeps the time it was first seen.
        _Rows("clicks", ("visitor_id", "click_id", "vendor", "seen_at"), [(c.visitor_id, c.click_id, c.vendor, c.seen_at) for c in clicks], " ON CONFLICT DO NOTHING"),
    ]
