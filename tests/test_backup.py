"""The README's online backups, taken while `leadrelay serve` runs: `sqlite3 DB ".backup FILE"` and pg_dump."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from leadrelay.store import open_store
from tests.support.postgres import POSTGRES_URL, postgres_schema_url
from tests.support.proxy import Leadrelay

EVENTS = [{"id": f"e-{i}", "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L"}} for i in range(20)]


def stored(url: str) -> list[str]:
    """The ids of the events stored at `url`, opened as leadrelay does on start."""
    store = open_store(url)
    try:
        store.setup()
        return [event.id for event in store.list_events(limit=100)]
    finally:
        store.close()


def test_sqlite3_backup_of_a_running_service_holds_every_accepted_event(tmp_path: Path) -> None:
    sqlite3 = shutil.which("sqlite3")
    if sqlite3 is None:
        pytest.skip("the sqlite3 command is not installed (./run test installs Debian's sqlite3 as root)")
    leadrelay = Leadrelay(tmp_path)
    try:
        with httpx.Client(base_url=leadrelay.url) as client:
            assert client.post("/lr/e", json={"events": EVENTS}).status_code == 200
            backup = tmp_path / "backup.db"
            database = str(leadrelay.database_url.removeprefix("sqlite:///"))
            result = subprocess.run([sqlite3, database, f".backup {backup}"], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            assert client.post("/lr/e", json={"events": [{**EVENTS[0], "id": "after"}]}).status_code == 200
    finally:
        leadrelay.stop()

    assert sorted(stored(f"sqlite:///{backup}")) == sorted(e["id"] for e in EVENTS)  # not "after"


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="LEADRELAY_TEST_POSTGRES_URL is not set")
def test_pg_dump_of_a_running_service_restores_every_accepted_event(tmp_path: Path) -> None:
    """The README's pg_dump and pg_restore, on the test's own schema (dropped in between, as lost)."""
    import psycopg

    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        pytest.skip("pg_dump and pg_restore are not installed (Debian's postgresql-client)")
    assert POSTGRES_URL
    with postgres_schema_url() as url:
        schema = url.rsplit("%3D", 1)[1]
        leadrelay = Leadrelay(tmp_path, database_url=url)
        try:
            with httpx.Client(base_url=leadrelay.url) as client:
                assert client.post("/lr/e", json={"events": EVENTS}).status_code == 200
                dump = tmp_path / "leadrelay.dump"
                result = subprocess.run(
                    [pg_dump, "--format=custom", f"--schema={schema}", f"--file={dump}", POSTGRES_URL],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert result.returncode == 0, result.stderr
        finally:
            leadrelay.stop()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
        result = subprocess.run([pg_restore, f"--dbname={POSTGRES_URL}", str(dump)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert sorted(stored(url)) == sorted(e["id"] for e in EVENTS)
