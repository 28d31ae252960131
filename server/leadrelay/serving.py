"""How leadrelay is served: the one uvicorn Config that `leadrelay serve` and the tests run, and
the HTTP/1.1 protocol that keeps slow, idle and oversized clients from holding the process.

uvicorn's httptools protocol (its fastest) bounds neither a request's head nor the time a client
takes to send it: a 64 MB header is buffered whole, a socket that never sends a byte stays open
for ever, and so does a request whose body stops short of its Content-Length. `Guarded` adds,
from Settings:

- a head (request line and headers) larger than `max_header_bytes`, or with more than
  `max_headers` headers, is answered 431 as soon as it is seen, after at most one read more;
- a head must be complete `header_timeout_s` after the connection opened (a socket that sent
  nothing is closed, a half-sent head is answered 408), or after its first bytes arrived on a
  kept-alive connection, which is closed `keep_alive_s` after its last answer;
- a body must be complete `body_timeout_s` after its head (else 408), and no longer than
  `max_body_bytes` (plus `max_header_bytes` for chunked framing and trailers; else 413);
- over `max_connections`, a new connection closes the one that has waited longest for a request;
  when every connection has a request under way, the new request is answered 503.

Each refusal is one of leadrelay.errors' (answered in the service's error shape), and closes
the connection. A response's head and the first part of its body leave in one send()
(`OneSend`: 1-5% of a beacon's CPU, bench/README.md). The deadlines are kept in tables ordered by deadline and swept a few times a
second: a request costs a few dictionary operations, not a timer.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import resource
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import httptools
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from leadrelay.config import Settings
from leadrelay.errors import (
    BadRequest,
    HeadersTooLarge,
    PayloadTooLarge,
    Refused,
    RequestTimeout,
    TooManyConnections,
)

log = logging.getLogger("leadrelay.serving")

RESERVED_FILES = 128  # open files kept for all but clients: the store, vendor connections, logs, imports
LINGER_S = 2.0  # after a refusal, how long the rest of the request is read and dropped (see Guarded.linger)
STOPPING = "leadrelay.stopping"
"""Scope key: a response that does not end by itself (the console's live stream) puts an asyncio.Event
there; Guarded sets it when the server shuts down, so that the response ends and its connection closes
(uvicorn waits for every connection to close before the app's lifespan ends)."""
NOTICE_INTERVAL_S = 60.0  # the same kind of refusal is logged at most this often: a flood must not flood the log


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float
    keep_alive_s: float
    max_connections: int
    max_body_bytes: int

    @classmethod
    def of(cls, settings: Settings, max_connections: int) -> Limits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
            keep_alive_s=settings.keep_alive_s,
            max_connections=max_connections,
            max_body_bytes=settings.max_body_bytes,
        )


def uvicorn_config(
    app: ASGIApp,
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: bool = True,
) -> uvicorn.Config:
    """The service's uvicorn Config: httptools, guarded by the settings' limits, without WebSocket.

    Raises this process's open-file limit (see `open_file_limit`) and fits `max_connections` under it.
    """
    limits = Limits.of(settings, connection_cap(settings.max_connections, open_file_limit()))
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # its lines go to the handler leadrelay.logs configures (JSON or text, discreet)
        access_log=access_log,
        lifespan="on",
        http=guarded_protocol(limits),
        ws="none",  # no route takes one, and an upgraded connection would leave the guard's limits
        proxy_headers=False,  # the app reads them itself, as trust_proxy_headers says (leadrelay.app.request_middleware)
    )


def serve(config: uvicorn.Config) -> None:
    """Run the server until SIGINT or SIGTERM; exit with status 3 if it could not start (as uvicorn.run)."""
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(3)


def open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; the limit now in force.

    Each connection is an open file: under the usual soft limit of 1,024, a thousand idle
    sockets leave none for real clients, whose connections are then dropped unanswered.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    target = hard if hard != unlimited else 1 << 16  # macOS: "unlimited", yet it refuses more than OPEN_MAX
    if soft != unlimited and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft if soft != unlimited else 1 << 20


