"""Rate limits per client IP and per visitor, and the budget of rejected events kept whole.

Counted by the `limits` library in the storage `rate_limit_storage` names: this
process's memory by default (`memory://`), or Redis (`redis://host:6379`) so that
several instances share one count. A limit is a fixed window ("600/minute").

- Requests: every request that writes (under `path_prefix`, but for the snippet
  itself) counts against its client IP and, when it carries a valid visitor cookie,
  against that visitor. Over a limit it is refused with 429 and `Retry-After`, before
  its body is read.
- Rejections: the first `rejections_kept_per_hour` rejected events of one error shape
  from one IP address are kept whole (errors and raw body), and at most
  `rejections_kept_total_per_hour` in all; the rest are only counted. Garbage then
  costs a bounded number of rows, whatever is sent.

When the storage cannot be reached (Redis down), requests are let through and the
failure logged: a limiter outage must not turn real visitors away.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from leadrelay.caller import Caller
from leadrelay.errors import TooManyRequests

if TYPE_CHECKING:
    from leadrelay.identity import Identity

log = logging.getLogger("leadrelay.trust")

ONE_HOUR = parse("1/hour")


def parse_limit(value: str) -> RateLimitItem:
    """'600/minute', '10 per second', ...: raises ValueError naming the format."""
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a rate: write it as e.g. '600/minute' or '10 per second'") from None


def storage_uri(value: str) -> str:
    """The `limits` storage URI of a `rate_limit_storage` setting (always its asynchronous flavour)."""
    if value.startswith("memory://"):
        return "async+" + value
    if value.startswith(("redis://", "rediss://")):
        return "async+" + value
    raise ValueError("must be memory:// or a redis:// URL")


class RateLimits:
    """The counters of one service: requests per IP and per visitor, rejections kept per IP and shape."""

    def __init__(self, settings: Any) -> None:
        uri = storage_uri(settings.rate_limit_storage)
        options = {"implementation": "redispy"} if "redis" in uri else {}
        self.storage = storage_from_string(uri, **options)
        # A fixed window: one counter per key (half the sliding window's cost, measured: ~10 against
        # ~23 µs a hit in memory). A burst across a window's edge may reach twice the rate.
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.per_ip = parse_limit(settings.rate_limit_per_ip)
        self.per_visitor = parse_limit(settings.rate_limit_per_visitor)
        self.kept_per_shape = parse(f"{settings.rejections_kept_per_hour}/hour")
        self.kept_total = parse(f"{settings.rejections_kept_total_per_hour}/hour")

    async def check(self, ip: str | None, visitor_id: str | None) -> None:
        """Count one request; raises TooManyRequests when its IP or its visitor is over the limit."""
        for item, kind, key in ((self.per_ip, "ip", ip), (self.per_visitor, "visitor", visitor_id)):
            if key is None:
                continue
            try:
                allowed = await self.limiter.hit(item, kind, key)
                if allowed:
                    continue
                stats = await self.limiter.get_window_stats(item, kind, key)
            except Exception:  # noqa: BLE001 - fail open: a limiter outage must not refuse real visitors
                log.warning("the rate limit storage cannot be reached; %s is not counted", kind, exc_info=True)
                continue
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            who = "this address" if kind == "ip" else "this visitor"
            raise TooManyRequests(
                f"too many requests from {who}: at most {item.amount} per {item.multiples} {item.GRANULARITY.name}; "
                f"retry in {wait} s",
                retry_after=wait,
            )

    async def keep_rejection(self, ip: str | None, shape: str) -> bool:
        """Whether a rejected event of `shape` from `ip` is kept whole (else it is only counted)."""
        try:
            if not await self.limiter.hit(self.kept_per_shape, "rejections", ip or "-", shape):
                return False
            return await self.limiter.hit(self.kept_total, "rejections", "all")
        except Exception:  # noqa: BLE001 - without counters, keep nothing whole: the disk is what is protected
            log.warning("the rate limit storage cannot be reached; a rejection is only counted", exc_info=True)
            return False


class RateLimitMiddleware:
    """Counts every request that writes (under `prefix`, the snippet's own URLs excepted) before it is read."""

    def __init__(self, app: ASGIApp, limits: RateLimits, identity: Identity, prefix: str) -> None:
        self.app = app
        self.limits = limits
        self.identity = identity
        self.prefix = prefix + "/"
        self.snippet = prefix + "/s."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._counts(scope):
            await self.app(scope, receive, send)
            return
        caller = Caller(scope)
        try:
            await self.limits.check(self.identity.client_ip(caller), self.identity.known_visitor(caller))
        except TooManyRequests as refusal:
            await refusal.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _counts(self, scope: Scope) -> bool:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return path.startswith(self.prefix) and not path.startswith(self.snippet) and scope["method"] != "OPTIONS"
