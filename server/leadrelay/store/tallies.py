"""How many deliveries each destination has in each state, kept as they change: /healthz and /metrics read
a handful of rows instead of counting a million (a GROUP BY over every delivery took 0.7 s at a million rows).

Every write that adds, moves or removes deliveries adds its changes in the same transaction (`_tally`),
as ONE statement at its end, its rows in one order: on PostgreSQL two transactions then never wait
for each other's counters in opposite orders (no deadlock), and each holds them only until its commit.
Code that changes a delivery's state must tally it; `recount_deliveries` is the truth to compare with.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from leadrelay.store.database import Database
from leadrelay.store.health import HEALTH_QUERY, health_of

Change = Mapping[tuple[str, str], int]
"""{(destination, state): how many more (negative: fewer)}"""

RECOUNT = (
    "INSERT INTO delivery_tallies (destination, state, count)"
    " SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state"
)


class Tallies(Database):
    def delivery_counts(self) -> dict[str, dict[str, int]]:
        """{destination: {state: count}}, states with none left out."""
        return self._counts("SELECT destination, state, count AS n FROM delivery_tallies WHERE count <> 0")

    def recount_deliveries(self) -> dict[str, dict[str, int]]:
        """The same counts, by counting every delivery (slow on a large store: for tests and repairs)."""
        return self._counts("SELECT destination, state, COUNT(*) AS n FROM deliveries GROUP BY destination, state")

    def _counts(self, query: str, end: bool = True) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self._run(query).fetchall():
            out.setdefault(r["destination"], {})[r["state"]] = int(r["n"])
        if end:
            self._end_read()
        return out

    def repair_tallies(self) -> bool:
        """Count every delivery again and keep that (one transaction; slow on a large store). Whether they differed:
        code older than the counts (a rollback) changed deliveries without counting."""
        with self._transaction():
            before = {(r["destination"], r["state"]): int(r["count"]) for r in self._run(
                "SELECT destination, state, count FROM delivery_tallies WHERE count <> 0").fetchall()}  # fmt: skip
            self._run("DELETE FROM delivery_tallies")
            self._run(RECOUNT)
            after = {(r["destination"], r["state"]): int(r["count"]) for r in self._run(
                "SELECT destination, state, count FROM delivery_tallies").fetchall()}  # fmt: skip
        return before != after

    def _tally(self, change: Change) -> None:
        """Add `change` to the counts; called inside the transaction that made it, as its last statement."""
        rows = sorted((destination, state, n) for (destination, state), n in change.items() if n)
        if not rows:
            return
        values = ", ".join(["(?, ?, ?)"] * len(rows))
        self._run(
            f"INSERT INTO delivery_tallies (destination, state, count) VALUES {values}"
            " ON CONFLICT (destination, state) DO UPDATE SET count = delivery_tallies.count + excluded.count",
            [v for row in rows for v in row],
        )


def moved(rows: Iterable[Any], before: str) -> Counter[tuple[str, str]]:
    """The change of deliveries `rows` (RETURNING destination, state: the new state) that were in `before`."""
    change: Counter[tuple[str, str]] = Counter()
    for row in rows:
        change[(row["destination"], before)] -= 1
        change[(row["destination"], row["state"])] += 1
    return change


def removed(rows: Iterable[Any]) -> Counter[tuple[str, str]]:
    """The change of deliveries `rows` (RETURNING destination, state) deleted."""
    change: Counter[tuple[str, str]] = Counter()
    for row in rows:
        change[(row["destination"], row["state"])] -= 1
    return change


@dataclass
class Backlog:
    """The deliveries waiting: how many per destination, since when, and how long the most overdue has been due."""

    waiting: dict[str, int]
    oldest: dict[str, float]  # each destination's oldest waiting delivery: when it was scheduled
    due_since: float | None  # the earliest due time of any waiting delivery (None: none waits)

    def age(self, destination: str, now: float) -> float:
        """Seconds the destination's oldest waiting delivery has waited (0 for none)."""
        oldest = self.oldest.get(destination)
        return max(0.0, now - oldest) if oldest is not None else 0.0

    def overdue(self, now: float) -> float:
        """Seconds the most overdue delivery has been due and not yet sent: how far the workers lag behind."""
        return max(0.0, now - self.due_since) if self.due_since is not None else 0.0


@dataclass
class Overview:
    """What the probes and the metrics show, read together: delivery counts, the backlog, destination health."""

    counts: dict[str, dict[str, int]]
    backlog: Backlog
    health: dict[str, dict[str, Any]]


class Backlogs(Tallies):
    def backlog(self) -> Backlog:
        """A few index look-ups in one statement, whatever the number of deliveries (deliveries_backlog, deliveries_due)."""
        backlog = self._backlog()
        self._end_read()
        return backlog

    def overview(self) -> Overview:
        """Three short statements and one commit: on PostgreSQL each is a round trip, the probes' main cost."""
        counts = self._counts("SELECT destination, state, count AS n FROM delivery_tallies WHERE count <> 0", end=False)
        backlog = self._backlog()
        health = health_of(self._run(HEALTH_QUERY).fetchall())
        self._end_read()
        return Overview(counts, backlog, health)

    def _backlog(self) -> Backlog:
        rows = self._run(
            "SELECT t.destination, t.count,"
            " (SELECT MIN(created_at) FROM deliveries d WHERE d.destination = t.destination AND d.state = 'pending') AS oldest,"
            " (SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending') AS due"
            " FROM delivery_tallies t WHERE t.state = 'pending' AND t.count > 0"
        ).fetchall()
        waiting = {r["destination"]: int(r["count"]) for r in rows}
        oldest = {r["destination"]: float(r["oldest"]) for r in rows if r["oldest"] is not None}
        due = next((float(r["due"]) for r in rows if r["due"] is not None), None)
        return Backlog(waiting, oldest, due)
