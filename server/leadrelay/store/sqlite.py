"""SQLite backend: the embedded default. WAL mode, one connection per thread.

Writers never checkpoint (wal_autocheckpoint=0): a background thread copies the
write-ahead log into the database every `checkpoint_interval_s` with a PASSIVE
checkpoint, which waits for no one, so commits do not pay for it. Measured here:
~124 µs per inserted event with SQLite's automatic checkpoints, ~50 µs without.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger("leadrelay.store")

LOCK_WAIT_S = 30.0  # how long a connection waits for another's write lock before giving up


class SQLiteBackend:
    name = "sqlite"
    serial_pk = "INTEGER PRIMARY KEY"
    real = "REAL"
    skip_locked = ""  # SQLite has one writer at a time: the UPDATE itself is the lock
    commits_async = False  # sqlite3 has no asynchronous API: a commit runs on the loop or on the writer thread
    reads_on_loop = True  # in WAL mode a read waits for no writer, and never on the network
    pooled = False  # a connection per thread: opening one costs nothing and holds nothing on a server
    group_in_one_statement = False  # no data-modifying WITH: a group is a transaction of a few statements
    schema_lock = None  # the set-up's first CREATE takes SQLite's write lock: set-ups already run one at a time

    def __init__(self, path: str, synchronous: str = "NORMAL", checkpoint_interval_s: float = 1.0) -> None:
        if path in ("", ":memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared by the service's threads; use a file")
        self.path = path
        self.synchronous = synchronous
        self.checkpoint_interval_s = checkpoint_interval_s
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        Path(path).parent.mkdir(parents=True, exist_ok=True)

    @property
    def commits_on_loop(self) -> bool:
        """In WAL mode with synchronous NORMAL or OFF a commit does not wait for the disk: cheap enough
        to run on the event loop. With FULL or EXTRA every commit waits for an fsync."""
        return self.synchronous.upper() in ("NORMAL", "OFF")

    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, check_same_thread=False)
        conn.row_factory = sqlite3.Row  # rows are read by column name, as psycopg's dict_row gives them
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def borrow(self) -> sqlite3.Connection:
        raise NotImplementedError("SQLite connections are per thread (connect)")

    def give_back(self, conn: sqlite3.Connection) -> None:
        raise NotImplementedError("SQLite connections are per thread (connect)")

    def run_alone(self, conn: sqlite3.Connection, query: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError("SQLite writes a group as a transaction of several statements")

    async def connect_async(self) -> Any:
        raise NotImplementedError("sqlite3 has no asynchronous connections")

    async def run_alone_async(self, conn: Any, query: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError("SQLite writes a group as a transaction of several statements")

    def set_lock_wait(self, conn: sqlite3.Connection, seconds: float | None) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int((LOCK_WAIT_S if seconds is None else seconds) * 1000)}")

    def is_busy(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode in (
            sqlite3.SQLITE_BUSY,
            sqlite3.SQLITE_LOCKED,
        )

    def sql(self, query: str) -> str:
        return query

    def params(self, values: Sequence[Any]) -> Sequence[Any]:
        return values

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], suffix: str) -> tuple[str, Sequence[Any]]:
        """One INSERT with a VALUES list of `rows`: SQLite parses it in C, and binds each value in C."""
        row = "(" + ", ".join("?" * len(columns)) + ")"
        values = ", ".join([row] * len(rows))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{suffix}", [v for r in rows for v in r]

    def start(self) -> None:
        """Start the background checkpointer (idempotent)."""
        if self._checkpointer is None:
            self._stop.clear()
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="leadrelay-checkpoint", daemon=True)
            self._checkpointer.start()

    def stop(self) -> None:
        if self._checkpointer is not None:
            self._stop.set()
            self._checkpointer.join()
            self._checkpointer = None

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, check_same_thread=False)
        try:
            while not self._stop.wait(self.checkpoint_interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.exception("WAL checkpoint failed; will try again")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            log.exception("final WAL checkpoint failed")
        finally:
            conn.close()
