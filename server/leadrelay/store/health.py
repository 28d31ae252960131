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
        health = health_of(self._run(HEALTH_QUERY).fetchall())
        self._end_read()
        return health

    def clear_health(self) -> None:
        with self._transaction():
            self._run("DELETE FROM destination_health")


HEALTH_QUERY = "SELECT destination, healthy, status, error, updated_at FROM destination_health"


def health_of(rows: list[Any]) -> dict[str, dict[str, Any]]:
    """HEALTH_QUERY's rows as `destination_health` gives them."""
    return {
        r["destination"]: {"healthy": bool(r["healthy"]), "status": r["status"], "error": r["error"], "updated_at": r["updated_at"]}
        for r in rows
    }
