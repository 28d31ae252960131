"""The same service on PostgreSQL, chosen by the database URL alone."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from tests.support.postgres import needs_postgres, postgres_schema_url

pytestmark = needs_postgres


def test_collect_on_postgresql(make_settings: Any) -> None:
    with postgres_schema_url() as url:
        app = create_app(make_settings(database_url=url, worker=False))
        with TestClient(app) as client:
            good = {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "pg-1"}}
            bad = {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": {"value": -1}}
            results = client.post("/lr/e", json={"events": [good, good, bad]}).json()["results"]
            assert [r["status"] for r in results] == ["accepted", "duplicate", "rejected"]
            store = app.state.service.store
            assert store.backend.name == "postgresql"
            assert store.get_event(good["id"]).source_id == "pg-1"
            assert store.list_rejections()[0]["errors"][0]["path"] == "value"
