"""Group commit: concurrent requests share commits, are answered only after them, and never fail each other."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from leadrelay.errors import StoreUnavailable
from leadrelay.intake import GATHER_ITEMS, GROUP_BYTES, GroupCommitter
from leadrelay.store import Accepted, Intake, SqlStore, StoreBusy, open_store
from leadrelay.store.sqlite import SQLiteBackend
from tests.support import arrivals
from tests.support.postgres import POSTGRES_URL, needs_postgres, postgres_schema_url


class Spy:
    """Records each commit the store is asked for: its size and the thread it ran on ("async" when awaited)."""

    def __init__(self, store: SqlStore) -> None:
        self.commits: list[tuple[int, str]] = []
        self._write = store.write_intake
        self._write_async = store.write_intake_async
        store.write_intake = self.write_intake  # type: ignore[method-assign]
        store.write_intake_async = self.write_intake_async  # type: ignore[method-assign]

    def write_intake(self, items: Sequence[Intake]) -> list[bool]:
        self.commits.append((len(items), threading.current_thread().name))
        return self._write(items)

    async def write_intake_async(self, items: Sequence[Intake]) -> list[bool]:
        self.commits.append((len(items), "async"))
        return await self._write_async(items)


@pytest.fixture(
    params=["NORMAL", "FULL", pytest.param("postgresql", marks=needs_postgres)],
    ids=["on-loop", "writer-thread", "asynchronous"],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """SQLite committing on the loop, SQLite committing on the writer thread, PostgreSQL committing asynchronously."""
    if request.param == "postgresql":
        with postgres_schema_url() as url:
            s = open_store(url)
            s.setup()
            yield s
            s.close()
        return
    s = SqlStore(SQLiteBackend(str(tmp_path / "intake.db"), synchronous=request.param))
    s.setup()
    yield s
    s.close()


def accepted(event_id: str | None = None, destinations: Sequence[str] = ("dub",)) -> Accepted:
    envelope = {"id": event_id or uuid.uuid4().hex, "dialect": "croct", "type": "leadGenerated", "payload": {}}
    return arrivals.accepted(envelope, destinations)


async def write_all(intake: GroupCommitter, batches: list[list[Intake]]) -> list[Any]:
    intake.start()
    try:
        return await asyncio.gather(*(intake.write(b) for b in batches), return_exceptions=True)
    finally:
        await intake.aclose()


def test_where_the_commit_runs_follows_the_backend(store: SqlStore) -> None:
    spy = Spy(store)
    intake = GroupCommitter(store)
    asyncio.run(write_all(intake, [[accepted()]]))
    thread = spy.commits[0][1]
    if store.backend.name == "postgresql":
        assert intake.is_async and thread == "async"
        assert not any(t.name == "leadrelay-intake" for t in threading.enumerate())  # no writer thread was started
    elif store.backend.synchronous == "NORMAL":  # type: ignore[attr-defined]
        assert intake.on_loop and thread == threading.current_thread().name
    else:
        assert not intake.on_loop and thread == "leadrelay-intake"


def test_concurrent_requests_share_commits_and_all_are_stored(store: SqlStore) -> None:
    spy = Spy(store)
    batches: list[list[Intake]] = [[accepted(), accepted()] for _ in range(50)]
    results = asyncio.run(write_all(GroupCommitter(store), batches))
    assert results == [[True, True]] * 50
    assert store.count("events") == 100
    assert store.count("deliveries") == 100
    assert len(spy.commits) < 50  # grouped: fewer commits than requests
    assert sum(size for size, _ in spy.commits) == 100


def test_answers_come_after_the_commit(store: SqlStore) -> None:
    item = accepted()

    async def scenario() -> bool:
        intake = GroupCommitter(store)
        intake.start()
        try:
            await intake.write([item])
            return store.get_event(item.id) is not None  # a fresh read sees it committed
        finally:
            await intake.aclose()

    assert asyncio.run(scenario())


def test_duplicates_across_requests_of_one_group(store: SqlStore) -> None:
    same = uuid.uuid4().hex
    results = asyncio.run(write_all(GroupCommitter(store), [[accepted(same)], [accepted(same)], [accepted()]]))
    assert sorted(r[0] for r in results) == [False, True, True]
    assert store.count("events") == 2


def test_a_bad_request_does_not_fail_its_neighbours(store: SqlStore) -> None:
    broken = accepted(destinations=["dub", "dub"])  # the same delivery twice breaks a constraint
    batches: list[list[Intake]] = [[accepted()], [broken], [accepted()]]
    results = asyncio.run(write_all(GroupCommitter(store), batches))
    assert results[0] == [True] and results[2] == [True]
    assert isinstance(results[1], StoreUnavailable)
    assert store.get_event(broken.id) is None
    assert store.count("events") == 2


@pytest.fixture
def loop_store(tmp_path: Path) -> Iterator[SqlStore]:
    """A store whose commits run on the event loop."""
    s = SqlStore(SQLiteBackend(str(tmp_path / "intake.db")))
    s.setup()
    yield s
    s.close()


def test_requests_still_arriving_over_the_next_turns_join_the_commit(loop_store: SqlStore) -> None:
    spy = Spy(loop_store)

    async def scenario() -> list[list[bool]]:
        intake = GroupCommitter(loop_store)
        intake.start()
        try:
            first = intake.write([accepted()])
            await asyncio.sleep(0)  # a loop turn passes: the commit waits, since a request came
            second = intake.write([accepted(), accepted()])
            await asyncio.sleep(0)
            third = intake.write([accepted()])
            return await asyncio.gather(first, second, third)
        finally:
            intake.stop()

    assert asyncio.run(scenario()) == [[True], [True, True], [True]]
    assert [size for size, _ in spy.commits] == [4]


def test_a_lone_request_waits_one_turn_and_a_full_group_none(loop_store: SqlStore) -> None:
    spy = Spy(loop_store)

    async def scenario() -> None:
        intake = GroupCommitter(loop_store)
        intake.start()
        try:
            lone = intake.write([accepted()])
            for _ in range(2):
                await asyncio.sleep(0)
            assert lone.done()  # one turn to see whether more arrive; none did
            full = intake.write([accepted() for _ in range(GATHER_ITEMS)])
            await asyncio.sleep(0)
            late = intake.write([accepted()])  # a turn later: the full group did not wait for it
            await asyncio.gather(full, late)
        finally:
            intake.stop()

    asyncio.run(scenario())
    assert [size for size, _ in spy.commits] == [1, GATHER_ITEMS, 1]


def test_commits_are_cut_at_max_items(store: SqlStore) -> None:
    spy = Spy(store)
    batches: list[list[Intake]] = [[accepted() for _ in range(3)] for _ in range(10)]
    results = asyncio.run(write_all(GroupCommitter(store, max_items=7), batches))
    assert results == [[True, True, True]] * 10
    assert max(size for size, _ in spy.commits) <= 7
    assert store.count("events") == 30


def test_a_database_locked_by_another_process_does_not_stall_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "locked.db")
    store = SqlStore(SQLiteBackend(path))
    store.setup()
    spy = Spy(store)
    other = sqlite3.connect(path)  # another process's writer, e.g. `leadrelay replay`
    other.execute("BEGIN IMMEDIATE")
    item = accepted()

    async def scenario() -> Any:
        intake = GroupCommitter(store)
        intake.start()
        try:
            write = intake.write([item])  # a future, settled after the commit
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert not write.done()  # the loop turned 20 times while the write waits for the lock, off the loop
            other.commit()  # the other writer lets go
            return await asyncio.wait_for(write, 10)
        finally:
            intake.stop()

    try:
        with caplog.at_level(logging.INFO, logger="leadrelay.intake"):
            flags = asyncio.run(scenario())
    finally:
        other.close()
    assert flags == [True]
    assert store.get_event(item.id) is not None
    assert spy.commits[-1] == (1, "leadrelay-intake")  # committed by the writer thread, once the lock was free
    assert "the database is busy: 1 requests wait for it on the writer thread" in caplog.text
    store.close()


def test_inside_lock_wait_a_busy_database_is_given_up_on_and_outside_it_is_waited_for(tmp_path: Path) -> None:
    path = str(tmp_path / "busy.db")
    store = SqlStore(SQLiteBackend(path))
    store.setup()
    other = sqlite3.connect(path, check_same_thread=False)  # committed from a timer thread below
    other.execute("BEGIN IMMEDIATE")
    try:
        for _ in range(2):  # and again: the short wait is set on the connection once, and still holds
            started = time.monotonic()
            with pytest.raises(StoreBusy), store.lock_wait(0.05):
                store.write_intake([accepted()])
            assert time.monotonic() - started < 2
        threading.Timer(0.3, other.commit).start()
        started = time.monotonic()
        assert store.write_intake([accepted()]) == [True]  # waits for the other writer, then stores
        assert time.monotonic() - started >= 0.25
    finally:
        other.close()
        store.close()


def test_commits_are_cut_at_about_group_bytes_of_bodies(store: SqlStore) -> None:
    """What one commit costs the loop stays bounded whatever the requests hold: large bodies make smaller groups."""
    spy = Spy(store)
    big = [accepted() for _ in range(12)]
    for item in big:
        item.body = item.body[:-1] + ', "padding": "' + "x" * (GROUP_BYTES // 4) + '"}'  # still the arrival's JSON
    results = asyncio.run(write_all(GroupCommitter(store), [[item] for item in big]))
    assert results == [[True]] * 12
    assert len(spy.commits) >= 3 and max(size for size, _ in spy.commits) <= 4
    assert store.count("events") == 12


@pytest.fixture
def pg_store() -> Iterator[SqlStore]:
    if not POSTGRES_URL:
        pytest.skip("LEADRELAY_TEST_POSTGRES_URL is not set")
    with postgres_schema_url() as url:
        s = open_store(url)
        s.setup()
        yield s
        s.close()


def test_a_lost_postgresql_connection_fails_one_group_and_the_next_reconnects(pg_store: SqlStore) -> None:
    """The database closes the loop's connection (a restart, a failover, an operator): the group on it is
    answered 503-worthy (StoreUnavailable, never a crash), and the next commit opens a new connection."""
    import psycopg

    async def scenario() -> tuple[list[bool], object, list[bool]]:
        intake = GroupCommitter(pg_store)
        intake.start()
        try:
            first = await intake.write([accepted()])
            assert "intake" in pg_store._async
            pid = pg_store._async["intake"][1].info.backend_pid
            assert POSTGRES_URL
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            try:
                lost: object = await intake.write([accepted()])
            except StoreUnavailable as exc:
                lost = exc
            again = await intake.write([accepted()])
            return first, lost, again
        finally:
            await intake.aclose()

    first, lost, again = asyncio.run(scenario())
    assert first == [True] and again == [True]
    assert isinstance(lost, StoreUnavailable)
    assert pg_store.count("events") == 2


def test_a_postgresql_that_never_answers_is_given_up_on_and_the_loop_keeps_turning() -> None:
    """A server that takes the connection and says nothing (a hung database, a black-holed address): the
    commit gives up after the pool's timeout (StoreUnavailable: the client retries), and the loop turned
    all along."""
    import socket

    from leadrelay.store import PoolSize

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nothing ever answers the startup message
    port = silent.getsockname()[1]
    store = open_store(f"postgresql://postgres@127.0.0.1:{port}/test", pool=PoolSize(timeout_s=1))

    async def scenario() -> tuple[object, int, float]:
        intake = GroupCommitter(store)
        intake.start()
        turns = 0

        async def ticker() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0.01)
                turns += 1

        tick = asyncio.create_task(ticker())
        started = time.monotonic()
        try:
            try:
                outcome: object = await asyncio.wait_for(intake.write([accepted()]), 15)
            except StoreUnavailable as exc:
                outcome = exc
            return outcome, turns, time.monotonic() - started
        finally:
            tick.cancel()
            await intake.aclose()
            store.close()

    try:
        outcome, turns, took = asyncio.run(scenario())
    finally:
        silent.close()
    assert isinstance(outcome, StoreUnavailable)
    assert 0.9 <= took < 10
    assert turns >= 20  # waiting for the database never held the loop
