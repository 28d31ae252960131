"""A throwaway schema in the PostgreSQL test database named by LEADRELAY_TEST_POSTGRES_URL."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import pytest

POSTGRES_URL = os.environ.get("LEADRELAY_TEST_POSTGRES_URL")

needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="LEADRELAY_TEST_POSTGRES_URL is not set"),
]


@contextlib.contextmanager
def postgres_schema_url(url: str | None = None, prefix: str = "t") -> Iterator[str]:
    """A URL whose search_path is a fresh schema of the database at `url` (the tests' by default), dropped on exit."""
    import psycopg

    url = url or POSTGRES_URL
    assert url
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
