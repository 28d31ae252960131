"""Serving the snippet: hashed and stable URLs, caching, ETag and 304, gzip and brotli, packaging."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Iterator

import brotli
import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.demo import STUB
from leadrelay.snippet import SCRIPT_NAME, SOURCE_NAME, TYPES_NAME, Snippet, static_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def snippet_of(client: TestClient) -> Snippet:
    return client.app.state.service.snippet  # type: ignore[attr-defined,no-any-return]


def raw_get(client: TestClient, path: str, **headers: str) -> tuple[Any, bytes]:
    with client.stream("GET", path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_the_served_script_is_the_built_file() -> None:
    served = (static_dir() / SCRIPT_NAME).read_bytes()
    assert SCRIPT_NAME == "lr.min.js"
    assert len(served) < len((static_dir() / SOURCE_NAME).read_bytes())


def test_the_hashed_url_is_immutable_for_a_year(client: TestClient) -> None:
    snippet = snippet_of(client)
    raw = (static_dir() / SCRIPT_NAME).read_bytes()
    assert snippet.hashed_url == f"/lr/s.{hashlib.sha256(raw).hexdigest()[:12]}.js"
    response, body = raw_get(client, snippet.hashed_url, **{"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert body == raw
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"] == f'"{snippet.asset.digest}"'
    assert response.headers["content-length"] == str(len(raw))


def test_the_stable_url_is_cached_briefly(client: TestClient) -> None:
    response = client.get("/lr/s.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"


def test_an_old_hash_gets_todays_script_without_long_caching(client: TestClient) -> None:
    response = client.get("/lr/s.0123456789ab.js")
    assert response.status_code == 200
    assert response.content == (static_dir() / SCRIPT_NAME).read_bytes()
    assert response.headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize("path", ["/lr/s.js", "hashed"])
def test_etag_revalidation_answers_304(client: TestClient, path: str) -> None:
    if path == "hashed":
        path = snippet_of(client).hashed_url
    etag = client.get(path).headers["etag"]
    for given in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(path, headers={"If-None-Match": given})
        assert response.status_code == 304, given
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert "cache-control" in response.headers
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=1.0, gzip;q=0.8", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("identity", None),
        ("", None),
    ],
)
def test_compression_follows_accept_encoding(client: TestClient, accept: str, coding: str | None) -> None:
    raw = (static_dir() / SCRIPT_NAME).read_bytes()
    response, body = raw_get(client, "/lr/s.js", **{"Accept-Encoding": accept})
    assert response.headers.get("content-encoding") == coding
    decoded = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}[coding](body)
    assert decoded == raw
    assert response.headers["content-length"] == str(len(body))


def test_head_answers_the_headers_only(client: TestClient) -> None:
    response = client.head("/lr/s.js", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "br"
    assert response.content == b""


def test_the_script_may_be_loaded_cross_origin_as_a_module_or_with_integrity(client: TestClient) -> None:
    response = client.get("/lr/s.js", headers={"Origin": "https://shop.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


def test_the_demo_page_loads_the_hashed_url_after_the_stub(client: TestClient) -> None:
    page = client.get("/").text
    hashed = snippet_of(client).hashed_url
    assert f'<script async src="{hashed}"></script>' in page
    assert page.index(STUB) < page.index(hashed)


def test_a_custom_prefix_moves_every_url(make_settings: Any) -> None:
    with TestClient(create_app(make_settings(path_prefix="/track"))) as client:
        assert client.get("/track/s.js").status_code == 200
        assert snippet_of(client).hashed_url.startswith("/track/s.")
        assert client.get("/lr/s.js").status_code == 404


def test_the_script_and_its_declarations_ship_in_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["static"] == "leadrelay/static"
    for name in (SCRIPT_NAME, SOURCE_NAME, TYPES_NAME):
        assert (ROOT / "static" / name).is_file(), name


def test_the_readme_gives_the_demos_stub_and_its_csp_hash() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Install the snippet\n", 1)[1].split("\n## ", 1)[0]
    assert STUB in section
    stub_js = re.fullmatch(r"<script>(.*)</script>", STUB).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(stub_js.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in section
    assert STUB in (ROOT / "examples" / "site" / "index.html").read_text()  # the example site pastes the same
