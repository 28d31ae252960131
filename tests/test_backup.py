"""The README's online backup of SQLite: `sqlite3 DB ".backup FILE"` while `leadrelay serve` runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from leadrelay.store import open_store
from tests.support.proxy import Leadrelay


def test_sqlite3_backup_of_a_running_service_holds_every_accepted_event(tmp_path: Path) -> None:
    sqlite3 = shutil.which("sqlite3")
    if sqlite3 is None:
        pytest.skip("the sqlite3 command is not installed (./run test installs Debian's sqlite3 as root)")
    leadrelay = Leadrelay(tmp_path)
    try:
        events = [{"id": f"e-{i}", "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L"}} for i in range(20)]
        with httpx.Client(base_url=leadrelay.url) as client:
            assert client.post("/lr/e", json={"events": events}).status_code == 200
            backup = tmp_path / "backup.db"
            database = str(leadrelay.database_url.removeprefix("sqlite:///"))
            result = subprocess.run([sqlite3, database, f".backup {backup}"], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            assert client.post("/lr/e", json={"events": [{**events[0], "id": "after"}]}).status_code == 200
    finally:
        leadrelay.stop()

    store = open_store(f"sqlite:///{backup}")
    try:
        store.setup()  # as leadrelay does on start from a restored file
        assert sorted(event.id for event in store.list_events(limit=100)) == sorted(e["id"] for e in events)
    finally:
        store.close()
