"""A strict fake webhook receiver (a site's CRM or automation tool), as a Standard Webhooks consumer.

It verifies every request's signature with the `standardwebhooks` package's own verifier and
refuses a bad or missing one (401), checks the body's shape (400), records what it got, and
misbehaves on demand with the fake vendors' faults:

    receiver.fake.script(Fault.error(500), Fault.error(429, retry_after=1), Fault.slow(2), Fault.drop())
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from leadrelay.sandbox.vendors import FakeVendor, Invalid


ENVELOPE = {"type", "timestamp", "data"}
EVENT_FIELDS = {
    "id", "name", "dialect", "kind", "sale", "value", "currency", "exchange_rate", "source_id", "customer", "click_ids",
    "visitor_id", "context", "consent", "cookies", "properties", "mode", "quantity", "received_at", "marks",
}  # fmt: skip
"""The canonical event's fields, as the README documents the webhook's `data` (plus `raw` with webhook_raw)."""
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@dataclass
class FakeWebhook(FakeVendor):
    """POST {path}: answers 200 to a correctly signed, well-formed Standard Webhooks message."""

    path: str = "/hooks/leads"
    raw: bool = False  # whether `data.raw` is expected (webhook_raw)
    events_by_message: dict[str, str] = field(default_factory=dict)  # webhook-id -> data.id

    async def handle(self, request: Request) -> Response:
        try:
            request.state.body = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)
        return await super().handle(request)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.events_by_message.clear()

    def authenticate(self, request: Request) -> None:
        try:
            Webhook(self.credential).verify(request.state.body, dict(request.headers), json_parse=False)
        except Exception as exc:  # noqa: BLE001 - the verifier raises ValueError too, on a malformed header
            raise Invalid(401, "unauthorized", f"signature verification failed: {exc}") from None

    def answer(self, request: Request, body: dict[str, Any]) -> Response:
        if set(body) != ENVELOPE:
            raise Invalid(400, "bad_request", f"the body must have exactly {sorted(ENVELOPE)}, not {sorted(body)}")
        kind, timestamp, data = body["type"], body["timestamp"], body["data"]
        if not isinstance(kind, str) or not kind:
            raise Invalid(400, "bad_request", "type: must be a non-empty string")
        if not isinstance(timestamp, str) or not ISO_UTC.match(timestamp) or not _is_time(timestamp):
            raise Invalid(400, "bad_request", "timestamp: must be an ISO 8601 UTC time with milliseconds")
        if not isinstance(data, dict):
            raise Invalid(400, "bad_request", "data: must be an object")
        expected = EVENT_FIELDS | ({"raw"} if self.raw else set())
        if set(data) != expected:
            raise Invalid(400, "bad_request", f"data: unexpected {sorted(set(data) ^ expected)}")
        if data["kind"] not in ("lead", "sale") or (data["kind"] == "sale") != isinstance(data["sale"], dict):
            raise Invalid(400, "bad_request", "data.kind: must be lead (with no sale) or sale (with its sale)")
        message = request.headers["webhook-id"]
        with self._lock:
            known = self.events_by_message.setdefault(message, data["id"])
        if known != data["id"]:
            raise Invalid(409, "conflict", f"webhook-id {message} was already used for event {known}")
        return JSONResponse({"received": True})

    def error(self, status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
