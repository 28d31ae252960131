"""Log lines: JSON when configured, one per delivery outcome, no secret, no personal data unless allowed."""

from __future__ import annotations

import io
import json
import logging
from typing import Any, Callable, Iterator

import pytest

from leadrelay.config import Settings
from leadrelay.logs import Discreet, JsonLines, PrintableFormatter
from leadrelay.store import SqlStore
from leadrelay.sandbox.vendors import Fault
from tests.fakes import DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN, Vendors
from tests.fakes.helpers import deliver_all, enqueue, lead

Make = Callable[..., Settings]


@pytest.fixture
def lines() -> Iterator[Callable[[bool, bool], list[str]]]:
    """Capture what the root logger writes, formatted as the service formats it: lines(json, personal_data)."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    level = root.level

    def start(as_json: bool, personal_data: bool) -> list[str]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonLines() if as_json else PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(Discreet(personal_data))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        handlers.append(handler)
        return []

    yield start
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(level)


async def test_one_json_line_per_delivery_outcome_without_secrets_or_personal_data(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, lines: Any
) -> None:
    s = delivery_settings(log_format="json")
    lines(True, False)
    stream: io.StringIO = logging.getLogger().handlers[-1].stream  # type: ignore[attr-defined]
    vendors.dub.script(Fault.error(503))
    vendors.pimms.outage = Fault.error(400)
    [event] = enqueue(store, s, [lead(7)])
    await deliver_all(s, store)
    out = stream.getvalue()
    records = [json.loads(line) for line in out.splitlines()]  # every line is JSON
    deliveries = [r for r in records if r["logger"] == "leadrelay.worker" and "destination" in r]
    outcomes = sorted((r["destination"], r["state"], r["status"], r["attempt"]) for r in deliveries)
    assert outcomes == [
        ("dub", "delivered", 200, 2),
        ("dub", "pending", 503, 1),
        ("pimms", "dead", 400, 1),
        ("reshape", "delivered", 200, 1),
    ]
    for r in deliveries:
        assert r["event_id"] == event.id and r["latency_ms"] >= 0 and r["level"] in ("info", "warning")
        assert "error" not in r
        assert r["time"].endswith("+00:00")
    for secret in (DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN):
        assert secret not in out
    for personal in (event.customer.email, event.visitor_id, "Carol", event.context.ip or "203.0.113.7"):
        assert personal and personal not in out


async def test_the_vendors_explanation_is_logged_only_when_personal_data_may_be(
    store: SqlStore, delivery_settings: Make, vendors: Vendors, lines: Any
) -> None:
    s = delivery_settings(log_format="json", log_personal_data=True)
    lines(True, True)
    stream: io.StringIO = logging.getLogger().handlers[-1].stream  # type: ignore[attr-defined]
    vendors.pimms.outage = Fault.error(400)
    enqueue(store, s, [lead(8)])
    await deliver_all(s, store)
    [dead] = [json.loads(line) for line in stream.getvalue().splitlines() if '"state": "dead"' in line]
    assert dead["destination"] == "pimms" and "injected fault" in dead["error"]


@pytest.mark.parametrize("personal_data", [False, True])
@pytest.mark.parametrize("as_json", [False, True])
def test_access_lines_lose_the_address_and_the_query(
    lines: Any, as_json: bool, personal_data: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines(as_json, personal_data)
    stream: io.StringIO = logging.getLogger().handlers[-1].stream  # type: ignore[attr-defined]
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "propagate", True)  # as leadrelay serve leaves it (another test's uvicorn may not)
    monkeypatch.setattr(access, "handlers", [])
    monkeypatch.setattr(access, "level", logging.INFO)
    access.info('%s - "%s %s HTTP/%s" %d', "198.51.100.23:5555", "GET", "/lr/c?dub_id=click\x1b[2J", "1.1", 204)
    [line] = stream.getvalue().splitlines()
    assert ("198.51.100.23" in line) is personal_data
    assert ("dub_id" in line) is personal_data
    assert "\x1b" not in line  # escaped, whichever format
    if as_json:
        record = json.loads(line)
        assert (record["method"], record["status"]) == ("GET", 204)
        assert record["path"] == ("/lr/c?dub_id=click\x1b[2J" if personal_data else "/lr/c")
        assert ("client" in record) is personal_data
