"""Where events, deliveries and rejections live. `open_store(url)` picks the database by URL scheme."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote, urlsplit

from leadrelay.store.database import StoreBusy
from leadrelay.store.erasure import Erased
from leadrelay.store.intake import Accepted, Click, Intake, Rejected
from leadrelay.store.outbox import Claim, Claimed, Finish, read_claims
from leadrelay.store.postgres import PoolSize, PostgresBackend
from leadrelay.store.sqlite import SQLiteBackend
from leadrelay.store.sqlstore import SqlStore
from leadrelay.store.tallies import Backlog
from leadrelay.store.views import DeliveryRow

if TYPE_CHECKING:
    from leadrelay.config import Settings


def open_store(url: str, clock: Callable[[], float] = time.time, pool: PoolSize = PoolSize()) -> SqlStore:
    """sqlite:///relative.db, sqlite:////absolute.db, or postgresql://user@host:port/db; `clock` is the store's "now";
    `pool` how many connections a process keeps to PostgreSQL."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        if not url.startswith("sqlite:///"):
            raise ValueError("a SQLite URL looks like sqlite:///path/to/file.db")
        return SqlStore(SQLiteBackend(unquote(url[len("sqlite:///") :])), clock)
    if scheme in ("postgresql", "postgres"):
        return SqlStore(PostgresBackend(url, pool), clock)
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")


__all__ = [
    "Accepted",
    "Backlog",
    "Claim",
    "Claimed",
    "Click",
    "DeliveryRow",
    "Erased",
    "Finish",
    "Intake",
    "PoolSize",
    "Rejected",
    "SqlStore",
    "StoreBusy",
    "open_store",
    "store_of",
    "read_claims",
]


def store_of(settings: Settings) -> SqlStore:
    """The store the settings name, with their pool size."""
    pool = PoolSize(settings.database_pool_min_size, settings.database_pool_max_size, settings.database_pool_timeout_s)
    return open_store(settings.database_url, pool=pool)
