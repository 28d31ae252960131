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
    request: str | None = None
    """The JSON body the last attempt sent, exactly as sent (no headers: they hold the vendor's key)."""


class Views(Database):
    def get_event(self, event_id: str) -> LeadEvent | None:
        row = self._run("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        self._end_read()
        return load_stored(row["body"]) if row else None

    def list_events(self, limit: int = 100, mark: str | None = None, marked: bool = False) -> list[LeadEvent]:
        """The newest events; only those with the mark `mark`, or with any mark when `marked`."""
        condition, params = "", ()
        if mark is not None:
            pattern = "%," + mark.replace("!", "!!").replace("_", "!_").replace("%", "!%") + ",%"
            condition, params = " WHERE marks IS NOT NULL AND ',' || marks || ',' LIKE ? ESCAPE '!'", (pattern,)
        elif marked:
            condition = " WHERE marks IS NOT NULL"
        query = f"SELECT body FROM events{condition} ORDER BY received_at DESC LIMIT ?"
        rows = self._run(query, (*params, limit)).fetchall()
        self._end_read()
        return [load_stored(r["body"]) for r in rows]

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
        return [
            DeliveryRow(
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
            for r in rows
        ]
