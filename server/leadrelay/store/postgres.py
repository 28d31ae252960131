"""PostgreSQL backend: the scale-out store. Same schema and queries as SQLite.

Connections come from a pool (psycopg_pool), one per transaction: a process holds
at most `PoolSize.max_size` of them whatever its number of threads (the worker's store
calls, the health checks, the console). The intake's commits and the worker's outcomes go
out on the event loop's own asynchronous connections (`connect_async`, one for each of them,
store/database.py), so N collectors and M workers on one database need
(N + M) x (max_size + 1) connections at most from its `max_connections`.

A group of rows is inserted as one JSON parameter (`json_populate_recordset`), not as a
VALUES list of one parameter per field: the statement's text stays the same whatever
the group's size, so psycopg parses it once and PostgreSQL prepares it, where a
VALUES list of 64 rows cost ~45 µs of client CPU per row to parse and adapt, against
~10 µs as JSON (leadrelay/store/intake.py, bench/README.md).

PostgreSQL text cannot hold a NUL character, which JSON strings can: in a text
column (an event's name, a rejected event's id, a vendor's error message) it is
stored as U+FFFD, the replacement character. Stored JSON (event bodies, raw
rejections, answers) writes it as the escape \\u0000 and keeps it exactly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

import orjson

SCHEMA_LOCK = 0x6C72_7363  # "lrsc": the advisory lock class of leadrelay's schema set-up (see `schema_lock`)


@dataclass(frozen=True)
class PoolSize:
    """How many connections one process keeps to PostgreSQL (settings database_pool_*)."""

    min_size: int = 1  # kept open while idle
    max_size: int = 8  # at most, at once; a transaction beyond them waits for one
    timeout_s: float = 10.0  # how long it waits before failing (the request gets 503)


class PostgresBackend:
    name = "postgresql"
    serial_pk = "BIGSERIAL PRIMARY KEY"
    real = "DOUBLE PRECISION"
    skip_locked = " FOR UPDATE SKIP LOCKED"  # concurrent workers never block on each other's claims
    commits_on_loop = False  # a commit is a network round trip: the loop must not block on it...
    commits_async = True  # ...so the intake sends it on the loop's own asynchronous connection (store/database.py)
    reads_on_loop = False  # a read is a network round trip too
    pooled = True
    group_in_one_statement = True  # an intake group is one statement, data-modifying WITH clauses (store/intake.py)
    # Transaction-scoped, so it is released by the set-up's own commit or rollback (or a lost connection);
    # keyed by the schema the tables go in, so set-ups in different schemas never wait for each other.
    schema_lock = f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK}, hashtext(COALESCE(current_schema(), '')))"

    def __init__(self, url: str, pool: PoolSize = PoolSize()) -> None:
        self.url = url
        self.pool_size = pool
        self._pool: Any = None
        self._pool_lock = threading.Lock()

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)  # psycopg_pool's PoolTimeout (no connection in time) is one too

    def connect(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(self.url, autocommit=False, row_factory=dict_row)

    def borrow(self) -> Any:
        return self._connections().getconn()

    def give_back(self, conn: Any) -> None:
        pool = self._pool
        if pool is None:  # closed meanwhile (the store was closed while a call ran)
            conn.close()
        else:
            pool.putconn(conn)

    def _connections(self) -> Any:
        """The pool, opened on first use (connecting in the background)."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    from psycopg.rows import dict_row
                    from psycopg_pool import ConnectionPool

                    size = self.pool_size
                    self._pool = ConnectionPool(
                        self.url,
                        min_size=size.min_size,
                        max_size=size.max_size,
                        timeout=size.timeout_s,
                        kwargs={"autocommit": False, "row_factory": dict_row},
                        name="leadrelay",
                        open=True,
                    )
        return self._pool

    def set_lock_wait(self, conn: Any, seconds: float | None) -> None:
        """Unused: PostgreSQL's row locks never make the event loop wait (its commits are asynchronous)."""

    def is_busy(self, exc: Exception) -> bool:
        return False

    def sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def params(self, values: Sequence[Any]) -> Sequence[Any]:
        return [_text(v) for v in values]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], suffix: str) -> tuple[str, Sequence[Any]]:
        """One INSERT of `rows` as a single JSON parameter, each row typed by the table's own columns."""
        names = ", ".join(columns)
        records = [{column: _text(value) for column, value in zip(columns, row)} for row in rows]
        query = f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table}, ?::json){suffix}"
        return query, [orjson.dumps(records).decode()]

    async def connect_async(self) -> Any:
        """The event loop's own connection, in autocommit mode: the intake's one-statement groups need no BEGIN."""
        import psycopg
        from psycopg.rows import dict_row

        timeout = max(1, round(self.pool_size.timeout_s))
        return await psycopg.AsyncConnection.connect(self.url, autocommit=True, row_factory=dict_row, connect_timeout=timeout)

    async def run_alone_async(self, conn: Any, query: str, params: Sequence[Any]) -> list[Any]:
        cur = await conn.execute(query, params)
        return await cur.fetchall()

    def run_alone(self, conn: Any, query: str, params: Sequence[Any]) -> list[Any]:
        """In autocommit mode, so psycopg sends no BEGIN and no COMMIT: the statement is its own transaction."""
        conn.autocommit = True
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.autocommit = False

    def start(self) -> None:
        """Nothing runs in the background for PostgreSQL (the pool connects when first used)."""

    def stop(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _text(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value
