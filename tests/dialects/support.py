"""Helpers for the dialect tests: the copied seed examples, and parsing a payload into an event or its errors."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from leadrelay.dialects import DialectError
from leadrelay.vendors import DIALECTS
from leadrelay.arrival import event_of
from leadrelay.event import LeadEvent
from leadrelay.protocol import Envelope, FieldError

SEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "seeds"


def seed_text(name: str) -> str:
    """The text of a copied seed example, e.g. seed_text('croct_000_payload_example.txt')."""
    return (SEEDS / name).read_text(encoding="utf-8").rstrip("\n")


def seed_json(name: str) -> Any:
    """A copied seed example, parsed, e.g. seed_json('reshape_003_complete.json')."""
    return json.loads(seed_text(name))


@contextmanager
def dub_sdk(answer: dict[str, Any]) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """The official `dub` Python SDK on a transport that answers `answer` to every call; the bodies it sent."""
    dub = pytest.importorskip("dub")
    httpx = pytest.importorskip("httpx")
    sent: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=answer)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with dub.Dub(token="dub_test", server_url="http://dub.test", client=client) as sdk:
        yield sdk, sent


def envelope(dialect: str, payload: dict[str, Any], type: str | None = None) -> Envelope:
    return Envelope(id="e1", dialect=dialect, type=type, payload=payload)


def sent(dialect: str, payload: dict[str, Any], type: str | None = None) -> dict[str, Any]:
    """The envelope as a client sends it and the store keeps it: a dict."""
    return {"id": "e1", "dialect": dialect, "payload": payload} | ({"type": type} if type is not None else {})


def accept(dialect: str, payload: dict[str, Any], type: str | None = None) -> LeadEvent:
    """Parse a payload that must be valid; the LeadEvent.

    Also holds `event_of` (dialects.base) to it: the store keeps the envelope and maps it
    again when the event is read, which must give the very event intake saw.
    """
    event = DIALECTS[dialect].parse(envelope(dialect, payload, type))
    assert event_of(DIALECTS[dialect], sent(dialect, payload, type)) == event
    return event


def answer(dialect: str, payload: dict[str, Any], type: str | None = None) -> dict[str, Any] | None:
    """What the client gets back for a payload that must be valid."""
    accept(dialect, payload, type)
    return DIALECTS[dialect].answer(sent(dialect, payload, type))


def reject_all(dialect: str, payload: dict[str, Any], type: str | None = None) -> list[FieldError]:
    """Parse a payload that must be invalid; every error, in order."""
    with pytest.raises(DialectError) as caught:
        DIALECTS[dialect].parse(envelope(dialect, payload, type))
    errors = caught.value.errors
    assert errors, "a DialectError names at least one broken rule"
    return errors


def reject(dialect: str, payload: dict[str, Any], type: str | None = None) -> dict[str, FieldError]:
    """Parse a payload that must be invalid; its errors by path (each path's first error)."""
    errors: dict[str, FieldError] = {}
    for error in reject_all(dialect, payload, type):
        errors.setdefault(error.path, error)
    return errors
