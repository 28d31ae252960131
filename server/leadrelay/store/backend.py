"""What a database supplies to the store: connecting, placeholders, a few column types, row locking.

sqlite.py and postgres.py implement it; everything else (the schema, every query) is shared.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence


class Backend(Protocol):
    name: str
    serial_pk: str  # an auto-incrementing integer primary key column definition
    real: str  # the floating-point column type
    skip_locked: str  # appended to the claim sub-select (row locking where the database has it)
    commits_on_loop: bool  # a commit never waits on a disk flush or the network (see leadrelay/intake.py)
    reads_on_loop: bool  # a read never waits on the network: cheap enough for the event loop

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What the driver raises when the database fails (as opposed to a bug in leadrelay)."""

    def set_lock_wait(self, conn: Any, seconds: float | None) -> None:
        """How long `conn` waits for another connection's write lock (None: the connection's default)."""

    def is_busy(self, exc: Exception) -> bool:
        """Whether `exc` says another connection held the write lock for longer than the wait."""

    def connect(self) -> Any:
        """A new connection whose rows are read by column name (`row["id"]`)."""

    def sql(self, query: str) -> str:
        """Adapt a query written with '?' placeholders to the driver's paramstyle."""

    def params(self, values: Sequence[Any]) -> Sequence[Any]:
        """Adapt a query's parameters to what the database can store (PostgreSQL text cannot hold NUL)."""

    def start(self) -> None:
        """Start background maintenance, if the database needs any."""

    def stop(self) -> None: ...
