"""Can the configured database be used? `leadrelay check` asks, and so does every command before it starts.

The probe creates nothing: a SQLite file that does not exist yet only needs a folder that can
hold it (the service creates it), and PostgreSQL gets one connection and `SELECT 1`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

PROBE_TIMEOUT_S = 5.0


def database_problem(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the database at `url` (a valid sqlite:/// or postgresql:// URL) cannot be used, or None."""
    if urlsplit(url).scheme == "sqlite":
        return _sqlite_problem(Path(unquote(url[len("sqlite:///") :])), timeout_s)
    return _postgres_problem(url, timeout_s)


def _sqlite_problem(path: Path, timeout_s: float) -> str | None:
    if not path.exists():
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"the file does not exist and {folder} is not writable"
        return None
    if path.is_dir():
        return "the path is a folder, not a database file"
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return "the file or its folder is not writable (SQLite writes its -wal and -shm files next to it)"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=timeout_s)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    return None


def _postgres_problem(url: str, timeout_s: float) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout_s)), autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        password = urlsplit(url).password
        if password:
            reason = reason.replace(password, "***").replace(unquote(password), "***")
        return reason or type(exc).__name__
    return None
