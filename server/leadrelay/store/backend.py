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
    commits_async: bool  # an intake commit goes out on the loop's own asynchronous connection (`run_alone_async`)
    reads_on_loop: bool  # a read never waits on the network: cheap enough for the event loop
    schema_lock: str | None  # taken first in the schema's set-up, so that processes starting at once set it up in turn
    group_in_one_statement: bool  # an intake group can be one statement of data-modifying WITH clauses (`run_alone`)
    pooled: bool  # connections come from a pool, one per transaction (borrow, give_back); else one per thread (connect)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What the driver raises when the database fails (as opposed to a bug in leadrelay)."""

    def set_lock_wait(self, conn: Any, seconds: float | None) -> None:
        """How long `conn` waits for another connection's write lock (None: the connection's default)."""

    def is_busy(self, exc: Exception) -> bool:
        """Whether `exc` says another connection held the write lock for longer than the wait."""

    def connect(self) -> Any:
        """A new connection whose rows are read by column name (`row["id"]`)."""

    def borrow(self) -> Any:
        """A pooled backend's connection for one transaction, as `connect` makes them."""

    def give_back(self, conn: Any) -> None:
        """Return a borrowed connection to the pool, its transaction ended."""

    def sql(self, query: str) -> str:
        """Adapt a query written with '?' placeholders to the driver's paramstyle."""

    def params(self, values: Sequence[Any]) -> Sequence[Any]:
        """Adapt a query's parameters to what the database can store (PostgreSQL text cannot hold NUL)."""

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], suffix: str) -> tuple[str, Sequence[Any]]:
        """One INSERT statement (with '?' placeholders) for all `rows` of `columns`, and its parameters; `suffix`
        follows it (ON CONFLICT ..., RETURNING ...)."""

    def run_alone(self, conn: Any, query: str, params: Sequence[Any]) -> list[Any]:
        """Run one statement on `conn` as its own transaction and return its rows (when `group_in_one_statement`)."""

    async def connect_async(self) -> Any:
        """An asynchronous connection in autocommit mode, for the event loop (when `commits_async`)."""

    async def run_alone_async(self, conn: Any, query: str, params: Sequence[Any]) -> list[Any]:
        """`run_alone` on a connection from `connect_async`."""

    def start(self) -> None:
        """Start background maintenance, if the database needs any."""

    def stop(self) -> None:
        """Stop background maintenance; a pooled backend closes its pool."""
