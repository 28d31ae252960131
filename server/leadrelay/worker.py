"""The delivery worker: takes deliveries from the outbox and sends them, until each is delivered or dead.

Shape of one worker (inside `leadrelay serve`, or alone as `leadrelay worker`):

- a claim loop takes due deliveries from the store with a lease, per destination,
  only as many as that destination has room for (so a slow or dead vendor never
  holds claims, or slots, another vendor needs);
- per destination, `delivery_concurrency` senders share one httpx.AsyncClient, each taking its
  turn from the destination's Pacer (its rate setting, and the vendor's rate-limit headers);
- a finisher records outcomes in batches (one transaction per batch) and frees room.

Retries are durable: a failed attempt is written back as `pending` with its
`next_attempt_at`, so a restart (or another worker) carries on where this one
stopped. A crash loses nothing: its claims expire and are taken again, and only
the requests in flight at that moment can be sent twice (at-least-once).

Every time the worker writes to the store or compares with one it read there (a
retry's due time, its retry window) is on the store's clock (`store.clock`: a test's
FakeClock drives retries without sleeping). Only durations measured within this
process (how long ago a claim was taken, a request's latency) use `time.monotonic`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import httpx

from leadrelay.config import Settings
from leadrelay.destinations import Destination, Outcome, Undeliverable, classify, classify_error
from leadrelay.destinations.base import JSON_CONTENT, Outgoing, encode_json, redact
from leadrelay.event import LeadEvent
from leadrelay.intake import LOOP_LOCK_WAIT_S
from leadrelay.metrics import Metrics
from leadrelay.offload import by_size
from leadrelay.pacing import Pacer, lane_capacity
from leadrelay.store import Claim, Claimed, Finish, SqlStore, StoreBusy, read_claims
from leadrelay.transport import check_idle_cheaply
from leadrelay.vendors import enabled_destinations

log = logging.getLogger("leadrelay.worker")

T = TypeVar("T")
FINISH_BATCH = 500
FINISH_GATHER = 16  # below this many waiting outcomes, the finisher waits FINISH_WAIT_S for more
FINISH_WAIT_S = 0.005
PREFETCH = 8  # a destination holds at most PREFETCH x delivery_concurrency claims at once


def backoff(attempt: int, base_s: float, max_s: float, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempt + 1`: exponential with jitter, never sooner than Retry-After asks
    (up to `max_s`: a vendor's header never makes a delivery wait longer than the longest back-off)."""
    ceiling = min(max_s, base_s * 2 ** min(attempt - 1, 62))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_s))
    return delay


def new_client(
    settings: Settings, destinations: int, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one HTTP client of a worker: pooled keep-alive connections and the delivery timeout
    (over `transport` when given: the sandbox's, which reaches its fake vendors in-process)."""
    size = settings.delivery_concurrency * max(1, destinations)
    client = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.delivery_timeout_s),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        headers={"User-Agent": "leadrelay"},
        follow_redirects=False,
    )
    if transport is None:
        check_idle_cheaply(client)  # ~15% of a request's CPU went to asking idle connections if they were dropped
    return client


@dataclass
class Lane:
    """One destination's part of the worker: its queue of claims, its senders and its bookkeeping."""

    destination: Destination
    concurrency: int
    pacer: Pacer
    capacity: int  # most claims held at once (see pacing.lane_capacity)
    queue: asyncio.Queue[tuple[Claim, float]] = field(default_factory=asyncio.Queue)
    held: int = 0  # claimed and not yet recorded as finished or released
    active: int = 0  # requests in flight
    healthy: bool | None = None  # None: not known to this worker yet
    senders: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def room(self) -> int:
        return self.capacity - self.held


