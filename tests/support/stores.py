"""`both_stores`: a fresh store on SQLite, and again on PostgreSQL when LEADRELAY_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from typing import Iterator

import pytest

from leadrelay.store import SqlStore, open_store
from tests.support.clock import FakeClock
from tests.support.postgres import needs_postgres, postgres_schema_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def both_stores(request: pytest.FixtureRequest, db_url: str, clock: FakeClock) -> Iterator[SqlStore]:
    """A set-up store on the test's clock; the test runs once per database."""
    if request.param == "sqlite":
        s = open_store(db_url, clock)
        s.setup()
        yield s
        s.close()
        return
    with postgres_schema_url() as url:
        s = open_store(url, clock)
        s.setup()
        yield s
        s.close()
