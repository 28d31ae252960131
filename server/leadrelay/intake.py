"""Group commit: one writer thread stores everything that arrived while it was busy in one transaction.

Requests `await intake.write(items)`; the answer comes only after the
transaction holding their items has committed (persist, then acknowledge).
While one commit runs, new items queue up and go into the next one together,
so the cost of a commit is shared by every request that waited for it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Sequence

from leadrelay.store import Intake, SqlStore

log = logging.getLogger("leadrelay.intake")

_Job = tuple[Sequence[Intake], asyncio.AbstractEventLoop, "asyncio.Future[list[bool]]"]
_STOP = object()


class GroupCommitter:
    def __init__(self, store: SqlStore, window_ms: float = 0.0, max_items: int = 2000) -> None:
        self.store = store
        self.window_s = window_ms / 1000
        self.max_items = max_items
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leadrelay-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    async def write(self, items: Sequence[Intake]) -> list[bool]:
        """Store `items`; returns, per item, False for a duplicate event id. Raises if the commit failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bool]] = loop.create_future()
        self._queue.put((items, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs: list[_Job] = [first]  # type: ignore[list-item]
            count = len(jobs[0][0])
            if self.window_s:
                time.sleep(self.window_s)
            stop = False
            while count < self.max_items:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                jobs.append(job)  # type: ignore[arg-type]
                count += len(job[0])  # type: ignore[index]
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job[0]]
        try:
            flags = self.store.write_intake(items)
        except Exception:  # noqa: BLE001
            if len(jobs) == 1:
                log.exception("commit of %d items failed", len(items))
                self._resolve(jobs, None, StoreUnavailable("the store could not commit the events"))
                return
            # One request must not fail its neighbours: commit each on its own.
            for job in jobs:
                self._commit([job])
            return
        self._resolve(jobs, flags, None)

    @staticmethod
    def _resolve(jobs: list[_Job], flags: list[bool] | None, exc: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[bool]], object]]] = {}
        offset = 0
        for items, loop, future in jobs:
            outcome: object = exc if flags is None else flags[offset : offset + len(items)]
            offset += len(items)
            by_loop.setdefault(loop, []).append((future, outcome))
        for loop, outcomes in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # the loop is closed: its requests are gone
                pass


class StoreUnavailable(Exception):
    """The store could not commit: nothing was acknowledged."""


def _settle(outcomes: list[tuple[asyncio.Future[list[bool]], object]]) -> None:
    for future, outcome in outcomes:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]
