"""The store: events, their deliveries (the outbox) and rejected events, behind one SQL implementation.

SQLite and PostgreSQL share the schema and every query; a `Backend` supplies only
what differs (connecting, placeholders, a few column types, row locking).
All methods are synchronous, each one transaction, and safe to call from any
thread: every thread gets its own connection.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Protocol, Sequence

from leadrelay.arrival import load_stored
from leadrelay.event import LeadEvent, dump_event
from leadrelay.protocol import FieldError

SCHEMA_VERSION = 1


class Backend(Protocol):
    name: str
    serial_pk: str  # an auto-incrementing integer primary key column definition
    real: str  # the floating-point column type
    skip_locked: str  # appended to the claim sub-select (row locking where the database has it)
    commits_on_loop: bool  # a commit never waits on a disk flush or the network (see intake.py)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What the driver raises when the database fails (as opposed to a bug in leadrelay)."""

    def set_lock_wait(self, conn: Any, seconds: float | None) -> None:
        """How long `conn` waits for another connection's write lock (None: the connection's default)."""

    def is_busy(self, exc: Exception) -> bool:
        """Whether `exc` says another connection held the write lock for longer than the wait."""

    def connect(self) -> Any: ...

    def sql(self, query: str) -> str:
        """Adapt a query written with '?' placeholders to the driver's paramstyle."""

    def params(self, values: Sequence[Any]) -> Sequence[Any]:
        """Adapt a query's parameters to what the database can store (PostgreSQL text cannot hold NUL)."""

    def start(self) -> None:
        """Start background maintenance, if the database needs any."""

    def stop(self) -> None: ...


@dataclass(slots=True)
class Accepted:
    """An accepted event as intake stores it: its row, not its LeadEvent object graph.

    `body` is the event's arrival (leadrelay.arrival: what the collector writes) or
    its canonical event (`of`); either reads back as the LeadEvent. A request holds
    only this while it waits for its commit: the fewer objects kept alive across
    that wait, the more of the process's memory stays in cache.
    """

    id: str
    dialect: str
    name: str
    visitor_id: str | None
    received_at: float
    body: str  # JSON: the event's arrival, or the LeadEvent
    destinations: Sequence[str]

    @classmethod
    def of(cls, event: LeadEvent, destinations: Sequence[str]) -> Accepted:
        return cls(
            event.id, event.dialect, event.name, event.visitor_id, event.received_at, dump_event(event), destinations
        )


@dataclass
class Rejected:
    """A rejected event. One that is not `kept` (over the budget of its shape and source) is only counted."""

    event_id: str | None
    dialect: str | None
    errors: list[FieldError]
    raw: str
    received_at: float = field(default_factory=time.time)
    source: str | None = None  # the client's IP address
    shape: str = ""  # what its errors have in common with others': dialect and rules
    kept: bool = True


Intake = Accepted | Rejected


@dataclass
class Claim:
    """A delivery a worker holds until `lease_until`; then any worker may take it again."""

    delivery_id: int
    event_id: str
    destination: str
    attempts: int
    first_attempt_at: float | None
    event: LeadEvent


@dataclass
class Finish:
    """One attempt's outcome for `finish_many`; see `SqlStore.finish`."""

    claim: Claim
    state: str
    status: int | None
    error: str | None
    response: Any = None
    next_attempt_at: float | None = None


@dataclass
class DeliveryRow:
    delivery_id: int
    event_id: str
    destination: str
    state: str
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    response: Any
    created_at: float
    updated_at: float
    delivered_at: float | None


def _ddl(backend: Backend) -> list[str]:
    real = backend.real
    return [
        f"""CREATE TABLE IF NOT EXISTS events (
            id TEXT PRIMARY KEY,
            dialect TEXT NOT NULL,
            name TEXT NOT NULL,
            visitor_id TEXT,
            received_at {real} NOT NULL,
            body TEXT NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS deliveries (
            id {backend.serial_pk},
            event_id TEXT NOT NULL REFERENCES events(id),
            destination TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at {real} NOT NULL,
            first_attempt_at {real},
            claimed_by TEXT,
            lease_until {real},
            last_status INTEGER,
            last_error TEXT,
            response TEXT,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            delivered_at {real},
            UNIQUE (event_id, destination)
        )""",
        "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at)",
        f"""CREATE TABLE IF NOT EXISTS rejections (
            id {backend.serial_pk},
            event_id TEXT,
            dialect TEXT,
            received_at {real} NOT NULL,
            errors TEXT NOT NULL,
            raw TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS rejections_received ON rejections (received_at)",
        f"""CREATE TABLE IF NOT EXISTS rejection_tallies (
            hour {real} NOT NULL,
            source TEXT NOT NULL,
            shape TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (hour, source, shape)
        )""",
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS destination_health (
            destination TEXT PRIMARY KEY,
            healthy INTEGER NOT NULL,
            status INTEGER,
            error TEXT,
            updated_at {real} NOT NULL
        )""",
    ]


