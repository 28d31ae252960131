"""What a request's events may claim: the trust layer's one decision per request (see leadrelay.trust)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from starlette.concurrency import run_in_threadpool

from leadrelay.arrival import Seen
from leadrelay.caller import Caller
from leadrelay.config import Settings
from leadrelay.errors import StoreUnavailable
from leadrelay.event import Mark
from leadrelay.identity import Visitor
from leadrelay.intake import LOOP_LOCK_WAIT_S
from leadrelay.store import SqlStore, StoreBusy
from leadrelay.trust.clicks import HeldBack, claimed_clicks
from leadrelay.trust.marks import TS_OUTSIDE_WINDOW, held_back_mark
from leadrelay.trust.seen import SeenClicks
from leadrelay.trust.server_keys import ServerKeys
from leadrelay.trust.timestamps import outside_window
from leadrelay.vendors import SERVER_DIALECTS


@dataclass(slots=True)
class Door:
    """What a door knows about the caller of one request."""

    visitor: Visitor
    server_key: bool  # it sent one of server_keys
    click_cookies: dict[str, str]  # its click-id cookies, by vendor
    visitor_context: bool = True
    """Whether the request's address and user agent are the visitor's (a browser's beacon); a vendor API's
    caller is the site's backend (leadrelay.vendor_api): its own are not the visitor's, and are not kept."""


@dataclass(slots=True)
class Standing:
    """What the events of one request may claim. Read only: the constants below are shared."""

    server_key: bool
    verified_clicks: frozenset[tuple[str, str]] | None  # the (vendor, click id) pairs they may carry; None: any
    to_look_up: set[tuple[str, str]] | None = None  # claims only the store can settle


SERVER = Standing(server_key=True, verified_clicks=None)
UNCHECKED = Standing(server_key=False, verified_clicks=None)
NOTHING_CLAIMED = Standing(server_key=False, verified_clicks=frozenset())


class Trust:
    def __init__(self, settings: Settings, store: SqlStore) -> None:
        self.server_keys = ServerKeys(settings.server_keys)
        self.enforce = settings.click_verification == "enforce"
        self.ts_window_ms = settings.ts_window_s * 1000
        self.ts_window_s = settings.ts_window_s
        self.click_path = f"{settings.path_prefix}/c"
        self.store = store
        self.seen = SeenClicks()

    def holds_server_key(self, caller: Caller) -> bool:
        """Whether the caller sent a server key; raises Unauthorized for a Bearer token that is not one."""
        return self.server_keys.held_by(caller)

    def standing(self, door: Door, events: list[Any]) -> Standing:
        """What the request's events (parsed, not yet validated) may claim, as far as this process knows:
        when `to_look_up` is set, `look_up` settles the rest (one query).

        Raises Unauthorized for a server's dialect without a server key. Plain, not a coroutine:
        most requests claim no click, or one this process remembers, and need no query.
        """
        if door.server_key:
            return SERVER
        for raw in events:
            dialect = raw.get("dialect") if isinstance(raw, dict) else None
            if dialect in SERVER_DIALECTS:
                raise self.server_keys.refusal(dialect)
        if not self.enforce:
            return UNCHECKED
        if door.visitor.fresh:  # minted for this request: it has landed nowhere yet
            return NOTHING_CLAIMED
        claims = claimed_clicks(events, door.click_cookies)
        if not claims:
            return NOTHING_CLAIMED
        verified, unknown = self.seen.split(door.visitor.id, claims)
        return Standing(server_key=False, verified_clicks=frozenset(verified), to_look_up=unknown or None)

    async def look_up(self, visitor_id: str, standing: Standing) -> Standing:
        """`standing` with its claims to look up settled by the store: one indexed query, on the loop
        where a read never waits on the network (SQLite), on a thread otherwise.

        Raises StoreUnavailable when the store cannot be read.
        """
        click_ids = {click_id for _, click_id in standing.to_look_up or ()}
        store = self.store
        with self._failures():
            if store.backend.reads_on_loop:
                try:
                    with store.lock_wait(LOOP_LOCK_WAIT_S):  # the intake's wait: the connection keeps one setting
                        return self._settled(visitor_id, standing, store.seen_clicks(visitor_id, click_ids))
                except StoreBusy:
                    pass
            found = await run_in_threadpool(store.seen_clicks, visitor_id, click_ids)
        return self._settled(visitor_id, standing, found)

    def look_up_blocking(self, visitor_id: str, standing: Standing) -> Standing:
        """`look_up`, on a thread that may wait for the store (leadrelay.offload's heavy thread)."""
        with self._failures():
            found = self.store.seen_clicks(visitor_id, {click_id for _, click_id in standing.to_look_up or ()})
        return self._settled(visitor_id, standing, found)

    def _settled(self, visitor_id: str, standing: Standing, found: dict[str, list[str]]) -> Standing:
        landed = {(vendor, click_id) for vendor, ids in found.items() for click_id in ids}
        self.seen.remember(visitor_id, landed)
        verified = standing.verified_clicks or frozenset()
        return Standing(server_key=False, verified_clicks=verified | (landed & (standing.to_look_up or set())))

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        """The store failing (as opposed to a bug) is StoreUnavailable: the client retries."""
        try:
            yield
        except Exception as exc:
            if self.store.is_failure(exc):
                raise StoreUnavailable("the visitor's clicks could not be read; retry later", retry_after=5) from exc
            raise

    def landed(self, visitor_id: str, clicks: dict[str, str]) -> None:
        """The visitor landed with `clicks` (by vendor), now committed to the store: remember them here too."""
        self.seen.remember(visitor_id, clicks.items())

    def marks(self, envelope: dict[str, Any], seen: Seen, held: list[HeldBack]) -> list[Mark]:
        """What the operator is told about an accepted event: the click ids held back, a clock far off."""
        ts = envelope.get("ts")
        # In integers: ts is any JSON integer, and one beyond a float's range must not overflow.
        if not held and (ts is None or abs(ts - int(seen.received_at * 1000)) <= self.ts_window_ms):
            return NO_MARKS  # the common case, in as few steps as possible
        marks = [held_back_mark(claim, self.click_path) for claim in held]
        why = outside_window(ts, seen.received_at, self.ts_window_s)
        if why is not None:
            marks.append(Mark(TS_OUTSIDE_WINDOW, why))
        return marks


NO_MARKS: list[Mark] = []  # shared: never appended to

