"""Housekeeping that runs beside the service: rejected events are purged after `rejection_retention_days`.

Deletes go in small batches, each its own short transaction in a thread, so intake
never waits behind a long delete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from leadrelay.store import SqlStore

log = logging.getLogger("leadrelay.maintenance")

INTERVAL_S = 60.0
BATCH = 1000


class Maintenance:
    def __init__(self, settings: Any, store: SqlStore, interval_s: float = INTERVAL_S) -> None:
        self.settings = settings
        self.store = store
        self.interval_s = interval_s
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

    async def run_once(self) -> int:
        """Purge what is past its retention; returns how many rejected events were removed."""
        before = time.time() - self.settings.rejection_retention_days * 86400
        removed = 0
        while not self._stopping.is_set():
            n = await asyncio.to_thread(self.store.purge_rejections, before, BATCH)
            removed += n
            if n < BATCH:
                break
        return removed

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                removed = await self.run_once()
                if removed:
                    log.info("purged %d rejected events older than %g days", removed, self.settings.rejection_retention_days)
            except Exception:  # noqa: BLE001 - try again at the next interval
                log.exception("maintenance failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)
            except asyncio.TimeoutError:
                pass
