"""The live feed: new events as Server-Sent Events, from one poll of the store shared by every viewer.

- Bounded: at most MAX_STREAMS viewers at once (more are answered 503), each stream lasts at most
  STREAM_LIFETIME_S (the browser's EventSource reconnects on its own, asking from its last event),
  each poll reads at most POLL_LIMIT events, and a viewer that falls QUEUE_SIZE events behind is
  told to reload and let go.
- Off the loop: each poll (the query and reading the events) runs on a thread; the loop only
  hands each viewer its lines.
- Ends cleanly: on shutdown (leadrelay.serving.STOPPING) or when the viewer goes away.

The store, not this process's memory, is the source: an event accepted by another instance shows.
Events are committed a little after they are received (group commit), so each poll looks
OVERLAP_S back and skips what it already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from leadrelay.encoding import dump_json
from leadrelay.serving import STOPPING
from leadrelay.store import SqlStore

log = logging.getLogger("leadrelay.console")

MAX_STREAMS = 16
STREAM_LIFETIME_S = 300.0
POLL_S = 1.0
POLL_LIMIT = 200
OVERLAP_S = 2.0
QUEUE_SIZE = 500
HEARTBEAT_S = 15.0
CATCH_UP_S = 3600.0  # a reconnecting viewer is sent what it missed from at most this long ago

Summary = dict[str, Any]


class LiveFeed:
    def __init__(self, store: SqlStore, summarize: Callable[[list[Any]], list[Summary]]) -> None:
        self.store = store
        self.summarize = summarize
        self.viewers: set[asyncio.Queue[Summary | None]] = set()
        self.max_viewers = MAX_STREAMS
        self._poller: asyncio.Task[None] | None = None
        self._cursor = time.time()
        self._sent: dict[str, float] = {}

    def _poll_once(self) -> list[Summary]:
        """On a thread: the events committed since the last poll, summarized."""
        rows = self.store.events_since(self._cursor - OVERLAP_S, POLL_LIMIT)
        if len(rows) == POLL_LIMIT and all(r.id in self._sent for r in rows):
            rows = self.store.events_since(rows[-1].received_at, POLL_LIMIT)  # a flood: move on
        fresh = [r for r in rows if r.id not in self._sent]
        for r in fresh:
            self._sent[r.id] = r.received_at
            self._cursor = max(self._cursor, r.received_at)
        horizon = self._cursor - OVERLAP_S
        self._sent = {k: v for k, v in self._sent.items() if v >= horizon}
        return self.summarize(fresh)

    async def _poll(self) -> None:
        self._cursor = time.time()
        while self.viewers:
            try:
                summaries = await run_in_threadpool(self._poll_once)
            except Exception as exc:  # noqa: BLE001 - a store outage pauses the feed, it does not end it
                if not self.store.is_failure(exc):
                    log.exception("the live feed's poll failed")
                summaries = []
            for viewer in list(self.viewers):
                for summary in summaries:
                    try:
                        viewer.put_nowait(summary)
                    except asyncio.QueueFull:
                        self.viewers.discard(viewer)
                        with contextlib.suppress(asyncio.QueueEmpty):
                            viewer.get_nowait()
                        viewer.put_nowait(None)  # behind: told to reload
                        break
            await asyncio.sleep(POLL_S)
        self._poller = None

    @property
    def full(self) -> bool:
        return len(self.viewers) >= self.max_viewers

    def subscribe(self) -> asyncio.Queue[Summary | None]:
        queue: asyncio.Queue[Summary | None] = asyncio.Queue(QUEUE_SIZE)
        self.viewers.add(queue)
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Summary | None]) -> None:
        self.viewers.discard(queue)

    async def stop(self) -> None:
        self.viewers.clear()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def catch_up(self, since: float) -> list[Summary]:
        since = max(since, time.time() - CATCH_UP_S)
        rows = await run_in_threadpool(self.store.events_since, since, POLL_LIMIT)
        return await run_in_threadpool(self.summarize, rows)

    async def serve(self, scope: Scope, receive: Receive, send: Send, since: float | None) -> None:
        """One viewer's stream: what it missed since `since`, then every new event, until it goes,
        the server stops, or STREAM_LIFETIME_S passes."""
        stopping = asyncio.Event()
        scope[STOPPING] = stopping
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        queue = self.subscribe()
        gone = asyncio.ensure_future(_disconnected(receive))
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
            if since is not None:
                for missed in await self.catch_up(since):
                    await send({"type": "http.response.body", "body": _event(missed), "more_body": True})
            deadline = time.monotonic() + STREAM_LIFETIME_S
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                item = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({item, gone, stop}, timeout=min(HEARTBEAT_S, left), return_when=asyncio.FIRST_COMPLETED)
                if item not in done:
                    item.cancel()
                if gone in done:
                    return
                if stop in done:
                    break
                if item in done:
                    summary = item.result()
                    if summary is None:
                        await send({"type": "http.response.body", "body": b"event: reload\ndata: behind\n\n", "more_body": True})
                        break
                    chunk = _event(summary)
                else:
                    chunk = b": still here\n\n"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.unsubscribe(queue)
            for task in (gone, stop):
                task.cancel()


def _event(summary: Summary) -> bytes:
    # JSON never holds a raw line break, so one data: line carries it whole.
    return b"id: " + repr(summary["received_at"]).encode() + b"\ndata: " + dump_json(summary) + b"\n\n"


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
