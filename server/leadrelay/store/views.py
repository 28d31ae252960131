"""Read-only views for the operator (the CLI, /healthz, tests): events, rejections, deliveries and their counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from leadrelay.arrival import load_stored
from leadrelay.event import LeadEvent
from leadrelay.store.database import Database, where


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


class Views(Database):
    def get_event(self, event_id: str) -> LeadEvent | None:
        row = self._run("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        self._end_read()
        return load_stored(row[0]) if row else None

    def list_events(self, limit: int = 100) -> list[LeadEvent]:
        rows = self._run("SELECT body FROM events ORDER BY received_at DESC LIMIT ?", (limit,)).fetchall()
        self._end_read()
        return [load_stored(r[0]) for r in rows]

    def list_rejections(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT id, event_id, dialect, received_at, errors, raw FROM rejections ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        self._end_read()
        return [
            {
                "id": r[0],
                "event_id": r[1],
                "dialect": r[2],
                "received_at": r[3],
                "errors": json.loads(r[4]),
                "raw": r[5],
            }
            for r in rows
        ]

    def rejection_tallies(self, limit: int = 100) -> list[dict[str, Any]]:
        """The rejected events only counted (over their budget), by hour, source and shape, newest first."""
        rows = self._run(
            "SELECT hour, source, shape, count FROM rejection_tallies ORDER BY hour DESC, count DESC LIMIT ?", (limit,)
        ).fetchall()
        self._end_read()
        return [{"hour": r[0], "source": r[1], "shape": r[2], "count": int(r[3])} for r in rows]

    def count(self, table: str) -> int:
        if table not in ("events", "deliveries", "rejections"):
            raise ValueError(table)
        row = self._run(f"SELECT COUNT(*) FROM {table}").fetchone()
        self._end_read()
        return int(row[0])

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """{destination: {state: count}}."""
        rows = self._run("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state").fetchall()
        self._end_read()
        out: dict[str, dict[str, int]] = {}
        for destination, state, n in rows:
            out.setdefault(destination, {})[state] = int(n)
        return out

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
            f" response, created_at, updated_at, delivered_at FROM deliveries{clause} ORDER BY id LIMIT ?",
            (*params, limit),
        ).fetchall()
        self._end_read()
        return [
            DeliveryRow(
                delivery_id=r[0],
                event_id=r[1],
                destination=r[2],
                state=r[3],
                attempts=r[4],
                next_attempt_at=r[5],
                last_status=r[6],
                last_error=r[7],
                response=json.loads(r[8]) if r[8] else None,
                created_at=r[9],
                updated_at=r[10],
                delivered_at=r[11],
            )
            for r in rows
        ]
