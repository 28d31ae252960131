"""PostgreSQL backend: the scale-out store. Same schema and queries as SQLite.

PostgreSQL text cannot hold a NUL character, which JSON strings can: in a text
column (an event's name, a rejected event's id, a vendor's error message) it is
stored as U+FFFD, the replacement character. Stored JSON (event bodies, raw
rejections, answers) writes it as the escape \u0000 and keeps it exactly.
"""

from __future__ import annotations

from typing import Any, Sequence


class PostgresBackend:
    name = "postgresql"
    serial_pk = "BIGSERIAL PRIMARY KEY"
    real = "DOUBLE PRECISION"
    skip_locked = " FOR UPDATE SKIP LOCKED"  # concurrent workers never block on each other's claims
    commits_on_loop = False  # a commit is a network round trip: the intake commits on its own thread
    reads_on_loop = False  # a read is a network round trip too

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def connect(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(self.url, autocommit=False, row_factory=dict_row)

    def set_lock_wait(self, conn: Any, seconds: float | None) -> None:
        """Unused: PostgreSQL commits run on the intake thread, which may wait."""

    def is_busy(self, exc: Exception) -> bool:
        return False

    def sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def params(self, values: Sequence[Any]) -> Sequence[Any]:
        return [v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in values]

    def start(self) -> None:
        """Nothing runs in the background for PostgreSQL."""

    def stop(self) -> None:
        pass
