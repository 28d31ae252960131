"""Pacing: how fast one worker sends to one destination, and when the vendor's answers make it wait.

Two things decide when a lane's next request may go:

- its rate setting (`dub_rate_per_minute`, ...): aiolimiter's leaky bucket, one request every
  60/rate seconds. It holds just enough to make up for LATENESS_S of the event loop waking late
  (without it, every late wake-up is lost for good: 3% of 600 a minute, 40% of 60,000), and no
  more: a vendor that counts a sliding minute, as Dub does, refuses a burst on top of a steady pace;
- the vendor's own count for the key, which covers every worker using it: when X-RateLimit-Remaining
  says the requests already in flight will spend what is left, the lane waits for the budget to
  come back (as many of the vendor's pacing intervals as it is short, at most until X-RateLimit-Reset);
  after a 429 it waits as long as Retry-After asks.

Waits are capped at `max_wait_s` (retry_max_delay_s): a vendor's header never stops a lane for years.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiolimiter import AsyncLimiter

from leadrelay.destinations.base import RateLimit

log = logging.getLogger("leadrelay.worker")

LOUD_WAIT_S = 5.0  # waits at least this long are logged at INFO (short ones are routine at the vendor's limit)
LATENESS_S = 0.05  # how late a turn may be taken and still be made up by the next ones


class Pacer:
    """One destination's pace in one worker: `await turn()` before each request, `observe(...)` each answer."""

    def __init__(self, name: str, per_minute: int, max_wait_s: float, unknown_429_wait_s: float) -> None:
        self.name = name
        self.per_minute = per_minute
        self.max_wait_s = max_wait_s
        self.unknown_429_wait_s = unknown_429_wait_s  # after a 429 that says neither Retry-After nor Reset
        self._limiter = _bucket(per_minute) if per_minute else None
        self.resume_at = 0.0  # time.monotonic() before which nothing is sent
        self.waits = 0  # how often the vendor's answers made this lane wait (for the benchmark and the logs)

    @property
    def waiting(self) -> bool:
        """Whether the vendor's answers hold this lane right now."""
        return self.resume_at > time.monotonic()

    async def turn(self) -> None:
        """Return when the next request may be sent."""
        while True:
            delay = self.resume_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._limiter is not None:
                await self._limiter.acquire()
            if self.resume_at <= time.monotonic():
                return
            # An answer made the lane wait while this turn was being taken: wait for it too.

    def observe(self, status: int | None, retry_after: float | None, budget: RateLimit | None, others: int) -> None:
        """Take in one answer; `others` requests of this lane are still in flight (they will spend budget too)."""
        if status == 429:
            wait = retry_after
            if wait is None:
                wait = budget.reset_s if budget is not None and budget.reset_s is not None else self.unknown_429_wait_s
            self._wait(wait, "429")
            return
        if budget is None or budget.remaining > others:
            return
        short = others + 1 - budget.remaining  # requests this lane would send beyond the budget
        per_minute = budget.limit or self.per_minute
        wait = short * 60 / per_minute if per_minute else (budget.reset_s or 0.0)
        if budget.reset_s is not None:
            wait = min(wait, budget.reset_s)
        self._wait(wait, f"X-RateLimit-Remaining {budget.remaining}")

    def _wait(self, seconds: float, why: str) -> None:
        seconds = min(max(seconds, 0.0), self.max_wait_s)
        if seconds <= 0:
            return
        resume_at = time.monotonic() + seconds
        if resume_at <= self.resume_at:
            return
        self.resume_at = resume_at
        self.waits += 1
        level = logging.INFO if seconds >= LOUD_WAIT_S else logging.DEBUG
        log.log(level, "%s: the vendor's rate limit is reached (%s): sending nothing for %.1f s", self.name, why, seconds)


def _bucket(per_minute: int) -> AsyncLimiter:
    """A leaky bucket draining `per_minute` a minute that holds one turn, plus LATENESS_S worth of turns."""
    size = 1 + per_minute / 60 * LATENESS_S
    return AsyncLimiter(size, size * 60 / per_minute)


def lane_capacity(concurrency: int, prefetch: int, per_minute: int, start_within_s: float) -> int:
    """How many claims a lane holds: no more than its pace sends in half the time a claim may wait to start."""
    full = concurrency * prefetch
    if not per_minute:
        return full
    return max(1, min(full, int(per_minute / 60 * start_within_s / 2)))