class Worker:
    """Delivers the outbox. `await start()`, later `await stop()`; `wake()` when new deliveries were written."""

    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        destinations: dict[str, Destination] | None = None,
        client: httpx.AsyncClient | None = None,
        worker_id: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.destinations = enabled_destinations(settings) if destinations is None else destinations
        self.id = worker_id or f"w-{uuid.uuid4().hex[:12]}"
        self._client = client
        self._transport = transport
        self._own_client = client is None
        self.lanes: dict[str, Lane] = {}
        self._done: asyncio.Queue[Finish | None] = asyncio.Queue()
        self._stale: list[Claim] = []
        self._signal = asyncio.Event()
        self._backlogged = False
        self._stopping = False
        self._claimer: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None
        self.sent = 0  # requests made by this worker (for the benchmark and the logs)

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._claimer is not None:
            return
        self._stopping = False
        if self._client is None:
            self._client = new_client(self.settings, len(self.destinations), self._transport)
        await self._store_call(self.store.clear_health)
        s = self.settings
        for name, destination in self.destinations.items():
            rate = destination.rate_per_minute
            pacer = Pacer(name, rate, max_wait_s=s.retry_max_delay_s, unknown_429_wait_s=s.retry_base_s)
            capacity = lane_capacity(s.delivery_concurrency, PREFETCH, rate, self._start_within_s)
            lane = Lane(destination, s.delivery_concurrency, pacer, capacity)
            lane.senders = [asyncio.create_task(self._send_loop(lane)) for _ in range(lane.concurrency)]
            self.lanes[name] = lane
        self._finisher = asyncio.create_task(self._finish_loop())
        self._claimer = asyncio.create_task(self._claim_loop())
        log.info("worker %s delivering to %s", self.id, ", ".join(self.lanes) or "nothing (no destination is on)")

    async def stop(self) -> None:
        """Stop claiming, let requests in flight finish (up to the timeout), give back the rest, record everything."""
        if self._claimer is None:
            return
        self._stopping = True
        self._signal.set()
        # Not cancelled: a claim running in its thread would still lease rows that nobody then holds.
        await asyncio.gather(self._claimer, return_exceptions=True)
        for lane in self.lanes.values():
            while not lane.queue.empty():
                claim, _ = lane.queue.get_nowait()
                self._stale.append(claim)
        deadline = time.monotonic() + self.settings.delivery_timeout_s + 1
        while any(lane.active for lane in self.lanes.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for lane in self.lanes.values():
            for task in lane.senders:
                task.cancel()
            await asyncio.gather(*lane.senders, return_exceptions=True)
        self._done.put_nowait(None)
        if self._finisher is not None:
            await asyncio.gather(self._finisher, return_exceptions=True)
        if self.store.backend.commits_async:
            await self.store.aclose("worker")
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self._claimer = self._finisher = None
        self.lanes = {}
        log.info("worker %s stopped", self.id)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set (the `leadrelay worker` command)."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    def wake(self) -> None:
        """New deliveries may be due: look now instead of at the next poll."""
        self._signal.set()

    @property
    def _start_within_s(self) -> float:
        """How long after its claim a delivery may still be sent: later, another worker may take it meanwhile."""
        return (self.settings.delivery_lease_s - self.settings.delivery_timeout_s) * 0.8

    # -- claiming ---------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        s = self.settings
        while not self._stopping:
            self._signal.clear()
            backlog = False
            for name, lane in self.lanes.items():
                if lane.room <= 0 or (lane.room < lane.capacity // 2 and lane.held):
                    backlog = True  # full enough: claim again when half of it is done (fewer, larger claims)
                    continue
                if lane.pacer.waiting:
                    continue  # the vendor asked for a pause: claims taken now would only wait
                limit = min(lane.room, s.delivery_batch_size)
                try:
                    claimed = await self._store_call(self.store.claim_stored, self.id, limit, s.delivery_lease_s, [name])
                    claims = await self._read(claimed)
                except Exception:  # noqa: BLE001 - the store is down: try again at the next poll
                    log.exception("claiming deliveries for %s failed", name)
                    claimed, claims = [], []
                if self._stopping:
                    self._stale.extend(claims)
                    break
                now = time.monotonic()
                lane.held += len(claims)
                for claim in claims:
                    lane.queue.put_nowait((claim, now))
                backlog = backlog or len(claimed) == limit
            self._backlogged = backlog
            try:
                await asyncio.wait_for(self._signal.wait(), timeout=s.delivery_poll_s)
            except asyncio.TimeoutError:
                pass

    async def _read(self, claimed: list[Claimed]) -> list[Claim]:
        """The claims with their events read (off the loop when they are large: leadrelay.offload);
        a delivery whose event this version cannot read is dead-lettered with the reason."""
        if not claimed:
            return []
        claims, unreadable = await by_size(sum(len(c.body) for c in claimed), read_claims, claimed)
        if unreadable:
            await self._store_call(self.store.dead_letter, unreadable, self.id)
        return claims

    # -- sending ----------------------------------------------------------------------

    async def _send_loop(self, lane: Lane) -> None:
        while True:
            claim, claimed_at = await lane.queue.get()
            self._done.put_nowait(await self._attempt(lane, claim, claimed_at))

    async def _attempt(self, lane: Lane, claim: Claim, claimed_at: float) -> Finish:
        destination = lane.destination
        try:
            try:
                # The request is built and encoded where the event's size allows: a large one off the loop.
                outgoing, content = await by_size(claim.size, _prepared, destination, claim.event)
            except Undeliverable as exc:
                return self._observed(destination, claim, Outcome("dead", error=f"not sent: {exc}"))
            except Exception as exc:  # noqa: BLE001 - a bug must not lose the delivery
                log.exception("preparing %s for %s failed", claim.event_id, destination.name)
                return self._observed(destination, claim, Outcome("retry", error=f"internal error: {type(exc).__name__}"))
            await lane.pacer.turn()
        except asyncio.CancelledError:  # the worker stops before this claim is sent: give it back
            self._stale.append(claim)
            raise
        if self._stopping or time.monotonic() - claimed_at > self._start_within_s:
            # Too close to the end of the lease: another worker may take it while we send. Give it back.
            self._stale.append(claim)
            return _released(claim)
        assert self._client is not None
        self.sent += 1
        lane.active += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.delivery_timeout_s):
                response = await self._client.request(
                    outgoing.method, parsed_url(outgoing.url), content=content, headers={**outgoing.headers, **JSON_CONTENT}
                )
            latency = time.monotonic() - started
            outcome = await by_size(len(response.content), classify, destination, response, None, claim.event)
        except (httpx.TransportError, TimeoutError) as exc:
            latency = time.monotonic() - started
            outcome = classify_error(exc)
        except Exception as exc:  # noqa: BLE001
            latency = time.monotonic() - started
            log.exception("sending %s to %s failed", claim.event_id, destination.name)
            outcome = Outcome("retry", error=f"internal error: {type(exc).__name__}")
        finally:
            lane.active -= 1
        lane.pacer.observe(outcome.status, outcome.retry_after, outcome.rate_limit, others=lane.active)
        return self._observed(destination, claim, outcome, latency, sent_body(content, destination.secrets()))

    def _observed(
        self, destination: Destination, claim: Claim, outcome: Outcome, latency: float | None = None, sent: str | None = None
    ) -> Finish:
        """What the attempt makes of the delivery (`_decide`), counted, and logged as one line."""
        finish = self._decide(destination, claim, outcome)
        finish.request = sent
        attempt = claim.attempts + 1
        name = destination.name
        if self.metrics is not None:
            self.metrics.attempts.labels(name, outcome.verdict).inc()
            if latency is not None:
                self.metrics.latency.labels(name).observe(latency)
            if finish.state != "pending":
                self.metrics.tries.labels(name, finish.state).observe(attempt)
        level = logging.INFO if finish.state != "dead" else logging.WARNING
        if not log.isEnabledFor(level):  # `leadrelay worker --log-level warning`: no line to build for a delivery
            return finish
        fields: dict[str, Any] = {
            "destination": name,
            "event_id": claim.event_id,
            "state": finish.state,
            "status": finish.status,
            "attempt": attempt,
            "latency_ms": round(latency * 1000, 1) if latency is not None else None,
        }
        if self.settings.log_personal_data and finish.error:
            fields["error"] = finish.error  # a vendor's explanation may quote the lead's own data
        text = " ".join(f"{key}={value}" for key, value in fields.items() if key != "destination")
        log.log(level, "delivery to %s: %s", name, text, extra={"fields": fields})
        return finish

    def _decide(self, destination: Destination, claim: Claim, outcome: Outcome) -> Finish:
        """The retry policy: what the delivery becomes after this attempt."""
        s = self.settings
        # Answers are cleaned by classify(); errors can also quote what an exception said.
        error = redact(outcome.error, destination.secrets())
        response = outcome.response
        if outcome.verdict == "delivered":
            return _Finish(claim, "delivered", outcome.status, None, response, healthy=True)
        if outcome.verdict == "deduplicated":  # the vendor had it already: final, with the vendor's reason
            return _Finish(claim, "deduplicated", outcome.status, error, response, healthy=True)
        if outcome.verdict == "unattributed":  # taken, nothing credited: tried again while that may change, then final
            now = time.time()
            attempt = claim.attempts + 1
            if now - (claim.first_attempt_at or now) < outcome.retry_for_s:
                delay = backoff(attempt, s.retry_base_s, s.retry_max_delay_s)
                return _Finish(claim, "pending", outcome.status, error, response, next_attempt_at=now + delay, healthy=True)
            tries = f" ({attempt} attempts)" if attempt > 1 else ""
            return _Finish(claim, "unattributed", outcome.status, f"{error}{tries}", response, healthy=True)
        if outcome.verdict == "dead":
            return _Finish(claim, "dead", outcome.status, error, response, healthy=False if outcome.unhealthy else None)
        now = self.store.clock()  # due times and the retry window are the store's: its clock, not the wall's
        attempt = claim.attempts + 1
        first = claim.first_attempt_at or now
        if attempt >= s.max_attempts and now - first >= s.retry_window_s:
            hours = (now - first) / 3600
            error = f"gave up after {attempt} attempts over {hours:.1f} h; last error: {error}"
            return _Finish(claim, "dead", outcome.status, error, response)
        delay = backoff(attempt, s.retry_base_s, s.retry_max_delay_s, outcome.retry_after)
        return _Finish(claim, "pending", outcome.status, error, response, next_attempt_at=now + delay)

    # -- recording ----------------------------------------------------------------------

    async def _finish_loop(self) -> None:
        stopping = False
        while not stopping:
            item = await self._done.get()
            batch: list[Finish] = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
                if self._done.qsize() < FINISH_GATHER:
                    await asyncio.sleep(FINISH_WAIT_S)  # let a few more outcomes join this transaction
            while len(batch) < FINISH_BATCH and not self._done.empty():
                more = self._done.get_nowait()
                if more is None:
                    stopping = True
                    continue
                batch.append(more)
            stale, self._stale = self._stale, []
            await self._record(batch, stale)
            for finish in batch:
                self.lanes[finish.claim.destination].held -= 1
            if self._backlogged:
                self._signal.set()

    async def _record(self, batch: list[Finish], stale: list[Claim]) -> None:
        attempts = [f for f in batch if not isinstance(f, _Released)]
        health = self._health_changes(attempts)
        for wait in (0.1, 0.5, 2.0, 5.0, None):
            try:
                await self._write(attempts, stale, health)
                return
            except Exception:  # noqa: BLE001 - unrecorded claims expire and are sent again
                log.exception("recording %d delivery outcomes failed", len(attempts))
                if wait is None:
                    return
                await asyncio.sleep(wait)

    def _health_changes(self, attempts: list[Finish]) -> dict[str, _Finish]:
        """The last health-relevant outcome per destination, when it changes what this worker knows."""
        changes: dict[str, _Finish] = {}
        for finish in attempts:
            assert isinstance(finish, _Finish)
            lane = self.lanes[finish.claim.destination]
            if finish.healthy is None:
                continue
            if finish.healthy is False or lane.healthy is not True:
                changes[finish.claim.destination] = finish
        for name, finish in changes.items():
            self.lanes[name].healthy = finish.healthy
        return changes

    async def _write(self, attempts: list[Finish], stale: list[Claim], health: dict[str, _Finish]) -> None:
        """Record outcomes, give back stale claims, note health. Outcomes on a backend that `commits_async`
        (PostgreSQL) go out as one statement on the loop's own connection: no thread, no BEGIN or COMMIT."""
        if attempts and self.store.backend.commits_async:
            await self.store.finish_many_async(self.id, attempts)
            attempts = []
        if attempts or stale or health:
            await self._store_call(self._write_now, attempts, stale, health)

    def _write_now(self, attempts: list[Finish], stale: list[Claim], health: dict[str, _Finish]) -> None:
        if attempts:
            self.store.finish_many(self.id, attempts)
        if stale:
            self.store.release(stale, self.id)
        for name, finish in health.items():
            self.store.set_health(name, bool(finish.healthy), finish.status, finish.error)

    async def _store_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call: inline when the backend's commits are local and cheap (SQLite), else in a thread.

        SQLite's few milliseconds of local work cost less on the loop than in a thread:
        there, every row the driver steps through hands the GIL back and forth with the
        loop that is sending requests (a claim of 100 rows stalled for tens of ms).
        Inline, a call waits at most LOOP_LOCK_WAIT_S for another process's write lock
        (a `replay`, a separate worker); a longer wait happens in a thread, as intake's does."""
        if self.store.backend.commits_on_loop:
            try:
                with self.store.lock_wait(LOOP_LOCK_WAIT_S):
                    return fn(*args)
            except StoreBusy:
                log.info("the database is busy: %s waits for it in a thread", getattr(fn, "__name__", fn))
        return await asyncio.to_thread(fn, *args)


def sent_body(content: bytes, secrets: list[str]) -> str:
    """What is kept of a request's body: all of it, as sent. Never its headers, which carry the key; and a key
    that is somehow inside the body (it is built from the visitor's event, which cannot know the key) is masked."""
    text = content.decode("utf-8", "replace")
    return redact(text, secrets) if any(s and s in text for s in secrets) else text


@functools.lru_cache(maxsize=64)
def parsed_url(url: str) -> httpx.URL:
    """`url` parsed once: a destination's URL is the same for all its deliveries (httpx parses a string each request)."""
    return httpx.URL(url)


def _prepared(destination: Destination, event: LeadEvent) -> tuple[Outgoing, bytes]:
    """The request that delivers `event`, and its body encoded."""
    outgoing = destination.prepare(event)
    return outgoing, encode_json(outgoing.json)


@dataclass
class _Finish(Finish):
    healthy: bool | None = None  # True: proves the credentials work; False: 401/403


class _Released(Finish):
    """A claim given back unattempted: only frees room in its lane."""


def _released(claim: Claim) -> Finish:
    return _Released(claim, "pending", None, None)
