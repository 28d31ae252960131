"""Through a real uvicorn server: the snippet, the collect endpoint, cookies, health."""

from __future__ import annotations

import gc
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import brotli
import httpx
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.sandbox.live import LiveServer
from leadrelay.store import open_store


def test_collect_through_a_real_server(live_server: LiveServer) -> None:
    event = {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L-9", "value": 3}}
    with httpx.Client(base_url=live_server.url) as client:
        body = json.dumps({"events": [event]})
        response = client.post("/lr/e", content=body, headers={"Content-Type": "text/plain"})
        assert response.status_code == 200
        assert response.json()["results"][0] == {"id": event["id"], "status": "accepted", "event": {"leadId": "L-9", "value": 3}}
        assert "lr_vid" in response.cookies
        again = client.post("/lr/e", json={"events": [event]})
        assert again.json()["results"][0]["status"] == "duplicate"
    store = live_server.app.state.service.store
    assert store.get_event(event["id"]).name == "leadGenerated"


def test_snippet_is_served_compressed_and_cached(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        stable = client.get("/lr/s.js", headers={"Accept-Encoding": "identity"})
        assert stable.status_code == 200
        assert stable.headers["content-type"].startswith("text/javascript")
        assert "max-age=300" in stable.headers["cache-control"]
        etag = stable.headers["etag"]
        digest = etag.strip('"')
        with client.stream("GET", f"/lr/s.{digest}.js", headers={"Accept-Encoding": "br"}) as hashed:
            assert hashed.headers["content-encoding"] == "br"
            assert "immutable" in hashed.headers["cache-control"]
            assert brotli.decompress(b"".join(hashed.iter_raw())) == stable.content
        with client.stream("GET", "/lr/s.js", headers={"Accept-Encoding": "gzip"}) as gz:
            assert gz.headers["content-encoding"] == "gzip"
            assert gzip.decompress(b"".join(gz.iter_raw())) == stable.content
        not_modified = client.get("/lr/s.js", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304


def test_demo_page_and_health(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "croct.track" in page.text
        assert "/lr/s." in page.text
        health = client.get("/healthz").json()
        assert health["status"] == "ok"
        assert set(health["destinations"]) == {"dub", "pimms", "reshape", "webhook"}


def test_while_serving_the_objects_built_at_start_are_frozen_out_of_the_garbage_collector(settings: Settings) -> None:
    # Walking them in every full collection cost a tenth of a beacon's CPU under load; an app that
    # stops hands them back, so a process that starts many apps (as the tests do) can collect them.
    before = gc.get_freeze_count()
    with TestClient(create_app(settings)) as client:
        assert gc.get_freeze_count() > before + 10_000  # the libraries, schemas and service
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0


def test_an_app_leaves_the_store_it_was_given_open_for_the_others_using_it(make_settings: Any, tmp_path: Path) -> None:
    """Two apps on one store (tests, a console beside the service): the first to stop must not close
    the store under the other, whose threads may be in a query (closing SQLite then crashes the process)."""
    store = open_store(f"sqlite:///{tmp_path / 'shared.db'}")
    closed: list[bool] = []
    close = store.close
    store.close = lambda: closed.append(True)  # type: ignore[method-assign]
    settings = make_settings(worker=False, demo=False)
    with TestClient(create_app(settings, store)) as first, TestClient(create_app(settings, store)) as second:
        first.get("/healthz")
        second.get("/healthz")
    assert closed == []  # neither app closed what it did not open
    assert store.count("events") == 0  # and the store still answers
    close()
