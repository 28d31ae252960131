"""SQLite backend: the embedded default. WAL mode, one connection per thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class SQLiteBackend:
    name = "sqlite"
    serial_pk = "INTEGER PRIMARY KEY"
    real = "REAL"
    skip_locked = ""  # SQLite has one writer at a time: the UPDATE itself is the lock

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        if path in ("", ":memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared by the service's threads; use a file")
        self.path = path
        self.synchronous = synchronous
        Path(path).parent.mkdir(parents=True, exist_ok=True)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def sql(self, query: str) -> str:
        return query
