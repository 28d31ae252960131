"""Destination health: what the workers last learned of each vendor, shared by every worker process and /healthz."""

from __future__ import annotations

from typing import Any

from leadrelay.store.database import Database


class Health(Database):
    def set_health(self, destination: str, healthy: bool, status: int | None = None, error: str | None = None) -> None:
        with self._transaction():
            self._run(
                "INSERT INTO destination_health (destination, healthy, status, error, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (destination) DO UPDATE SET healthy = excluded.healthy, status = excluded.status,"
                " error = excluded.error, updated_at = excluded.updated_at",
                (destination, 1 if healthy else 0, status, error, self.clock()),
            )

    def destination_health(self) -> dict[str, dict[str, Any]]:
        """{destination: {healthy, status, error, updated_at}} for destinations a worker reported on."""
        health = self._health_rows()
        self._end_read()
        return health

    def _health_rows(self) -> dict[str, dict[str, Any]]:
        rows = self._run("SELECT destination, healthy, status, error, updated_at FROM destination_health").fetchall()
        return {
            r["destination"]: {
                "healthy": bool(r["healthy"]),
                "status": r["status"],
                "error": r["error"],
                "updated_at": r["updated_at"],
            }
            for r in rows
        }

    def clear_health(self) -> None:
        with self._transaction():
            self._run("DELETE FROM destination_health")
