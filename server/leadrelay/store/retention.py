"""Retention: rejected events (and their tallies) are deleted once past their time (leadrelay/maintenance.py)."""

from __future__ import annotations

from leadrelay.store.database import Database


class Retention(Database):
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
