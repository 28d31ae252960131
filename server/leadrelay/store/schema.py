"""The tables, and the upgrades that bring an older database to SCHEMA_VERSION."""

from __future__ import annotations

from leadrelay.store.backend import Backend
from leadrelay.store.database import Database
from leadrelay.store.tallies import RECOUNT

SCHEMA_VERSION = 4

# Upgrades from version N to N+1, applied in order on start. Version 1 is the first schema.
UPGRADES: dict[int, list[str]] = {
    1: ["ALTER TABLE events ADD COLUMN marks TEXT"],  # 2: the trust layer's marks; the clicks table is new
    # 3: the body each delivery's last attempt sent; the delivery counts (tallies.py), counted once here
    2: ["ALTER TABLE deliveries ADD COLUMN request TEXT", "DELETE FROM delivery_tallies", RECOUNT],
    3: ["ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'lead'"],  # 4: sales beside leads
}

# Indexes on columns an upgrade adds: made after the upgrades, when every table has its columns.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS events_marked ON events (received_at) WHERE marks IS NOT NULL",
    # The console's dead letters, newest first per destination: only dead deliveries enter it, so
    # intake and a healthy worker never touch it.
    "CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (destination, id) WHERE state = 'dead'",
]


def ddl(backend: Backend) -> list[str]:
    real = backend.real
    return [
        f"""CREATE TABLE IF NOT EXISTS events (
            id TEXT PRIMARY KEY,
            dialect TEXT NOT NULL,
            name TEXT NOT NULL,
            visitor_id TEXT,
            received_at {real} NOT NULL,
            body TEXT NOT NULL,
            marks TEXT,
            kind TEXT NOT NULL DEFAULT 'lead'
        )""",
        # Retention purges the oldest first; `leadrelay events` lists the newest without sorting them all.
        "CREATE INDEX IF NOT EXISTS events_received ON events (received_at, id)",
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
            request TEXT,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            delivered_at {real},
            UNIQUE (event_id, destination)
        )""",
        "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at)",
        # The oldest waiting delivery of each destination, at once (/healthz, /readyz, /metrics).
        "CREATE INDEX IF NOT EXISTS deliveries_backlog ON deliveries (destination, created_at) WHERE state = 'pending'",
        """CREATE TABLE IF NOT EXISTS delivery_tallies (
            destination TEXT NOT NULL,
            state TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (destination, state)
        )""",
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
        f"""CREATE TABLE IF NOT EXISTS clicks (
            visitor_id TEXT NOT NULL,
            click_id TEXT NOT NULL,
            vendor TEXT NOT NULL,
            seen_at {real} NOT NULL,
            PRIMARY KEY (visitor_id, click_id, vendor)
        )""",
        "CREATE INDEX IF NOT EXISTS clicks_seen ON clicks (seen_at)",  # pruned oldest first
    ]


class Schema(Database):
    def setup(self) -> None:
        """Create the schema or upgrade it to SCHEMA_VERSION, then start the backend's maintenance. Idempotent.

        Safe when several processes start at once on one database: each takes the backend's
        schema lock first (on PostgreSQL an advisory lock, keyed by the schema the tables go in),
        so one sets up or upgrades while the others wait, then find the work done. Without it,
        two CREATE TABLE IF NOT EXISTS at once can both pass the check and one then fails.
        """
        with self._transaction():
            if self.backend.schema_lock is not None:
                self._run(self.backend.schema_lock)
            for statement in ddl(self.backend):
                self._run(statement)
            row = self._run("SELECT version FROM schema_version").fetchone()
            if row is None:
                self._run("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
            else:
                version = row["version"]
            while version < SCHEMA_VERSION:
                for statement in UPGRADES[version]:
                    self._run(statement)
                version += 1
            self._run("UPDATE schema_version SET version = ?", (version,))
            for statement in INDEXES:
                self._run(statement)
        self.backend.start()
