"""Read-only views for the operator (the CLI, /healthz, tests): events, rejections, deliveries and their counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from leadrelay.arrival import load_stored
from leadrelay.event import LeadEvent
from leadrelay.store.database import Database, where
from leadrelay.store.tallies import Tallies


@dataclass
class DeliveryRow:
    delivery_id: int
    event_id: str
    destination: str
    state: str
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    response: Any
    created_at: float
    updated_at: float
    delivered_at: float | None
    request: str | None = None
    """The JSON body the last attempt sent, exactly as sent (no headers: they hold the vendor's key)."""


class Views(Database):
    def get_event(self, event_id: str) -> LeadEvent | None:
        row = self._run("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        self._end_read()
        return load_stored(row["body"]) if row else None

    def list_events(
        self, limit: int = 100, mark: str | None = None, marked: bool = False, kind: str | None = None
    ) -> list[LeadEvent]:
        """The newest events; only those with the mark `mark`, or with any mark when `marked`; only of `kind` when given."""
        conditions: list[str] = []
        params: list[Any] = []
        if mark is not None:
            pattern = "%," + mark.replace("!", "!!").replace("_", "!_").replace("%", "!%") + ",%"
            conditions.append("marks IS NOT NULL AND ',' || marks || ',' LIKE ? ESCAPE '!'")
            params.append(pattern)
        elif marked:
            conditions.append("marks IS NOT NULL")
        if kind is not None:
            conditions.append("kind = ?")
            params.append(kind)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        query = f"SELECT body FROM events{where} ORDER BY received_at DESC LIMIT ?"
        rows = self._run(query, (*params, limit)).fetchall()
        self._end_read()
        return [load_stored(r["body"]) for r in rows]

    def count_kinds(self) -> dict[str, int]:
        """{kind: how many events are of it}."""
        rows = self._run("SELECT kind, COUNT(*) AS n FROM events GROUP BY kind").fetchall()
        self._end_read()
        return {row["kind"]: int(row["n"]) for row in rows}

    def count_marks(self) -> dict[str, int]:
        """{mark code: how many events have it}."""
        rows = self._run("SELECT marks, COUNT(*) AS n FROM events WHERE marks IS NOT NULL GROUP BY marks").fetchall()
        self._end_read()
        counts: dict[str, int] = {}
        for row in rows:
            for code in row["marks"].split(","):
                counts[code] = counts.get(code, 0) + int(row["n"])
        return counts

    def list_rejections(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT id, event_id, dialect, received_at, errors, raw FROM rejections ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        self._end_read()
        return [
            {
                "id": r["id"],
                "event_id": r["event_id"],
                "dialect": r["dialect"],
                "received_at": r["received_at"],
                "errors": json.loads(r["errors"]),
                "raw": r["raw"],
            }
            for r in rows
        ]

    def rejection_tallies(self, limit: int = 100) -> list[dict[str, Any]]:
        """The rejected events only counted (over their budget), by hour, source and shape, newest first."""
        rows = self._run(
            "SELECT hour, source, shape, count FROM rejection_tallies ORDER BY hour DESC, count DESC LIMIT ?", (limit,)
        ).fetchall()
        self._end_read()
        return [{"hour": r["hour"], "source": r["source"], "shape": r["shape"], "count": int(r["count"])} for r in rows]

    def count(self, table: str) -> int:
        if table not in ("events", "deliveries", "rejections", "clicks"):
            raise ValueError(table)
        row = self._run(f"SELECT COUNT(*) AS n FROM {table}").fetchone()
        self._end_read()
        return int(row["n"])

    def list_deliveries(
        self,
        state: str | None = None,
        destination: str | None = None,
        event_id: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryRow]:
        clause, params = where(state=state, destination=destination, event_id=event_id)
        rows = self._run(
            "SELECT id, event_id, destination, state, attempts, next_attempt_at, last_status, last_error,"
            f" response, request, created_at, updated_at, delivered_at FROM deliveries{clause} ORDER BY id LIMIT ?",
            (*params, limit),
        ).fetchall()
        self._end_read()
        return [_delivery_row(r) for r in rows]


@dataclass
class EventRow:
    """An event as stored, for the console: its columns and its stored body (leadrelay.arrival)."""

    id: str
    dialect: str
    name: str
    visitor_id: str | None
    received_at: float
    body: str


SEARCH_SCAN = 20_000
"""A search by customer id, email or click id reads at most the newest this many events (no column holds
them, and an index of each would cost every beacon)."""


class ConsoleViews(Tallies):
    """Bounded queries the console reads: each uses an index and a LIMIT, whatever the store holds."""

    def stored_event(self, event_id: str) -> EventRow | None:
        row = self._run(
            "SELECT id, dialect, name, visitor_id, received_at, body FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        self._end_read()
        return _event_row(row) if row else None

    def events_since(self, since: float, limit: int) -> list[EventRow]:
        """Events received at or after `since`, oldest first, at most `limit` (the live feed's poll)."""
        rows = self._run(
            "SELECT id, dialect, name, visitor_id, received_at, body FROM events WHERE received_at >= ?"
            " ORDER BY received_at, id LIMIT ?",
            (since, limit),
        ).fetchall()
        self._end_read()
        return [_event_row(r) for r in rows]

    def newest_events(self, limit: int) -> list[EventRow]:
        rows = self._run(
            "SELECT id, dialect, name, visitor_id, received_at, body FROM events ORDER BY received_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        self._end_read()
        return [_event_row(r) for r in rows]

    def events_containing(self, text: str, limit: int, scan: int = SEARCH_SCAN) -> list[EventRow]:
        """Of the newest `scan` events, those whose stored body contains `text` (the caller checks where)."""
        pattern = "%" + text.replace("!", "!!").replace("_", "!_").replace("%", "!%") + "%"
        rows = self._run(
            "SELECT id, dialect, name, visitor_id, received_at, body FROM"
            " (SELECT id, dialect, name, visitor_id, received_at, body FROM events ORDER BY received_at DESC LIMIT ?)"
            " AS newest WHERE body LIKE ? ESCAPE '!' ORDER BY received_at DESC LIMIT ?",
            (scan, pattern, limit),
        ).fetchall()
        self._end_read()
        return [_event_row(r) for r in rows]

    def newest_rejections(self, limit: int) -> list[dict[str, Any]]:
        """The newest kept rejections' dialect, time and errors (not their raw bodies)."""
        rows = self._run(
            "SELECT id, dialect, received_at, errors FROM rejections ORDER BY received_at DESC LIMIT ?", (limit,)
        ).fetchall()
        self._end_read()
        return [
            {"id": r["id"], "dialect": r["dialect"], "received_at": r["received_at"], "errors": json.loads(r["errors"])}
            for r in rows
        ]

    def rejection(self, rejection_id: int) -> dict[str, Any] | None:
        row = self._run(
            "SELECT id, event_id, dialect, received_at, errors, raw FROM rejections WHERE id = ?", (rejection_id,)
        ).fetchone()
        self._end_read()
        if row is None:
            return None
        return {
            "id": row["id"],
            "event_id": row["event_id"],
            "dialect": row["dialect"],
            "received_at": row["received_at"],
            "errors": json.loads(row["errors"]),
            "raw": row["raw"],
        }

    def tallies_by_shape(self, since: float, limit: int) -> list[tuple[str, int]]:
        """The rejections only counted since `since`, summed by shape, the commonest first."""
        rows = self._run(
            "SELECT shape, SUM(count) AS n FROM rejection_tallies WHERE hour >= ? GROUP BY shape ORDER BY n DESC LIMIT ?",
            (since, limit),
        ).fetchall()
        self._end_read()
        return [(r["shape"], int(r["n"])) for r in rows]

    def destination_counts(self) -> dict[str, dict[str, int]]:
        """{destination: {state: count}} as the delivery tallies keep them (tallies.py), with 'retrying'
        (pending after a failed attempt) told apart from 'pending' by reading the pending rows only
        (deliveries_due): few, whatever the store holds."""
        out = self.delivery_counts()
        retrying = self._run(
            "SELECT destination, COUNT(*) AS n FROM deliveries WHERE state = 'pending' AND attempts > 0 GROUP BY destination"
        ).fetchall()
        self._end_read()
        for r in retrying:
            counts = out.setdefault(r["destination"], {})
            counts["retrying"] = int(r["n"])
            counts["pending"] = counts.get("pending", 0) - int(r["n"])
            if not counts["pending"]:
                del counts["pending"]
        return out

    def last_failure(self, destination: str) -> DeliveryRow | None:
        """The newest delivery to `destination` that a vendor (or the network) refused: retrying or dead."""
        rows = [
            self._run(
                "SELECT id FROM deliveries WHERE destination = ? AND state = ? AND attempts > 0 ORDER BY id DESC LIMIT 1",
                (destination, state),
            ).fetchone()
            for state in ("pending", "dead")
        ]
        self._end_read()
        ids = [r["id"] for r in rows if r is not None]
        if not ids:
            return None
        newest = max(ids)
        found = [d for d in self.deliveries_by_id([newest])]
        return found[0] if found else None

    def deliveries_by_id(self, ids: list[int]) -> list[DeliveryRow]:
        if not ids:
            return []
        placeholders = ", ".join("?" for _ in ids)
        rows = self._run(
            "SELECT id, event_id, destination, state, attempts, next_attempt_at, last_status, last_error,"
            f" response, request, created_at, updated_at, delivered_at FROM deliveries WHERE id IN ({placeholders})",
            ids,
        ).fetchall()
        self._end_read()
        return [_delivery_row(r) for r in rows]

    def newest_dead(self, destination: str, limit: int) -> list[DeliveryRow]:
        rows = self._run(
            "SELECT id, event_id, destination, state, attempts, next_attempt_at, last_status, last_error,"
            " response, request, created_at, updated_at, delivered_at FROM deliveries WHERE destination = ? AND state = 'dead'"
            " ORDER BY id DESC LIMIT ?",
            (destination, limit),
        ).fetchall()
        self._end_read()
        return [_delivery_row(r) for r in rows]

    def leads_by_hour(self, hours: list[float]) -> list[dict[str, int]]:
        """Per hour starting at each of `hours` (sorted), {dialect: events received} (the events_received index)."""
        return self._by_hour(hours, "SELECT dialect AS k, COUNT(*) AS n FROM events"
                             " WHERE received_at >= ? AND received_at < ? GROUP BY dialect")

    def outcomes_by_hour(self, hours: list[float]) -> list[dict[str, int]]:
        """Per hour starting at each of `hours` (sorted), {state: deliveries of the events received then}
        (events_received, then each event's deliveries by their (event_id, destination) key)."""
        state = "CASE WHEN d.state = 'pending' AND d.attempts > 0 THEN 'retrying' ELSE d.state END"
        return self._by_hour(
            hours,
            f"SELECT {state} AS k, COUNT(*) AS n FROM events e JOIN deliveries d ON d.event_id = e.id"
            f" WHERE e.received_at >= ? AND e.received_at < ? GROUP BY {state}",
        )

    def _by_hour(self, hours: list[float], query: str) -> list[dict[str, int]]:
        out: list[dict[str, int]] = []
        for start in hours:
            rows = self._run(query, (start, start + 3600)).fetchall()
            out.append({r["k"]: int(r["n"]) for r in rows})
        self._end_read()
        return out


def _event_row(r: Any) -> EventRow:
    body = r["body"]
    return EventRow(r["id"], r["dialect"], r["name"], r["visitor_id"], r["received_at"], body if isinstance(body, str) else body.decode())


def _delivery_row(r: Any) -> DeliveryRow:
    return DeliveryRow(
        delivery_id=r["id"],
        event_id=r["event_id"],
        destination=r["destination"],
        state=r["state"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_status=r["last_status"],
        last_error=r["last_error"],
        response=json.loads(r["response"]) if r["response"] else None,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        delivered_at=r["delivered_at"],
        request=r["request"],
    )