def connection_cap(max_connections: int, open_files: int) -> int:
    """`max_connections`, lowered to what `open_files` can hold beside RESERVED_FILES, so that a
    connection over the cap is still accepted and answered 503 rather than dropped."""
    fits = max(open_files - RESERVED_FILES, 1)
    if max_connections > fits:
        log.warning(
            "max_connections lowered from %d to %d: this process may open only %d files "
            "(raise its hard limit: ulimit -Hn, or LimitNOFILE= in a systemd unit)",
            max_connections, fits, open_files,
        )  # fmt: skip
        return fits
    return max_connections


def guarded_protocol(limits: Limits) -> type[Guarded]:
    """A Guarded class of one server's own: its connections share one Guard."""
    return type("Guarded", (Guarded,), {"guard": Guard(limits)})


class Phase(enum.Enum):
    WAITING = "waiting for a request"
    HEAD = "reading a request's head"
    BODY = "reading a request's body"
    DONE = "the request is read"
    LINGERING = "refused: reading what the client still sends, until it stops or LINGER_S pass"


class Notices:
    """Warnings about refused clients, at most one per kind every NOTICE_INTERVAL_S, with a count of the rest."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.unsaid: Counter[str] = Counter()

    def warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -NOTICE_INTERVAL_S) < NOTICE_INTERVAL_S:
            self.unsaid[kind] += 1
            return
        self.last[kind] = now
        more = self.unsaid.pop(kind, 0)
        log.warning("%s%s", message, f" (and {more} more since the last notice)" if more else "")


class Guard:
    """What the connections of one server share: which of them waits for what, and until when.

    Each table is ordered by deadline, as each entry joins at its end with now + one fixed timeout.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.heads: OrderedDict[Guarded, float] = OrderedDict()  # new connections, and requests whose head is arriving
        self.idle: OrderedDict[Guarded, float] = OrderedDict()  # kept alive after an answer
        self.bodies: OrderedDict[Guarded, float] = OrderedDict()  # requests whose body is arriving
        self.lingering: OrderedDict[Guarded, float] = OrderedDict()  # refused, until the client stops sending
        shortest = min(limits.header_timeout_s, limits.body_timeout_s, limits.keep_alive_s)
        self.interval = min(1.0, max(0.05, shortest / 4))  # how late a deadline may be acted on
        self.sweeper: asyncio.TimerHandle | None = None
        self.notices = Notices()

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure a sweep is due (one runs while any table has an entry)."""
        if self.sweeper is None:
            self.sweeper = loop.call_later(self.interval, self.sweep, loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self.sweeper = None
        now = loop.time()
        expiries: tuple[tuple[OrderedDict[Guarded, float], Callable[[Guarded], None]], ...] = (
            (self.heads, Guarded.head_timed_out),
            (self.idle, Guarded.idle_timed_out),
            (self.bodies, Guarded.body_timed_out),
            (self.lingering, Guarded.stop_lingering),
        )
        for table, expire in expiries:
            while table:
                connection, deadline = next(iter(table.items()))
                if deadline > now:
                    break
                table.popitem(last=False)
                expire(connection)
        if self.heads or self.idle or self.bodies or self.lingering:
            self.watch(loop)

    def shed(self, newcomer: Guarded) -> bool:
        """Close the connection that has waited longest for a request, other than `newcomer`; False if none waits."""
        for table in (self.heads, self.idle):
            oldest = next((c for c in table if c is not newcomer), None)
            if oldest is not None:
                del table[oldest]
                oldest.give_way()
                return True
        return False

    def forget(self, connection: Guarded) -> None:
        self.heads.pop(connection, None)
        self.idle.pop(connection, None)
        self.bodies.pop(connection, None)
        self.lingering.pop(connection, None)


class OneSend:
    """The connection's transport as one response sees it: the head that uvicorn writes at
    `http.response.start` waits for the body's first write, at most until the loop's next turn
    (a streamed body may come later), so a small response leaves in one send(), not two."""

    __slots__ = ("transport", "loop", "head", "started")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.head: bytes | None = None
        self.started = False

    def write(self, data: bytes) -> None:
        if not self.started:  # the head: held for the body
            self.started = True
            self.head = data
            self.loop.call_soon(self.flush)
            return
        head = self.head
        if head is not None:
            self.head = None
            data = head + data
        self.transport.write(data)

    def flush(self) -> None:
        head, self.head = self.head, None
        if head is not None:
            self.transport.write(head)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        self.flush()
        self.transport.close()


class Guarded(HttpToolsProtocol):
    """uvicorn's httptools protocol within the limits of its server's Guard (see the module's docstring).

    It keeps its connection's deadlines in the Guard's tables, uvicorn's keep-alive timer included.
    """

    guard: ClassVar[Guard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = self.guard.limits
        self.phase = Phase.WAITING
        self.head_bytes = 0  # received since the last request ended: an upper bound on this head's size
        self.body_bytes = 0
        self.refusal: Refused | None = None

    # -- the connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        guard.heads[self] = self.loop.time() + self.limits.header_timeout_s
        guard.watch(self.loop)
        if len(self.connections) > self.limits.max_connections:
            guard.shed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is stopping: a response that would never end is told to (see STOPPING)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            stopping = cycle.scope.get(STOPPING)
            if isinstance(stopping, asyncio.Event):
                stopping.set()
        super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self.phase is Phase.LINGERING:
            return
        guard = self.guard
        if self.phase is Phase.BODY:
            self.body_bytes += len(data)
        else:
            self.head_bytes += len(data)
            if self.phase is Phase.WAITING:
                guard.idle.pop(self, None)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            guard.notices.warn("upgrade", "an Upgrade request was answered as plain HTTP: the service has no WebSocket")
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) and exc.__context__ else exc
            self.refuse(self.refusal or BadRequest(f"invalid HTTP request: {cause}"))
            return
        limits = self.limits
        if self.phase is Phase.BODY:
            if self.body_bytes > limits.max_body_bytes + limits.max_header_bytes:
                message = f"the body, with any chunked trailers, is larger than {limits.max_body_bytes} bytes"
                self.refuse(PayloadTooLarge(message))
            elif self not in guard.bodies:
                guard.bodies[self] = self.loop.time() + limits.body_timeout_s
                guard.watch(self.loop)
        elif self.head_bytes > limits.max_header_bytes:
            self.refuse(self._head_too_large())
        elif self.phase is Phase.HEAD and self not in guard.heads:
            guard.heads[self] = self.loop.time() + limits.header_timeout_s  # the next request on a kept-alive connection
            guard.watch(self.loop)

    # -- httptools' callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.phase = Phase.HEAD

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_headers:
            message = f"a request may have at most {self.limits.max_headers} headers"
            self.refusal = HeadersTooLarge(message, code="too_many_headers")
            raise self.refusal

    def on_headers_complete(self) -> None:
        limits = self.limits
        self.guard.heads.pop(self, None)
        if self.head_bytes > limits.max_header_bytes and self._head_size() > limits.max_header_bytes:
            self.refusal = self._head_too_large()
            raise self.refusal
        if len(self.connections) > limits.max_connections and not self.guard.shed(self):
            self.refusal = self._over_the_cap("every other one has a request under way")
            raise self.refusal
        self.phase = Phase.BODY
        self.body_bytes = 0
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:
            cycle.transport = OneSend(self.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.phase = Phase.DONE
        self.head_bytes = 0
        self.guard.bodies.pop(self, None)
        if self.cycle is not None and self.cycle.response_complete:
            self._wait_for_a_request()  # answered before its body had all arrived

    def on_response_complete(self) -> None:
        # uvicorn's own, with the Guard's idle table in place of its keep-alive timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self.phase is Phase.DONE:
            self._wait_for_a_request()
        # Otherwise the next head (its deadline set in data_received) or this body (its own) is arriving.

    # -- deadlines -----------------------------------------------------------------------------

    def head_timed_out(self) -> None:
        if self.phase is Phase.WAITING:  # a new connection that sent nothing
            self.close()
        elif self.phase is Phase.HEAD:
            timeout = self.limits.header_timeout_s
            self.refuse(RequestTimeout(f"the request's headers did not all arrive within {timeout:g} s"))

    def idle_timed_out(self) -> None:
        if self.phase is Phase.WAITING:
            self.close()

    def give_way(self) -> None:
        """Close to make room for a new connection: this one had waited longest for a request."""
        if self.phase is Phase.HEAD:
            self.refuse(self._over_the_cap("this request's headers had been arriving the longest"))
        elif self.phase is Phase.WAITING:
            self.close()

    def body_timed_out(self) -> None:
        if self.phase is Phase.BODY:
            timeout = self.limits.body_timeout_s
            message = f"the request's body did not all arrive within {timeout:g} s (is Content-Length larger than the body?)"
            self.refuse(RequestTimeout(message))

    # -- answers -------------------------------------------------------------------------------

    def refuse(self, refusal: Refused) -> None:
        """Answer `refusal` unless an answer on this connection is already under way, and close."""
        cycle = self.cycle
        if self.phase in (Phase.BODY, Phase.DONE):  # the refused request is `cycle`, queued if pipelined
            writable = not self.pipeline and not cycle.response_started
        else:  # no cycle of its own yet: an earlier one may still be answering
            writable = cycle is None or cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app, if it is reading the body, stops
            cycle.waiting_for_100_continue = False
            cycle.message_event.set()
        self.guard.notices.warn(str(refusal.status), f"answered {refusal.status} and closed: {refusal.message}")
        if writable and not self.transport.is_closing():
            self.transport.write(self._error_bytes(refusal))
            self.linger()
        else:
            self.close()

    def linger(self) -> None:
        """Close after the answer, but only once the client has stopped sending, or after LINGER_S.

        A client still sending (the rest of a 64 MB header) when the socket closes gets a reset,
        which may destroy the answer before it reads it. So the answer goes out with a FIN, and
        what arrives after it is read and dropped, as nginx and Apache do.
        """
        guard = self.guard
        guard.forget(self)
        self.connections.discard(self)
        self.phase = Phase.LINGERING
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        guard.lingering[self] = self.loop.time() + LINGER_S
        guard.watch(self.loop)

    def stop_lingering(self) -> None:
        self.transport.close()

    def close(self) -> None:
        self.guard.forget(self)
        self.connections.discard(self)  # at once: the connection cap counts it no more
        self.transport.close()

    def _error_bytes(self, refusal: Refused) -> bytes:
        response = refusal.response()
        parts = [STATUS_LINE[refusal.status]]
        for name, value in (*self.server_state.default_headers, *response.raw_headers, (b"connection", b"close")):
            parts += [name, b": ", value, b"\r\n"]
        parts += [b"\r\n", response.body]
        return b"".join(parts)

    def _over_the_cap(self, why: str) -> Refused:
        message = f"the server is at its limit of {self.limits.max_connections} connections and {why}; retry later"
        return TooManyConnections(message, retry_after=1)

    def _head_too_large(self) -> Refused:
        return HeadersTooLarge(f"the request's headers are larger than {self.limits.max_header_bytes} bytes")

    def _head_size(self) -> int:
        """The head's size as sent, give or take whitespace: request line, header lines, blank line."""
        return len(self.url) + 16 + sum(len(name) + len(value) + 4 for name, value in self.headers) + 2

    def _wait_for_a_request(self) -> None:
        self.phase = Phase.WAITING
        self.guard.idle[self] = self.loop.time() + self.limits.keep_alive_s
        self.guard.watch(self.loop)
