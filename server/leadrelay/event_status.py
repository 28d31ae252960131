"""One event's path, for the visitor who sent it: stored, then each destination's delivery or why it skipped it.

`GET {prefix}/_demo/events/{id}` exists only while the demo page is on. It is public ground:
it answers only for an event that the caller's own browser sent, proven by the signed, HttpOnly
visitor cookie that came back with the event's answer, and by the event's id, which that browser
made (random). Anyone else, a guess, an enumeration or a caller without the cookie gets the same
404 as an id that does not exist. What it shows is what the visitor sent, the vendors' event names,
the deliveries' states and their (redacted) last errors: never a credential. In sandbox mode it
also shows the body each destination is sent, which the demo page matches against what the sandbox's
fake vendors received (`{prefix}/_sandbox/wait`).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from leadrelay.caller import Caller
from leadrelay.config import Settings
from leadrelay.destinations.base import Undeliverable
from leadrelay.encoding import dump_json
from leadrelay.errors import BadRequest, Forbidden, NotFound, StoreUnavailable
from leadrelay.event import LeadEvent
from leadrelay.identity import Identity
from leadrelay.protocol import EVENT_ID_PATTERN
from leadrelay.routing import Router
from leadrelay.store import SqlStore
from leadrelay.store.views import DeliveryRow
from leadrelay.trust.cross_site import cross_site
from leadrelay.vendors import destination_states

EVENT_ID = re.compile(EVENT_ID_PATTERN)
NOT_YOURS = "no event of yours has this id (this view shows only the events this browser sent)"


def delivery_state(row: DeliveryRow) -> str:
    """delivered, deduplicated, unattributed, dead, pending (not tried yet) or retrying (tried, tried again later)."""
    if row.state == "pending" and row.attempts:
        return "retrying"
    return row.state


def event_status(event: LeadEvent, deliveries: list[DeliveryRow], router: Router, settings: Settings, sandbox: bool) -> dict[str, Any]:
    """The view of `event`: what was stored, and for every destination what became of it."""
    rows = {row.destination: row for row in deliveries}
    skipped = router.skipped(event)
    destinations: list[dict[str, Any]] = []
    for name, state in destination_states(settings).items():
        entry: dict[str, Any] = {"name": name}
        destination = router.destinations.get(name)
        row = rows.get(name)
        if destination is None:
            entry["off"] = state.removeprefix("off: ")
        elif row is None:
            entry["skipped"] = skipped.get(name, "not routed to it when the event arrived")
        else:
            entry.update(
                event_name=destination.event_name(event),
                state=delivery_state(row),
                attempts=row.attempts,
                last_status=row.last_status,
                last_error=row.last_error,
                next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
                delivered_at=row.delivered_at,
            )
            if sandbox:
                try:
                    entry["sent"] = destination.prepare(event).json
                except Undeliverable as exc:
                    entry["sent"] = None
                    entry["undeliverable"] = str(exc)
        destinations.append(entry)
    return {
        "id": event.id,
        "status": "stored",
        "dialect": event.dialect,
        "name": event.name,
        "received_at": event.received_at,
        "click_ids": event.click_ids,
        "marks": [{"code": mark.code, "message": mark.message} for mark in event.marks],
        "destinations": destinations,
    }


class EventStatus:
    """The endpoint over the service's store and routing."""

    def __init__(self, settings: Settings, store: SqlStore, router: Router, identity: Identity, sandbox: bool) -> None:
        self.settings = settings
        self.store = store
        self.router = router
        self.identity = identity
        self.sandbox = sandbox

    @property
    def path(self) -> str:
        return f"{self.settings.path_prefix}/_demo/events/{{id}}"

    async def show(self, request: Request) -> Response:
        caller = Caller(request.scope)
        evidence = cross_site(caller, self.settings.allowed_origins)
        if evidence is not None:
            raise Forbidden(f"an event's status is shown to the site itself only; this request came from another site ({evidence})", code="cross_site")
        event_id = request.path_params["id"]
        if not EVENT_ID.fullmatch(event_id):
            raise BadRequest("id: must be an event id: 1-100 letters, digits, '_', '.', ':' or '-', starting with a letter or digit")
        visitor = self.identity.known_visitor(caller)
        if visitor is None:
            raise NotFound(NOT_YOURS)
        try:
            body = await run_in_threadpool(self._view, event_id, visitor)
        except Exception as exc:
            if not self.store.is_failure(exc):
                raise
            raise StoreUnavailable("the store cannot be read; retry later", retry_after=5) from exc
        if body is None:
            raise NotFound(NOT_YOURS)
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    def _view(self, event_id: str, visitor: str) -> bytes | None:
        event = self.store.get_event(event_id)
        if event is None or event.visitor_id != visitor:
            return None
        deliveries = self.store.list_deliveries(event_id=event_id)
        return dump_json(event_status(event, deliveries, self.router, self.settings, self.sandbox))
