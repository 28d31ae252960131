"""What every part of the store stands on: connections, transactions, how long to wait for a lock.

Every store call is synchronous and one transaction, and safe from any thread. On
SQLite each thread keeps a connection of its own; on PostgreSQL a thread borrows one
from the process's pool (leadrelay/store/postgres.py) for one transaction and gives it
back at its end, so a process holds as many connections as it has transactions under
way, not as many as it has threads. The one asynchronous call, the intake's commit on
PostgreSQL (`_run_alone_async`), goes out on the event loop's own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Callable, Iterator, Sequence

from leadrelay.store.backend import Backend


class StoreBusy(Exception):
    """Another connection held the write lock for longer than the caller was willing to wait."""


class Database:
    """The connections to one database; the store's parts (schema.py, intake.py, ...) run their SQL through it.

    `clock` gives every "now" the store writes or compares (leases, due times, updated_at):
    a test passes one it advances instead of sleeping.
    """

    def __init__(self, backend: Backend, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock
        self._local = threading.local()
        self._all: list[Any] = []  # the threads' own connections (a backend without a pool)
        self._lock = threading.Lock()
        self._async: dict[str, tuple[asyncio.AbstractEventLoop, Any]] = {}  # per user, the event loop's own connection and its loop

    def is_failure(self, exc: BaseException) -> bool:
        """Whether `exc` is the database failing (full disk, lost connection, ...), not a bug: the client may retry."""
        return isinstance(exc, (OSError, *self.backend.errors))

    def _conn(self) -> Any:
        """This thread's connection (borrowed from the pool until its transaction ends, when the backend
        has one), waiting for another writer's lock as long as `lock_wait` asks.

        The wait is set on the connection only when it changes: the event loop's
        calls all run inside lock_wait, so its connection is set once, not twice a commit.
        """
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None:
            if self.backend.pooled:
                conn = self.backend.borrow()
            else:
                conn = self.backend.connect()
                with self._lock:
                    self._all.append(conn)
            local.conn, local.conn_wait = conn, None
        wait = getattr(local, "wait", None)
        if wait != local.conn_wait:
            self.backend.set_lock_wait(conn, wait)
            local.conn_wait = wait
        return conn

    def _run(self, query: str, params: Sequence[Any] = ()) -> Any:
        """Execute one statement written with '?' placeholders; the cursor.

        A read outside a transaction that fails is rolled back here (and its connection given
        back), so the next call on this thread starts clean."""
        cur = self._conn().cursor()
        try:
            cur.execute(self.backend.sql(query), self.backend.params(params))
        except BaseException:
            if not getattr(self._local, "in_tx", False):
                self._end(commit=False)
            raise
        return cur

    def _run_alone(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """One statement as its own transaction, and its rows: one round trip, no BEGIN or COMMIT sent
        (only on a backend that can, `group_in_one_statement`)."""
        conn = self._conn()
        try:
            return self.backend.run_alone(conn, self.backend.sql(query), self.backend.params(params))
        finally:
            self._end(commit=None)

    async def _run_alone_async(self, query: str, params: Sequence[Any] = (), user: str = "intake") -> list[Any]:
        """`_run_alone` on the event loop's own connection (a backend that `commits_async`): the loop
        waits for the answer as it waits for a socket, serving requests meanwhile.

        One connection per loop and `user` (the intake's, the worker's: neither waits behind the
        other's statement), opened on first use; a connection that failed is closed, and the next
        call opens another."""
        loop = asyncio.get_running_loop()
        held = self._async.get(user)
        if held is None or held[0] is not loop or held[1].closed:
            self._async.pop(user, None)  # a connection of a loop that has gone: its socket closes with it
            held = self._async[user] = (loop, await self.backend.connect_async())
        conn = held[1]
        try:
            return await self.backend.run_alone_async(conn, self.backend.sql(query), self.backend.params(params))
        except BaseException:
            if conn.broken:
                self._async.pop(user, None)
                await conn.close()
            raise

    async def aclose(self, user: str = "intake") -> None:
        """Close `user`'s connection of the event loop (the others close with `close`)."""
        held = self._async.pop(user, None)
        if held is not None and held[0] is asyncio.get_running_loop():
            await held[1].close()

    def _transaction(self) -> _Tx:
        return _Tx(self)

    def _end_read(self) -> None:
        """End the implicit read transaction so readers never pin old snapshots."""
        self._end(commit=True)

    def _end(self, commit: bool | None) -> None:
        """End this thread's transaction (None: none is open); a borrowed connection goes back to the pool."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None:
            return
        try:
            if commit:
                conn.commit()
            elif commit is False:
                with contextlib.suppress(*self.backend.errors):  # a lost connection has nothing to roll back
                    conn.rollback()
        finally:
            if self.backend.pooled:
                local.conn = None
                self.backend.give_back(conn)

    @contextlib.contextmanager
    def lock_wait(self, seconds: float) -> Iterator[None]:
        """Store calls made inside wait at most `seconds` for another writer's lock, then raise StoreBusy.

        The call that raised has been rolled back, so it can be made again where a
        longer wait harms no one (a thread rather than the event loop).
        """
        local = self._local
        outer = getattr(local, "wait", None)
        local.wait = seconds
        try:
            yield
        except Exception as exc:
            if self.backend.is_busy(exc):
                raise StoreBusy("another writer holds the database's write lock") from exc
            raise
        finally:
            local.wait = outer

    def close(self) -> None:
        self.backend.stop()
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            self._all.clear()
        self._local = threading.local()


class _Tx:
    """Commit on success, roll back on error."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> _Tx:
        self.db._conn()
        self.db._local.in_tx = True
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.db._local.in_tx = False
        self.db._end(commit=exc_type is None)


def where(**conditions: str | None) -> tuple[str, tuple[Any, ...]]:
    """A WHERE clause matching every condition that is not None (none: no clause), and its parameters."""
    clauses = [f"{column} = ?" for column, value in conditions.items() if value is not None]
    params = tuple(value for value in conditions.values() if value is not None)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
