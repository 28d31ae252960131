"""The clicks a visitor landed with (written at `{prefix}/c` through the intake), read when its events claim them."""

from __future__ import annotations

from collections.abc import Collection

from leadrelay.store.database import Database


class Clicks(Database):
    def seen_clicks(self, visitor_id: str, click_ids: Collection[str]) -> dict[str, list[str]]:
        """Which of `click_ids` the visitor landed with, by vendor: one query on the primary key."""
        if not click_ids:
            return {}
        ids = sorted(click_ids)
        rows = self._run(
            f"SELECT vendor, click_id FROM clicks WHERE visitor_id = ? AND click_id IN ({', '.join('?' * len(ids))})",
            (visitor_id, *ids),
        ).fetchall()
        self._end_read()
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row["vendor"], []).append(row["click_id"])
        return found