# Upgrades from version N to N+1, applied in order on start. Version 1 is the first schema.
_UPGRADES: dict[int, list[str]] = {}


class SqlStore:
    """The one store implementation; `backend` decides which database it speaks to."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def is_failure(self, exc: BaseException) -> bool:
        """Whether `exc` is the database failing (full disk, lost connection, ...), not a bug: the client may retry."""
        return isinstance(exc, (OSError, *self.backend.errors))

    # -- connections ---------------------------------------------------------

    def _conn(self) -> Any:
        """This thread's connection, waiting for another writer's lock as long as `lock_wait` asks.

        The wait is set on the connection only when it changes: the event loop's
        calls all run inside lock_wait, so its connection is set once, not twice a commit.
        """
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = self.backend.connect()
            local.conn, local.conn_wait = conn, None
            with self._lock:
                self._all.append(conn)
        wait = getattr(local, "wait", None)
        if wait != local.conn_wait:
            self.backend.set_lock_wait(conn, wait)
            local.conn_wait = wait
        return conn

    def _run(self, query: str, params: Sequence[Any] = ()) -> Any:
        cur = self._conn().cursor()
        cur.execute(self.backend.sql(query), self.backend.params(params))
        return cur

    def _transaction(self) -> "_Tx":
        return _Tx(self._conn())

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

    # -- schema ----------------------------------------------------------------

    def setup(self) -> None:
        """Create the schema or upgrade it to SCHEMA_VERSION. Idempotent."""
        with self._transaction():
            for statement in _ddl(self.backend):
                self._run(statement)
            row = self._run("SELECT version FROM schema_version").fetchone()
            if row is None:
                self._run("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                row = (SCHEMA_VERSION,)
            version = row[0]
            while version < SCHEMA_VERSION:
                for statement in _UPGRADES[version]:
                    self._run(statement)
                version += 1
            self._run("UPDATE schema_version SET version = ?", (version,))
        self.backend.start()

    # -- intake ----------------------------------------------------------------

    def write_intake(self, items: Sequence[Intake]) -> list[bool]:
        """Store a group of items in ONE transaction; per item, False means a duplicate event id.

        A handful of multi-row statements per group, not one per row. The events
        INSERT skips ids already stored; when it stored them all (its row count
        says so: the common case) that is the whole answer. Otherwise the
        transaction is rolled back and written again with RETURNING, which names the
        ids it did insert: an id stored at the same moment by another process is
        simply a duplicate here. RETURNING is not the first choice because SQLite
        hands its rows out one step at a time, and the driver releases the GIL for each.
        Inside `lock_wait`, raises StoreBusy (storing nothing) when another writer
        holds the lock longer.
        """
        now = time.time()
        events: list[Accepted] = []
        rejections: list[Rejected] = []
        first: set[str] = set()
        for item in items:
            if isinstance(item, Rejected):
                rejections.append(item)
            elif item.id not in first:  # a repeat inside the group is a duplicate of its first
                first.add(item.id)
                events.append(item)
        try:
            inserted = self._write_group(events, rejections, now, returning=False)
        except _StoredBefore:
            inserted = self._write_group(events, rejections, now, returning=True)
        flags: list[bool] = []
        for item in items:
            if isinstance(item, Rejected):
                flags.append(True)
            else:
                flags.append(item.id in inserted)
                inserted.discard(item.id)  # the first of several with one id takes the flag
        return flags

    def _write_group(self, events: list[Accepted], rejections: list[Rejected], now: float, returning: bool) -> set[str]:
        """One transaction for a group; the ids of the events it inserted.

        Without `returning`, raises _StoredBefore (rolling back) when some event id was already stored.
        """
        inserted: set[str] = set()
        with self._transaction():
            for chunk in chunks(events, 500):
                cur = self._insert_many(
                    "events (id, dialect, name, visitor_id, received_at, body)",
                    [(a.id, a.dialect, a.name, a.visitor_id, a.received_at, a.body) for a in chunk],
                    " ON CONFLICT (id) DO NOTHING RETURNING id" if returning else " ON CONFLICT (id) DO NOTHING",
                )
                if returning:
                    inserted.update(row[0] for row in cur.fetchall())
                elif cur.rowcount != len(chunk):
                    raise _StoredBefore
                else:
                    inserted.update(a.id for a in chunk)
            deliveries = [(a.id, d, now, now, now) for a in events if a.id in inserted for d in a.destinations]
            for chunk in chunks(deliveries, 500):
                self._insert_many("deliveries (event_id, destination, next_attempt_at, created_at, updated_at)", chunk)
            kept = [r for r in rejections if r.kept]
            for chunk in chunks(kept, 500):
                self._insert_many(
                    "rejections (event_id, dialect, received_at, errors, raw)",
                    [
                        (r.event_id, r.dialect, r.received_at, json.dumps([e.model_dump() for e in r.errors]), r.raw)
                        for r in chunk
                    ],
                )
            tallies: dict[tuple[float, str, str], int] = {}
            for r in rejections:
                if not r.kept:
                    key = (r.received_at // 3600 * 3600, r.source or "-", r.shape)
                    tallies[key] = tallies.get(key, 0) + 1
            for chunk in chunks([(*key, n) for key, n in tallies.items()], 500):
                self._insert_many(
                    "rejection_tallies (hour, source, shape, count)",
                    chunk,
                    " ON CONFLICT (hour, source, shape) DO UPDATE SET count = rejection_tallies.count + excluded.count",
                )
        return inserted

    def _insert_many(self, target: str, rows: Sequence[tuple[Any, ...]], suffix: str = "") -> Any:
        """One INSERT statement for all `rows` (all of the same width)."""
        row = "(" + ", ".join("?" * len(rows[0])) + ")"
        values = ", ".join([row] * len(rows))
        return self._run(f"INSERT INTO {target} VALUES {values}{suffix}", [v for r in rows for v in r])

    # -- reading ---------------------------------------------------------------

    def get_event(self, event_id: str) -> LeadEvent | None:
        row = self._run("SELECT body FROM events WHERE id = ?", (event_id,)).fetchone()
        self._end_read()
        return load_stored(row[0]) if row else None

    def list_events(self, limit: int = 100) -> list[LeadEvent]:
        rows = self._run("SELECT body FROM events ORDER BY received_at DESC LIMIT ?", (limit,)).fetchall()
        self._end_read()
        return [load_stored(r[0]) for r in rows]

    def list_rejections(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT id, event_id, dialect, received_at, errors, raw FROM rejections ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        self._end_read()
        return [
            {
                "id": r[0],
                "event_id": r[1],
                "dialect": r[2],
                "received_at": r[3],
                "errors": json.loads(r[4]),
                "raw": r[5],
            }
            for r in rows
        ]

    def rejection_tallies(self, limit: int = 100) -> list[dict[str, Any]]:
        """The rejected events only counted (over their budget), by hour, source and shape, newest first."""
        rows = self._run(
            "SELECT hour, source, shape, count FROM rejection_tallies ORDER BY hour DESC, count DESC LIMIT ?", (limit,)
        ).fetchall()
        self._end_read()
        return [{"hour": r[0], "source": r[1], "shape": r[2], "count": int(r[3])} for r in rows]

    def purge_rejections(self, before: float, batch: int = 1000) -> int:
        """Delete up to `batch` rejections (and tallies) older than `before`, in one short transaction."""
        with self._transaction():
            cur = self._run(
                "DELETE FROM rejections WHERE id IN (SELECT id FROM rejections WHERE received_at < ? LIMIT ?)",
                (before, batch),
            )
            removed = int(cur.rowcount)
            self._run("DELETE FROM rejection_tallies WHERE hour < ?", (before - 3600,))
        return removed

    def count(self, table: str) -> int:
        if table not in ("events", "deliveries", "rejections"):
            raise ValueError(table)
        row = self._run(f"SELECT COUNT(*) FROM {table}").fetchone()
        self._end_read()
        return int(row[0])

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """{destination: {state: count}}."""
        rows = self._run("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state").fetchall()
        self._end_read()
        out: dict[str, dict[str, int]] = {}
        for destination, state, n in rows:
            out.setdefault(destination, {})[state] = int(n)
        return out

    def list_deliveries(
        self,
        state: str | None = None,
        destination: str | None = None,
        event_id: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryRow]:
        where, params = self._filters(state=state, destination=destination, event_id=event_id)
        rows = self._run(
            "SELECT id, event_id, destination, state, attempts, next_attempt_at, last_status, last_error,"
            f" response, created_at, updated_at, delivered_at FROM deliveries{where} ORDER BY id LIMIT ?",
            (*params, limit),
        ).fetchall()
        self._end_read()
        return [
            DeliveryRow(
                delivery_id=r[0],
                event_id=r[1],
                destination=r[2],
                state=r[3],
                attempts=r[4],
                next_attempt_at=r[5],
                last_status=r[6],
                last_error=r[7],
                response=json.loads(r[8]) if r[8] else None,
                created_at=r[9],
                updated_at=r[10],
                delivered_at=r[11],
            )
            for r in rows
        ]

    # -- the outbox ------------------------------------------------------------

    def claim(self, worker_id: str, limit: int, lease_s: float, destinations: Iterable[str] | None = None) -> list[Claim]:
        """Take up to `limit` due pending deliveries that no live lease holds, oldest due first."""
        now = time.time()
        dest_filter, dest_params = "", ()
        if destinations is not None:
            names = tuple(destinations)
            if not names:
                return []
            dest_filter = f" AND destination IN ({', '.join('?' for _ in names)})"
            dest_params = names
        with self._transaction():
            rows = self._run(
                "UPDATE deliveries SET claimed_by = ?, lease_until = ?, updated_at = ?"
                " WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
                f" AND (lease_until IS NULL OR lease_until < ?){dest_filter}"
                f" ORDER BY next_attempt_at LIMIT ?{self.backend.skip_locked})"
                " RETURNING id, event_id, destination, attempts, first_attempt_at",
                (worker_id, now + lease_s, now, now, now, *dest_params, limit),
            ).fetchall()
            if not rows:
                return []
            ids = [r[1] for r in rows]
            placeholders = ", ".join("?" for _ in ids)
            bodies = dict(self._run(f"SELECT id, body FROM events WHERE id IN ({placeholders})", ids).fetchall())
        claims: list[Claim] = []
        unreadable: list[tuple[int, str]] = []
        for r in rows:
            try:
                event = load_stored(bodies[r[1]])
            except Exception as exc:  # noqa: BLE001 - one event this version cannot read must not hold up the rest
                unreadable.append((r[0], f"the stored event cannot be read: {exc}"))
                continue
            claims.append(Claim(r[0], r[1], r[2], r[3], r[4], event))
        if unreadable:
            self._dead_letter(unreadable, worker_id)
        claims.sort(key=lambda c: c.delivery_id)
        return claims

    def _dead_letter(self, deliveries: Sequence[tuple[int, str]], worker_id: str) -> None:
        """Dead-letter claimed deliveries that cannot be attempted, each with its reason, for an operator to see.

        An arrival is mapped by the dialect's current code when read: a rule tightened since it
        was accepted can make it unreadable. `replay` puts it back once the code reads it again.
        """
        now = time.time()
        with self._transaction():
            for delivery_id, error in deliveries:
                self._run(
                    "UPDATE deliveries SET state = 'dead', claimed_by = NULL, lease_until = NULL, last_error = ?,"
                    " updated_at = ? WHERE id = ? AND claimed_by = ? AND state = 'pending'",
                    (error, now, delivery_id, worker_id),
                )

    def finish(
        self,
        claim: Claim,
        worker_id: str,
        state: str,
        status: int | None,
        error: str | None,
        response: Any = None,
        next_attempt_at: float | None = None,
    ) -> bool:
        """Record one attempt's outcome: state 'delivered', 'dead', or 'pending' (retry at next_attempt_at).

        Only the worker holding the claim may finish it; returns False when the lease was lost.
        """
        now = time.time()
        with self._transaction():
            cur = self._run(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1,"
                " first_attempt_at = COALESCE(first_attempt_at, ?), next_attempt_at = ?,"
                " claimed_by = NULL, lease_until = NULL, last_status = ?, last_error = ?,"
                " response = COALESCE(?, response), updated_at = ?, delivered_at = ?"
                " WHERE id = ? AND claimed_by = ? AND state = 'pending'",
                (
                    state,
                    now,
                    next_attempt_at if next_attempt_at is not None else now,
                    status,
                    error,
                    json.dumps(response) if response is not None else None,
                    now,
                    now if state == "delivered" else None,
                    claim.delivery_id,
                    worker_id,
                ),
            )
            return cur.rowcount == 1

    def finish_many(self, worker_id: str, results: Sequence[Finish]) -> int:
        """`finish` for many claims in ONE transaction; returns how many were still held by `worker_id`."""
        if not results:
            return 0
        now = time.time()
        rows = [
            (
                r.state,
                now,
                r.next_attempt_at if r.next_attempt_at is not None else now,
                r.status,
                r.error,
                json.dumps(r.response) if r.response is not None else None,
                now,
                now if r.state == "delivered" else None,
                r.claim.delivery_id,
                worker_id,
            )
            for r in results
        ]
        with self._transaction():
            cur = self._conn().cursor()
            cur.executemany(
                self.backend.sql(
                    "UPDATE deliveries SET state = ?, attempts = attempts + 1,"
                    " first_attempt_at = COALESCE(first_attempt_at, ?), next_attempt_at = ?,"
                    " claimed_by = NULL, lease_until = NULL, last_status = ?, last_error = ?,"
                    " response = COALESCE(?, response), updated_at = ?, delivered_at = ?"
                    " WHERE id = ? AND claimed_by = ? AND state = 'pending'"
                ),
                [self.backend.params(row) for row in rows],
            )
            return int(cur.rowcount)

    def release(self, claims: Sequence[Claim], worker_id: str) -> int:
        """Give back claims that were never attempted, so any worker may take them at once."""
        if not claims:
            return 0
        released = 0
        with self._transaction():
            for claim in claims:
                cur = self._run(
                    "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL"
                    " WHERE id = ? AND claimed_by = ? AND state = 'pending'",
                    (claim.delivery_id, worker_id),
                )
                released += cur.rowcount
        return released

    # -- destination health (shared by every worker process and the health endpoint) --

    def set_health(self, destination: str, healthy: bool, status: int | None = None, error: str | None = None) -> None:
        with self._transaction():
            self._run(
                "INSERT INTO destination_health (destination, healthy, status, error, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (destination) DO UPDATE SET healthy = excluded.healthy, status = excluded.status,"
                " error = excluded.error, updated_at = excluded.updated_at",
                (destination, 1 if healthy else 0, status, error, time.time()),
            )

    def destination_health(self) -> dict[str, dict[str, Any]]:
        """{destination: {healthy, status, error, updated_at}} for destinations a worker reported on."""
        rows = self._run("SELECT destination, healthy, status, error, updated_at FROM destination_health").fetchall()
        self._end_read()
        return {
            r[0]: {"healthy": bool(r[1]), "status": r[2], "error": r[3], "updated_at": r[4]} for r in rows
        }

    def clear_health(self) -> None:
        with self._transaction():
            self._run("DELETE FROM destination_health")

    def replay(self, destination: str | None = None, event_id: str | None = None) -> int:
        """Put dead-lettered deliveries back in the queue, due now, with a fresh attempt budget."""
        now = time.time()
        where, params = self._filters(state="dead", destination=destination, event_id=event_id)
        with self._transaction():
            cur = self._run(
                "UPDATE deliveries SET state = 'pending', attempts = 0, first_attempt_at = NULL,"
                f" next_attempt_at = ?, claimed_by = NULL, lease_until = NULL, updated_at = ?{where}",
                (now, now, *params),
            )
            return int(cur.rowcount)

    def next_due_at(self) -> float | None:
        row = self._run("SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'").fetchone()
        self._end_read()
        return row[0] if row else None

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def _filters(**conditions: str | None) -> tuple[str, tuple[Any, ...]]:
        clauses = [f"{column} = ?" for column, value in conditions.items() if value is not None]
        params = tuple(value for value in conditions.values() if value is not None)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _end_read(self) -> None:
        """End the implicit read transaction so readers never pin old snapshots."""
        self._conn().commit()


class _StoredBefore(Exception):
    """An event of the group was already stored: the group is written again, asking which."""


class StoreBusy(Exception):
    """Another connection held the write lock for longer than the caller was willing to wait."""


class _Tx:
    """Commit on success, roll back on error."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self) -> _Tx:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.conn.commit()
        else:
            self.conn.rollback()


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
