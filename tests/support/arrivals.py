"""Accepted events stored as the collector stores them: the envelope as sent and what the server saw.

The rows tests and benchmarks write are the collector's own (leadrelay.arrival,
collect.Collector._accept): an envelope its dialect accepts, kept as it arrived,
with a `Seen`. They read back as the collector's events do, mapped when read.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any, Sequence

from leadrelay.arrival import Seen, dump_arrival, event_of_arrival
from leadrelay.protocol import Envelope
from leadrelay.routing import Router
from leadrelay.store import Accepted
from leadrelay.vendors import DIALECTS


def request_seen(**changes: Any) -> Seen:
    """What the server saw of a request: a new visitor, now, a browser at a documentation address, no cookies."""
    seen = Seen(
        visitor_id=uuid.uuid4().hex,
        received_at=time.time(),
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 test",
        click_ids={},
    )
    return replace(seen, **changes)


def accepted(envelope: dict[str, Any], destinations: Sequence[str], seen: Seen | None = None) -> Accepted:
    """The row the collector stores for `envelope`, with a delivery to each of `destinations`.

    Its id is its event's (the envelope's, or a sale's invoice id's). The envelope is judged by its dialect's exact rules first, and refused (pydantic's
    ValidationError, DialectError) as the collector would refuse it.
    """
    seen = seen or request_seen()
    dialect = DIALECTS[envelope["dialect"]]
    event = dialect.parse(Envelope.model_validate(envelope))
    body = dump_arrival(envelope, seen.as_json())
    return Accepted(
        event.id, dialect.name, event.name, seen.visitor_id, seen.received_at, body, list(destinations), kind=event.kind
    )


def routed(envelope: dict[str, Any], router: Router, seen: Seen | None = None) -> Accepted:
    """`accepted`, with the deliveries the collector's router picks for its event."""
    seen = seen or request_seen()
    return accepted(envelope, router.destinations_for(event_of_arrival(envelope, seen)), seen)
