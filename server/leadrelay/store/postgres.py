"""PostgreSQL backend: the scale-out store. Same schema and queries as SQLite."""

from __future__ import annotations

from typing import Any


class PostgresBackend:
    name = "postgresql"
    serial_pk = "BIGSERIAL PRIMARY KEY"
    real = "DOUBLE PRECISION"
    skip_locked = " FOR UPDATE SKIP LOCKED"  # concurrent workers never block on each other's claims
    commits_on_loop = False  # a commit is a network round trip: the intake commits on its own thread

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=False)

    def set_lock_wait(self, conn: Any, seconds: float | None) -> None:
        """Unused: PostgreSQL commits run on the intake thread, which may wait."""

    def is_busy(self, exc: Exception) -> bool:
        return False

    def sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def start(self) -> None:
        """Nothing runs in the background for PostgreSQL."""

    def stop(self) -> None:
        pass
