"""Prometheus metrics: what this process did (counters, histograms), and what the store holds (gauges).

Two kinds, because the collector and the workers may be separate processes:

- Counters and histograms live in the process that counts (prometheus_client, one registry per
  service): events judged, rate-limit refusals and clicks held back in the collector; attempts,
  their latency and the attempts a delivery took in the worker. Each process is scraped on its
  own (`leadrelay serve` at /metrics behind `metrics_token`, or on `metrics_bind`; a
  `leadrelay worker` on its `metrics_bind`), so sum them across instances: `sum(rate(...))`.
- Gauges of the shared store (deliveries by state, the backlog and its age, destination health)
  are read from the store when scraped: a handful of rows (leadrelay.store.tallies), the same
  from whichever process is scraped, so take them from one (`max`, not `sum`).

Counting costs the intake almost nothing: one integer in a dict per event, after the commit
(0.7 µs a call measured on a loaded machine, half a prometheus_client Counter's; a beacon costs ~130 µs).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from typing import TYPE_CHECKING, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leadrelay.config import bind_address
from leadrelay.errors import NotFound, Unauthorized

if TYPE_CHECKING:
    from leadrelay.caller import Caller
    from leadrelay.store import SqlStore

log = logging.getLogger("leadrelay.metrics")

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50)
WANTED = "Authorization: Bearer <metrics_token>"
EVENTS_HELP = "Events the collector judged, by dialect and verdict"


class Metrics:
    """One service's metrics. `store` adds the store's gauges to what is exposed."""

    def __init__(self, store: SqlStore | None = None, dialects: tuple[str, ...] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.dialects = frozenset(dialects)
        r = self.registry
        self.events: dict[tuple[str, str], int] = {}  # plain ints: the hot path's count (see `judged`)
        r.register(_Judged(self.events))
        self.rate_limited = Counter(
            "leadrelay_rate_limited", "Requests refused with 429, by the limit they were over", ["limit"], registry=r
        )
        self.held_back = Counter(
            "leadrelay_clicks_held_back",
            "Accepted events whose click id was held back: the visitor was not seen landing with it",
            ["dialect"],
            registry=r,
        )
        self.attempts = Counter(
            "leadrelay_delivery_attempts", "Delivery attempts, by destination and outcome", ["destination", "outcome"], registry=r
        )
        self.latency = Histogram(
            "leadrelay_delivery_seconds",
            "How long a vendor took to answer an attempt (or to fail it)",
            ["destination"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tries = Histogram(
            "leadrelay_delivery_attempts_used",
            "Attempts a delivery took to reach its final state, by destination and state",
            ["destination", "state"],
            buckets=ATTEMPT_BUCKETS,
            registry=r,
        )
        if store is not None:
            r.register(StoreGauges(store))

    def judged(self, dialect: str | None, verdict: str, n: int = 1) -> None:
        """Count `n` events of `dialect` judged `verdict` (accepted, duplicate, rejected).

        A dict's integer, not a prometheus_client Counter (its lock and value object cost twice
        as much): it is only called from the event loop.
        """
        key = (dialect if dialect in self.dialects else "-", verdict)  # a label is never attacker-chosen
        events = self.events
        events[key] = events.get(key, 0) + n

    def exposition(self) -> bytes:
        """The text format, store gauges read now (a few queries: call it off the event loop)."""
        return generate_latest(self.registry)


class _Judged(Collector):
    """leadrelay_events_total, from the counts `Metrics.judged` keeps."""

    def __init__(self, counts: dict[tuple[str, str], int]) -> None:
        self.counts = counts

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily("leadrelay_events", EVENTS_HELP, labels=["dialect", "verdict"])]

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("leadrelay_events", EVENTS_HELP, labels=["dialect", "verdict"])
        for (dialect, verdict), n in sorted(self.counts.copy().items()):
            family.add_metric([dialect, verdict], n)
        yield family


class StoreGauges(Collector):
    """The store's state, read at each scrape: cheap whatever the store's size (leadrelay.store.tallies)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return []  # nothing is read from the store when the collector is registered

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("leadrelay_store_up", "Whether the store answered this scrape")
        try:
            seen = self.store.overview()
            counts, backlog, health = seen.counts, seen.backlog, seen.health
        except Exception:  # noqa: BLE001 - a scrape says the store is down rather than failing
            log.warning("the store could not be read for /metrics", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = time.time()
        deliveries = GaugeMetricFamily(
            "leadrelay_deliveries", "Deliveries stored, by destination and state", labels=["destination", "state"]
        )
        for destination, states in sorted(counts.items()):
            for state, n in sorted(states.items()):
                deliveries.add_metric([destination, state], n)
        yield deliveries
        waiting = GaugeMetricFamily("leadrelay_backlog", "Deliveries waiting to be sent, by destination", labels=["destination"])
        oldest = GaugeMetricFamily(
            "leadrelay_backlog_oldest_seconds",
            "How long the oldest waiting delivery of each destination has waited",
            labels=["destination"],
        )
        for destination, n in sorted(backlog.waiting.items()):
            waiting.add_metric([destination], n)
            oldest.add_metric([destination], backlog.age(destination, now))
        yield waiting
        yield oldest
        overdue = GaugeMetricFamily(
            "leadrelay_backlog_overdue_seconds", "How long the most overdue delivery has been due and not yet sent"
        )
        overdue.add_metric([], backlog.overdue(now))
        yield overdue
        healthy = GaugeMetricFamily(
            "leadrelay_destination_healthy",
            "0 when the vendor refused the credentials (401/403) at the last attempt, else 1",
            labels=["destination"],
        )
        for destination, entry in sorted(health.items()):
            healthy.add_metric([destination], 1 if entry["healthy"] else 0)
        yield healthy


def check_token(caller: Caller, token: str | None, bind: str | None = None) -> None:
    """Let the scrape through with the Bearer `token` (compared in constant time); else raise NotFound or Unauthorized."""
    if token is None:
        if bind is not None:
            raise NotFound("metrics are served on metrics_bind, not here (set metrics_token to serve them here too)")
        raise NotFound("metrics are off: set metrics_token (then send it as a Bearer token) or metrics_bind")
    header = caller.header(b"authorization") or ""
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized(f"send {WANTED}")
    if not hmac.compare_digest(given.strip().encode("latin-1"), token.encode("latin-1")):
        raise Unauthorized(f"the Bearer token is not metrics_token: send {WANTED}", invalid_token=True)


class MetricsListener:
    """The metrics on their own address (`metrics_bind`), with no token: for a private interface or loopback."""

    def __init__(self, metrics: Metrics, bind: str) -> None:
        self.host, self.port = bind_address(bind)
        self.metrics = metrics
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server, self._thread = start_http_server(self.port, self.host, registry=self.metrics.registry)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
