"""The delivery counts kept as deliveries change (/healthz's) always equal counting the deliveries."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from leadrelay.store import Finish, SqlStore, open_store
from leadrelay.store.schema import SCHEMA_VERSION
from tests.support.arrivals import accepted
from tests.support.clock import FakeClock
from tests.test_erasure import croct


def agree(store: SqlStore) -> dict[str, dict[str, int]]:
    counts = store.delivery_counts()
    assert counts == store.recount_deliveries()
    return counts


def test_every_change_of_a_delivery_is_counted(both_stores: SqlStore, clock: FakeClock) -> None:
    store = both_stores
    events = [accepted(croct(f"p{i}@example.com"), ["dub", "reshape"]) for i in range(6)]
    assert agree(store) == {}
    store.write_intake(events + [events[0]])  # a duplicate schedules nothing
    assert agree(store) == {"dub": {"pending": 6}, "reshape": {"pending": 6}}
    claims = store.claim("w", limit=100, lease_s=30, destinations=["dub"])
    store.finish_many("w", [
        Finish(claims[0], "delivered", 200, None),
        Finish(claims[1], "deduplicated", 200, "had it"),
        Finish(claims[2], "dead", 400, "bad"),
        Finish(claims[3], "pending", 503, "later", next_attempt_at=clock() + 5),
    ])  # fmt: skip
    assert store.finish_many("other", [Finish(claims[4], "delivered", 200, None)]) == 0  # not its claim
    store.dead_letter([(claims[4].delivery_id, "unreadable")], "w")
    store.release(claims[5:], "w")
    assert agree(store) == {"dub": {"delivered": 1, "deduplicated": 1, "dead": 2, "pending": 2}, "reshape": {"pending": 6}}
    assert store.replay(destination="dub") == 2
    assert agree(store)["dub"] == {"delivered": 1, "deduplicated": 1, "pending": 4}
    store.erase(email="p0@example.com")
    assert agree(store)["reshape"] == {"pending": 5}



async def test_the_workers_one_statement_finish_on_postgresql_records_and_counts_as_finish_many(both_stores: SqlStore, clock: FakeClock) -> None:
    """`finish_many_async` (the worker's, on the loop's own connection): the same rows and counts as `finish_many`."""
    store = both_stores
    if not store.backend.commits_async:
        pytest.skip("only a backend that commits on the loop's connection (PostgreSQL) has it")
    store.write_intake([accepted(croct(f"p{i}@example.com"), ["dub"]) for i in range(5)])
    claims = store.claim("w", limit=100, lease_s=30, destinations=["dub"])
    try:
        assert await store.finish_many_async("other", [Finish(claims[4], "delivered", 200, None)]) == 0  # not its claim
        assert await store.finish_many_async("w", [
            Finish(claims[0], "delivered", 200, None, {"link": {"id": "l1"}}, request='{"clickId":"c0"}'),
            Finish(claims[1], "deduplicated", 200, "had it"),
            Finish(claims[2], "dead", 400, "bad"),
            Finish(claims[3], "pending", 503, "later", next_attempt_at=clock() + 5),
        ]) == 4  # fmt: skip
        assert await store.finish_many_async("w", [Finish(claims[0], "delivered", 200, None)]) == 0  # finished already
    finally:
        await store.aclose("worker")
    assert agree(store) == {"dub": {"delivered": 1, "deduplicated": 1, "dead": 1, "pending": 2}}
    row = store._run("SELECT state, attempts, response, request, delivered_at FROM deliveries WHERE id = ?", (claims[0].delivery_id,)).fetchone()
    store._end_read()
    assert (row["state"], row["attempts"], row["request"]) == ("delivered", 1, '{"clickId":"c0"}')
    assert row["response"] == '{"link": {"id": "l1"}}' and row["delivered_at"] == clock()
    held = store._run("SELECT state, claimed_by FROM deliveries WHERE id = ?", (claims[4].delivery_id,)).fetchone()
    store._end_read()
    assert (held["state"], held["claimed_by"]) == ("pending", "w")  # "other" never held it: untouched

def test_an_older_store_is_counted_when_upgraded(db_url: str) -> None:
    store = open_store(db_url)
    store.setup()
    try:
        store.write_intake([accepted(croct(f"p{i}@example.com"), ["dub"]) for i in range(3)])
        with store._transaction():  # back to version 2: no counts, no kept bodies
            store._run("DROP TABLE delivery_tallies")
            store._run("ALTER TABLE deliveries DROP COLUMN request")
            store._run("ALTER TABLE events DROP COLUMN kind")  # version 4's
            store._run("UPDATE schema_version SET version = 2")
        store.setup()
        assert store._run("SELECT version FROM schema_version").fetchone()["version"] == SCHEMA_VERSION
        store._end_read()
        assert agree(store) == {"dub": {"pending": 3}}
    finally:
        with contextlib.suppress(Exception):
            store.close()


def test_counts_that_drifted_are_corrected_by_check_recount(
    db_url: str, monkeypatch: Any, capsys: Any
) -> None:
    from leadrelay.cli import main as cli

    store = open_store(db_url)
    store.setup()
    store.write_intake([accepted(croct(f"p{i}@example.com"), ["dub"]) for i in range(3)])
    with store._transaction():  # what an older version, which does not count, would leave behind
        store._run("UPDATE deliveries SET state = 'delivered' WHERE id = (SELECT MIN(id) FROM deliveries)")
    assert store.delivery_counts() != store.recount_deliveries()
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", db_url)
    assert cli(["check", "--recount"]) == 0
    assert capsys.readouterr().out.startswith("delivery counts corrected: they had drifted\nconfiguration OK")
    assert agree(store) == {"dub": {"pending": 2, "delivered": 1}}
    assert cli(["check", "--recount"]) == 0
    assert capsys.readouterr().out.startswith("delivery counts checked: they were right")
    store.close()
