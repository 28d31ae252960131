"""Housekeeping that runs beside the service: what is past its retention is purged (leadrelay/store/retention.py).

Deletes go in small batches, each its own short transaction in a thread, with a pause between
them, so intake never waits behind a long delete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from leadrelay.store import SqlStore
from leadrelay.store.retention import Removed as Purged

log = logging.getLogger("leadrelay.maintenance")

INTERVAL_S = 60.0
BATCH = 500
PAUSE_S = 0.01  # between two batches: room for the intake's commits
DAY = 86400


class Maintenance:
    def __init__(self, settings: Any, store: SqlStore, interval_s: float = INTERVAL_S, batch: int = BATCH) -> None:
        self.settings = settings
        self.store = store
        self.interval_s = interval_s
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop after the batch in progress: a thread's delete cannot be cancelled, and the store closes next."""
        if self._task is not None:
            self._stopping.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self, now: float | None = None) -> Purged:
        """Purge what is past its retention, batch by batch; what was removed."""
        s, now = self.settings, time.time() if now is None else now
        purged = Purged()
        after: tuple[float, str] | None = None
        while not self._stopping.is_set():
            events, deliveries, after = await asyncio.to_thread(
                self.store.purge_events, now - s.retention_days * DAY, self.batch, after
            )
            purged.events += events
            purged.deliveries += deliveries
            if after is None:
                break
            await asyncio.sleep(PAUSE_S)
        purged.rejections = await self._batches(self.store.purge_rejections, now - s.rejection_retention_days * DAY)
        purged.clicks = await self._batches(self.store.purge_clicks, now - s.click_retention_days * DAY)
        return purged

    async def _batches(self, purge: Any, before: float) -> int:
        removed = 0
        while not self._stopping.is_set():
            n = await asyncio.to_thread(purge, before, self.batch)
            removed += n
            if n < self.batch:
                break
            await asyncio.sleep(PAUSE_S)
        return removed

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                purged = await self.run_once()
                if purged:
                    log.info(
                        "purged %d delivered events (%d deliveries), %d rejected events and %d clicks past their retention",
                        purged.events, purged.deliveries, purged.rejections, purged.clicks,
                        extra={"fields": purged.as_dict()},
                    )  # fmt: skip
            except Exception:  # noqa: BLE001 - try again at the next interval
                log.exception("maintenance failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)
            except asyncio.TimeoutError:
                pass
