"""Group commit: everything that arrived while the previous commit ran goes into one transaction.

Requests `await intake.write(items)`; the answer comes only after the
transaction holding their items has committed (persist, then acknowledge).
A group's commit runs in one of two places, whichever costs the requests less:

- on the event loop, when the backend commits without waiting on a disk flush
  or the network (SQLite in WAL mode with synchronous=NORMAL: a commit is a
  write() into the OS page cache). The first request of a loop turn schedules
  the commit for the next turn; every request that reaches `write` before then
  joins it. No thread, no GIL hand-offs (~5% more requests/s under wrk).
  While requests keep arriving, the commit waits a few more loop turns for them
  (up to GATHER_ITEMS items): a commit costs a fixed handful of pages besides
  its rows, so a row costs less in a bigger group (5.6 µs of loop time in one
  of 24, 3.9 µs in one of 64). A lone request waits one turn, not a timer.
- on the loop as well, but asynchronously, when the backend has an asynchronous
  driver (PostgreSQL: psycopg's AsyncConnection). A group's commit is one
  statement; the loop sends it and serves requests until the answer comes, and
  everything that arrived meanwhile goes into the next commit. One commit is in
  flight at a time, so groups grow with the load by themselves. No thread: a
  writer thread paid Python's lock back and forth with the loop a few times a
  statement (bench/README.md).
- on a writer thread otherwise (SQLite with synchronous=FULL), so the loop keeps
  answering while a commit waits for its fsync; new items queue up meanwhile and
  go into the next commit together.

A group holds at most `max_items` items and about GROUP_BYTES of bodies (a
single request larger than that goes alone): what the loop spends on one commit
stays bounded whatever the requests hold.

On the loop, a commit waits at most LOOP_LOCK_WAIT_S for another process's
write lock (a separate `leadrelay worker`, a `replay`); a group that would wait
longer is handed to the writer thread, so a busy database never stalls the loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Callable, Iterator, Sequence

from leadrelay.errors import StoreUnavailable
from leadrelay.store import Accepted, Intake, Rejected, SqlStore, StoreBusy

log = logging.getLogger("leadrelay.intake")

_Job = tuple[Sequence[Intake], asyncio.AbstractEventLoop, "asyncio.Future[list[bool]]"]
_STOP = object()
LOOP_LOCK_WAIT_S = 0.05
GATHER_ITEMS = 64  # a group this large commits at once: past it, a row costs little less
GATHER_TURNS = 4  # at most this many more loop turns a group waits for requests still arriving
GROUP_BYTES = 512 * 1024  # a group's bodies at most (about 1 ms of the loop's time to encode on PostgreSQL)


class GroupCommitter:
    def __init__(self, store: SqlStore, max_items: int = 2000) -> None:
        self.store = store
        self.max_items = max_items
        self.on_loop = store.backend.commits_on_loop
        self.is_async = not self.on_loop and store.backend.commits_async
        self._pending: list[_Job] = []  # on the loop: the jobs of the next commit
        self._pending_items = 0
        self._gathered = 0  # items pending when the commit last chose to wait a turn
        self._turns = 0  # turns it has waited
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()  # on a thread: jobs waiting for it
        self._thread: threading.Thread | None = None
        self._draining: asyncio.Task[None] | None = None  # asynchronous: the task committing what is pending

    def start(self) -> None:
        if not self.on_loop and not self.is_async:
            self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leadrelay-intake", daemon=True)
        self._thread.start()

    async def aclose(self) -> None:
        """Commit what is pending and stop (the service's shutdown; `stop` is enough for a synchronous backend)."""
        while self._draining is not None:
            await asyncio.shield(self._draining)
        if self.is_async:
            await self.store.aclose()
        self.stop()

    def stop(self) -> None:
        if self._pending and not self.is_async:
            self._commit_now()
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def write(self, items: Sequence[Intake]) -> asyncio.Future[list[bool]]:
        """Store `items`: await the future for, per item, False for a duplicate event id. Raises if the commit failed.

        A plain function returning the future, not a coroutine: one frame less to create
        and to resume on every request."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bool]] = loop.create_future()
        if self.on_loop:
            if not self._pending:
                loop.call_soon(self._commit_pending, loop)
            self._pending.append((items, loop, future))
            self._pending_items += len(items)
        elif self.is_async:
            self._pending.append((items, loop, future))
            if self._draining is None:
                self._draining = loop.create_task(self._drain())
        else:
            self._queue.put((items, loop, future))
        return future

    # -- on the loop -------------------------------------------------------------

    def _commit_pending(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit the pending jobs, or wait one more turn while the last one brought more."""
        count = self._pending_items
        if count < GATHER_ITEMS and count > self._gathered and self._turns < GATHER_TURNS:
            self._gathered = count
            self._turns += 1
            loop.call_soon(self._commit_pending, loop)
            return
        self._commit_now()

    def _commit_now(self) -> None:
        jobs, self._pending = self._pending, []
        self._pending_items = self._gathered = self._turns = 0
        for group in _groups(jobs, self.max_items):
            self._commit(group, _settle, LOOP_LOCK_WAIT_S)

    # -- on the loop, asynchronously -----------------------------------------------

    async def _drain(self) -> None:
        """Commit the pending jobs, then those that arrived meanwhile, until none are left."""
        try:
            while self._pending:
                jobs, self._pending = self._pending, []
                for group in _groups(jobs, self.max_items):
                    await self._commit_async(group)
        finally:
            self._draining = None

    async def _commit_async(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job[0]]
        try:
            flags = await self.store.write_intake_async(items)
        except Exception as exc:  # noqa: BLE001 - settled as its requests' failure
            if len(jobs) == 1:
                _settle(jobs, [self._failure(exc, items)])
                return
            for job in jobs:  # one request must not fail its neighbours
                await self._commit_async([job])
            return
        _settle(jobs, _outcomes(jobs, flags))

    def _hand_to_thread(self, jobs: list[_Job]) -> None:
        """Another writer holds the lock: the writer thread waits for it, not the loop."""
        log.info("the database is busy: %d requests wait for it on the writer thread", len(jobs))
        if self._thread is None:
            self._start_thread()
        for job in jobs:
            self._queue.put(job)

    # -- on the writer thread ------------------------------------------------------

    def _run(self) -> None:
        while True:
            waiting = [self._queue.get()]
            while True:  # everything that queued up during the previous commit
                try:
                    waiting.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            jobs: list[_Job] = [job for job in waiting if job is not _STOP]  # type: ignore[misc]
            for group in _groups(jobs, self.max_items):
                self._commit(group, _settle_from_thread)
            if len(jobs) < len(waiting):
                return

    # -- either --------------------------------------------------------------------

    def _commit(
        self, jobs: list[_Job], settle: Callable[[list[_Job], list[object]], None], lock_wait_s: float | None = None
    ) -> None:
        items = [item for job in jobs for item in job[0]]
        try:
            if lock_wait_s is None:
                flags = self.store.write_intake(items)
            else:
                with self.store.lock_wait(lock_wait_s):
                    flags = self.store.write_intake(items)
        except StoreBusy:
            self._hand_to_thread(jobs)
            return
        except Exception as exc:  # noqa: BLE001 - settled as its requests' failure, never lost in the loop
            if len(jobs) == 1:
                settle(jobs, [self._failure(exc, items)])
                return
            # One request must not fail its neighbours: commit each on its own.
            for job in jobs:
                self._commit([job], settle, lock_wait_s)
            return
        settle(jobs, _outcomes(jobs, flags))

    def _failure(self, exc: Exception, items: list[Intake]) -> Exception:
        """What a request whose commit failed is answered: the database refused, so the client may retry
        (StoreUnavailable); anything else is a bug, answered as one."""
        log.exception("commit of %d items failed", len(items), exc_info=exc)
        return StoreUnavailable("the store could not commit the events") if self.store.is_failure(exc) else exc


def _outcomes(jobs: list[_Job], flags: list[bool]) -> list[object]:
    """A group's flags, cut back into each job's own."""
    outcomes: list[object] = []
    offset = 0
    for job in jobs:
        outcomes.append(flags[offset : offset + len(job[0])])
        offset += len(job[0])
    return outcomes


def _groups(jobs: list[_Job], max_items: int, max_bytes: int = GROUP_BYTES) -> Iterator[list[_Job]]:
    """`jobs` cut into commits of at most `max_items` items and about `max_bytes` of bodies (a bigger job goes alone)."""
    group: list[_Job] = []
    count = size = 0
    for job in jobs:
        job_size = 0
        for item in job[0]:
            job_size += len(item.body) if type(item) is Accepted else _size(item)
        if group and (count + len(job[0]) > max_items or size + job_size > max_bytes):
            yield group
            group, count, size = [], 0, 0
        group.append(job)
        count += len(job[0])
        size += job_size
    if group:
        yield group


def _size(item: Intake) -> int:
    """About how many bytes `item` adds to a commit."""
    if isinstance(item, Accepted):
        return len(item.body)
    if isinstance(item, Rejected):
        return len(item.raw)
    return 64


def _settle(jobs: list[_Job], outcomes: list[object]) -> None:
    """Resolve each job's future with its outcome: its flags, or the failure."""
    for (_, _, future), outcome in zip(jobs, outcomes):
        if future.done():  # the request went away (client disconnect, shutdown)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]


def _settle_from_thread(jobs: list[_Job], outcomes: list[object]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Job], list[object]]] = {}
    for job, outcome in zip(jobs, outcomes):
        mine = by_loop.setdefault(job[1], ([], []))
        mine[0].append(job)
        mine[1].append(outcome)
    for loop, (its_jobs, its_outcomes) in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, its_jobs, its_outcomes)
        except RuntimeError:  # the loop is closed: its requests are gone
            pass
