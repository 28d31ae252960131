"""The snippet's size budget, measured on the bytes the server sends: at most 2,048 bytes brotli.

A size, not a timing: it fails loudly on any regression. `bench/snippet.py` prints the same numbers.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.snippet import SCRIPT_NAME, static_dir

BROTLI_BUDGET = 2048


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def sent(client: TestClient, path: str, encoding: str) -> bytes:
    """The body exactly as it goes over the wire (not decoded)."""
    with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        assert response.status_code == 200
        assert response.headers.get("content-encoding", "identity") == encoding
        return b"".join(response.iter_raw())


@pytest.mark.parametrize("path", ["/lr/s.js", "hashed"])
def test_the_snippet_fits_in_2048_bytes_of_brotli(client: TestClient, path: str) -> None:
    if path == "hashed":
        path = client.app.state.service.snippet.hashed_url  # type: ignore[attr-defined]
    sizes = {encoding: len(sent(client, path, encoding)) for encoding in ("identity", "gzip", "br")}
    print(f"snippet {path}: raw {sizes['identity']} B, gzip {sizes['gzip']} B, brotli {sizes['br']} B")
    assert sizes["br"] <= BROTLI_BUDGET, f"the snippet is {sizes['br']} bytes brotli: over the {BROTLI_BUDGET}-byte budget"
    assert sizes["br"] < sizes["gzip"] < sizes["identity"]


def test_the_snippet_is_csp_friendly_and_first_party_only() -> None:
    code = (static_dir() / SCRIPT_NAME).read_text()
    assert not re.search(r"\beval\b|\bFunction\(|new Function|setAttribute\(|\.style\b|innerHTML|document\.write", code)
    assert not re.search(r"https?://", code), "the snippet must not call any third party"
    assert "setTimeout(\"" not in code and "setTimeout('" not in code  # no string timers
