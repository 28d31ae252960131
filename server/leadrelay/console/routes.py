"""The console's pages and actions, under `admin_path`: what the site sends, what was refused, what each
vendor has, and the buttons that fix it. Off (one page saying how to turn it on) without `admin_token`.

Every page reads the store through its bounded queries (leadrelay.store.views.ConsoleViews), on a
thread; every change goes through the store functions the CLI uses (leadrelay.replay).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

import orjson
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from leadrelay.arrival import load_stored
from leadrelay.caller import Caller
from leadrelay.config import Settings, env_var
from leadrelay.console.auth import Session, Sessions
from leadrelay.console.chart import STATE_COLOURS, stacked_bars
from leadrelay.console.pages import HEADERS, Page, badge, pretty, table, text, when
from leadrelay.console.stream import LiveFeed, Summary
from leadrelay.destinations.base import redact
from leadrelay.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Refused,
    StoreUnavailable,
    TooManyRequests,
    Unauthorized,
)
from leadrelay.event import dump_event
from leadrelay.identity import Identity
from leadrelay.replay import remembered_by_dub, replay_dead
from leadrelay.store import DeliveryRow, SqlStore
from leadrelay.store.views import SEARCH_SCAN, EventRow
from leadrelay.trust.rate_limits import RateLimits, parse_limit
from leadrelay.vendors import configured_secrets, destination_states

FILES = Path(__file__).parent
MAX_FORM_BYTES = 8 * 1024
MAX_QUERY_CHARS = 200
REJECTIONS_GROUPED = 5000  # the newest kept rejections grouped by error
NEWEST = 50
DEAD_SHOWN = 100
CHART_HOURS = 24
STATES = ("delivered", "deduplicated", "unattributed", "pending", "retrying", "dead")


class Console:
    def __init__(self, settings: Settings, store: SqlStore, identity: Identity, rate_limits: RateLimits) -> None:
        self.settings = settings
        self.store = store
        self.identity = identity
        self.rate_limits = rate_limits
        self.base = settings.admin_path
        self.on = settings.admin_token is not None
        self.sessions = Sessions(settings, identity) if self.on else None
        self.login_rate = parse_limit(settings.admin_login_rate)
        self.feed = LiveFeed(store, self._summaries)
        self.secrets = configured_secrets(settings)
        self.worker: Any = None  # the service's worker, when it runs one: its lanes tell the pacing

    def routes(self) -> list[BaseRoute]:
        b = self.base
        if not self.on:
            return [Route(b, self.off), Route(b + "/{rest:path}", self.off, methods=["GET", "HEAD", "POST"])]
        pages: list[tuple[str, Callable[[Request], Awaitable[Response]], str]] = [
            ("", self._signed_in(self.overview), "GET"),
            ("/", self._signed_in(self.overview), "GET"),
            ("/login", self.login_page, "GET"),
            ("/login", self.login, "POST"),
            ("/logout", self.logout, "POST"),
            ("/live", self._signed_in(self.live), "GET"),
            ("/events/{event_id:path}", self._signed_in(self.event), "GET"),
            ("/destinations/{name}", self._signed_in(self.destination), "GET"),
            ("/replay", self.replay, "POST"),
            ("/erase", self.erase, "POST"),
            ("/rejections", self._signed_in(self.rejections), "GET"),
            ("/rejections/{rejection_id:int}", self._signed_in(self.rejection), "GET"),
            ("/search", self._signed_in(self.search), "GET"),
            ("/console.js", self.asset, "GET"),
            ("/console.css", self.asset, "GET"),
        ]
        routes: list[BaseRoute] = [Route(b + "/stream", _Asgi(self.stream), methods=["GET"])]
        routes += [Route(b + path, _html_errors(b, endpoint), methods=[method]) for path, endpoint, method in pages]
        return routes

    # -- access ------------------------------------------------------------------------------------

    async def off(self, request: Request) -> Response:
        body = (
            "<p>The operator's console is off: no admin token is configured.</p>"
            f"<p>To turn it on, set <code>admin_token</code> (<code>{text(env_var('admin_token'))}</code>) to a long "
            "random token, e.g. from <code>leadrelay new-secret-key</code>, and restart leadrelay. "
            f"The console is then served here, at <code>{text(self.base)}</code> (<code>admin_path</code>).</p>"
        )
        return Page(self.base, nav=False).render("Console off", body, status=404)

    def _page(self, session: Session | None) -> Page:
        return Page(self.base, csrf=session.csrf if session else None)

    def _session(self, request: Request) -> Session | None:
        assert self.sessions is not None
        return self.sessions.session(Caller(request.scope))

    def _login_redirect(self) -> Response:
        return RedirectResponse(f"{self.base}/login", status_code=303, headers={"Cache-Control": "no-store"})

    def _signed_in(self, endpoint: Callable[[Request, Page], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """A page for operators only: without a valid session, the login page instead."""

        @functools.wraps(endpoint)
        async def answer(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return self._login_redirect()
            return await endpoint(request, self._page(session))

        return answer

    async def _change(self, request: Request) -> tuple[Session, dict[str, str]]:
        """The session and form of a state change, once it is shown to come from the console itself
        (raises Unauthorized without a session, Forbidden from elsewhere or without the CSRF token)."""
        assert self.sessions is not None
        caller = Caller(request.scope)
        session = self.sessions.require(caller)
        form = await _form(request)
        self.sessions.check_change(caller, session, form.get("csrf"))
        return session, form

    async def login_page(
        self, request: Request, problem: str | None = None, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        note = f'<p class="problem" role="alert">{text(problem)}</p>' if problem else ""
        body = (
            f"{note}<form method=\"post\" action=\"{text(self.base)}/login\" class=\"login\">"
            '<label>Admin token <input type="password" name="token" autocomplete="current-password" required'
            ' maxlength="1024" autofocus></label> <button type="submit">Log in</button></form>'
            "<p class=\"hint\">The token is the configuration's <code>admin_token</code>.</p>"
        )
        return Page(self.base, nav=False).render("Log in", body, status=status, headers=headers)

    async def login(self, request: Request) -> Response:
        assert self.sessions is not None
        caller = Caller(request.scope)
        try:
            self.sessions.check_change(caller, None, None)
            await self.rate_limits.count(self.login_rate, "admin-login", self.identity.client_ip(caller) or "-", "this address")
            form = await _form(request)
        except Refused as refusal:
            retry = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after is not None else None
            return await self.login_page(request, refusal.message, refusal.status, retry)
        if not self.sessions.token_matches(form.get("token", "")):
            return await self.login_page(request, "That is not the admin token.", 401)
        response = RedirectResponse(f"{self.base}/", status_code=303, headers={"Cache-Control": "no-store"})
        response.raw_headers.append(self.sessions.new_cookie(caller))
        return response

    async def logout(self, request: Request) -> Response:
        await self._change(request)
        assert self.sessions is not None
        response = self._login_redirect()
        response.raw_headers.append(self.sessions.end_cookie(Caller(request.scope)))
        return response

    async def asset(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        media = "text/javascript" if name.endswith(".js") else "text/css"
        content = (FILES / name).read_bytes()
        return Response(content, media_type=media, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    # -- reading the store -------------------------------------------------------------------------

    async def _read(self, fn: Any, *args: Any) -> Any:
        return await self._store_call("the store cannot be read right now; reload in a moment", fn, *args)

    async def _write(self, fn: Any, *args: Any) -> Any:
        return await self._store_call("the store cannot be written right now; nothing changed, try again", fn, *args)

    async def _store_call(self, failure: str, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on a thread; the store failing (not a bug) is answered 503 with `failure`."""
        try:
            return await run_in_threadpool(fn, *args)
        except Exception as exc:
            if self.store.is_failure(exc):
                raise StoreUnavailable(failure, retry_after=5) from exc
            raise

    def _summaries(self, rows: list[EventRow]) -> list[Summary]:
        out = []
        for row in rows:
            entry: Summary = {"id": row.id, "dialect": row.dialect, "name": row.name, "received_at": row.received_at}
            try:
                event = load_stored(row.body)
                entry["customer"] = event.customer.external_id or event.customer.email
                entry["clicks"] = sorted(event.click_ids)
                entry["value"] = event.value
                entry["currency"] = event.currency
            except Exception as exc:  # noqa: BLE001 - an event this version cannot read is still listed
                entry["problem"] = f"cannot be read: {exc}"
            out.append(entry)
        return out

    def _event_rows(self, rows: list[EventRow], page: Page, list_id: str | None = None) -> str:
        """Events as expandable rows: each opens to its detail (console.js loads it). Reads every event:
        called on a thread (an event may be 64 KB)."""
        items = []
        for s in self._summaries(rows):
            url = page.url(f"/events/{quote_id(s['id'])}")
            who = s.get("customer") or s.get("problem") or ""
            items.append(
                f'<li data-id="{text(s["id"])}"><details data-detail="{url}?part=detail"><summary>'
                f'<time>{text(when(s["received_at"]))}</time> <span class="dialect">{text(s["dialect"])}</span> '
                f'<span class="name">{text(s["name"])}</span> <span class="who">{text(who)}</span> '
                f'<a href="{url}">{text(s["id"])}</a></summary><div class="detail">loading…</div></details></li>'
            )
        id_attr = f' id="{text(list_id)}"' if list_id else ""
        return f'<ul class="events"{id_attr}>{"".join(items)}</ul>'

    # -- pages ---------------------------------------------------------------------------------------

    async def overview(self, request: Request, page: Page) -> Response:
        counts = await self._read(self.store.destination_counts)
        health = await self._read(self.store.destination_health)
        now = time.time()
        top = now // 3600 * 3600
        hours = [top - 3600 * i for i in range(CHART_HOURS - 1, -1, -1)]
        leads = await self._read(self.store.leads_by_hour, hours)
        outcomes = await self._read(self.store.outcomes_by_hour, hours)
        groups = await self._read(self._rejection_groups)
        newest = await self._read(self.store.newest_events, 10)
        newest_html = await run_in_threadpool(self._event_rows, newest, page)
        rows = []
        for name, state in destination_states(self.settings).items():
            c = counts.get(name, {})
            known = health.get(name)
            healthy = "-" if state != "on" else ("healthy" if not known or known["healthy"] else "unhealthy")
            rows.append(
                [f'<a href="{page.url(f"/destinations/{name}")}">{text(name)}</a>', text(state)]
                + [text(c.get(s, 0)) for s in STATES]
                + [text(healthy)]
            )
        body = (
            "<section><h2>Destinations</h2>"
            + table(["destination", "state", *STATES, "health"], rows)
            + "</section><section><h2>Leads, the last 24 hours (UTC)</h2><h3>By dialect</h3>"
            + stacked_bars("Events received an hour, by dialect", hours, leads)
            + "<h3>By delivery outcome</h3>"
            + stacked_bars("The deliveries of each hour's events, by where they are now", hours, outcomes, STATE_COLOURS)
            + "</section><section><h2>Rejections, by error</h2>"
            + self._groups_html(groups[:10], page)
            + f'<p><a href="{page.url("/rejections")}">All rejections</a></p></section>'
            + "<section><h2>Newest events</h2>"
            + newest_html
            + f'<p><a href="{page.url("/live")}">Watch them live</a></p></section>'
        )
        return page.render("Overview", body)

    async def live(self, request: Request, page: Page) -> Response:
        newest = await self._read(self.store.newest_events, NEWEST)
        since = newest[0].received_at if newest else time.time()
        rows = await run_in_threadpool(self._event_rows, newest, page, "live")
        body = (
            f'<p class="status" id="live-status" data-stream="{page.url("/stream")}" data-since="{since!r}">'
            "connecting…</p>" + rows
        )
        return page.render("Live events", body)

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if self._session(request) is None:
            await Unauthorized("log in to the console first", code="no_session").response()(scope, receive, send)
            return
        if self.feed.full:
            refusal = TooManyRequests(f"at most {self.feed.max_viewers} live views at once; retry later", retry_after=10)
            await refusal.response()(scope, receive, send)
            return
        since = _float(request.query_params.get("since")) or _float(request.headers.get("last-event-id"))
        await self.feed.serve(scope, receive, send, since)

    async def event(self, request: Request, page: Page) -> Response:
        event_id = request.path_params["event_id"]
        row = await self._read(self.store.stored_event, event_id)
        if row is None:
            raise NotFound(f"no event with id {event_id!r}")
        deliveries = await self._read(lambda: self.store.list_deliveries(event_id=event_id, limit=100))
        detail = await run_in_threadpool(self._detail, row, deliveries, page)  # reads and prints the whole event
        if request.query_params.get("part") == "detail":
            return Response(detail, media_type="text/html", headers=HEADERS)
        return page.render(f"Event {event_id}", detail)

    def _detail(self, row: EventRow, deliveries: list[DeliveryRow], page: Page) -> str:
        stored = from_json(row.body)
        seen = stored.get("seen", {})
        try:
            event = load_stored(row.body)
        except Exception as exc:  # noqa: BLE001 - shown, not raised: the operator needs to see why
            return f'<p class="problem">This version cannot read the event: {text(exc)}</p><h3>As stored</h3><pre>{pretty(stored)}</pre>'
        verified = seen.get("verified_clicks")
        clicks = []
        for vendor, click_id in sorted(event.click_ids.items()):
            if verified is None:
                trust = "taken as sent (a server key, or click_verification = off)"
            elif click_id in verified.get(vendor, []):
                trust = f"verified: the visitor landed with it at {self.settings.path_prefix}/c"
            else:
                trust = "not verified"
            clicks.append([text(vendor), f"<code>{text(click_id)}</code>", text(trust)])
        for mark in event.marks:
            clicks.append(["-", text(mark.code), text(mark.message)])
        rows = []
        held = remembered_by_dub([d for d in deliveries if d.state == "dead"], self.store.clock())
        for d in deliveries:
            answer = redact(d.response, self.secrets)
            error = redact(d.last_error, self.secrets)
            action = ""
            if d.state == "dead":
                fields = {"destination": d.destination, "event": d.event_id, "back": "event"}
                if d.delivery_id in held:
                    action = _dub_warning(held[d.delivery_id][1]) + page.form("/replay", "Replay anyway", {**fields, "force": "1"})
                else:
                    action = page.form("/replay", "Replay", fields)
            rows.append(
                [
                    f'<a href="{page.url(f"/destinations/{d.destination}")}">{text(d.destination)}</a>',
                    badge("retrying" if d.state == "pending" and d.attempts else d.state),
                    text(d.attempts),
                    text(d.last_status if d.last_status is not None else "-"),
                    text(error or ""),
                    f"<pre>{text(_indent(sent))}</pre>" if (sent := redact(d.request, self.secrets)) else "-",
                    f"<pre>{pretty(answer)}</pre>" if answer is not None else "",
                    action,
                ]
            )
        return (
            '<dl class="facts">'
            f"<dt>id</dt><dd><code>{text(row.id)}</code></dd>"
            f"<dt>received</dt><dd>{text(when(row.received_at))} UTC</dd>"
            f"<dt>dialect</dt><dd>{text(row.dialect)}</dd><dt>name</dt><dd>{text(row.name)}</dd>"
            f"<dt>visitor</dt><dd><code>{text(row.visitor_id or '-')}</code></dd>"
            f"<dt>from</dt><dd>{text(seen.get('ip') or '-')} · {text(seen.get('user_agent') or '-')}</dd></dl>"
            "<h3>Click ids and trust marks</h3>"
            + table(["vendor", "click id / mark", "verified?"], clicks, empty="no click id, no mark")
            + "<h3>Deliveries</h3>"
            + table(["destination", "state", "attempts", "status", "last error", "body sent", "vendor's answer", ""], rows, "none (no destination takes it)")
            + f"<h3>Canonical form</h3><pre>{text(_indent(dump_event(event, raw=False)))}</pre>"
            + f"<h3>Raw payload</h3><pre>{pretty(stored.get('envelope'))}</pre>"
            + self._erase_forms(event, row, page)
        )

    def _erase_forms(self, event: Any, row: EventRow, page: Page) -> str:
        """Buttons that erase the person this event is about: by email, customer id or visitor id."""
        who: list[tuple[str, str, str]] = []
        if event.customer.email:
            who.append(("email", event.customer.email, f"email {event.customer.email}"))
        if event.customer.external_id and event.customer.external_id != event.customer.email:
            who.append(("customer_id", event.customer.external_id, f"customer {event.customer.external_id}"))
        if row.visitor_id:
            who.append(("visitor_id", row.visitor_id, f"visitor {row.visitor_id}"))
        forms = [
            page.form(
                "/erase",
                f"Erase everything about {label}",
                {kind: value},
                cls="erase",
                confirm=f"Erase every stored row about {label}? This cannot be undone.",
            )
            for kind, value, label in who
        ]
        if not forms:
            return ""
        return (
            "<h3>Erase this person</h3><p class=\"hint\">Removes their events, the deliveries of those events with the"
            " bodies sent and the answers, their clicks, and the rejected events that name them.</p>"
            + "<p>" + " ".join(forms) + "</p>"
        )

    async def erase(self, request: Request) -> Response:
        session, form = await self._change(request)
        given = {k: form[k] for k in ("email", "customer_id", "visitor_id") if form.get(k)}
        if len(given) != 1:
            raise BadRequest("name one person: an email, a customer_id or a visitor_id")
        try:
            erased = await self._write(lambda: self.store.erase(**given))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        ((kind, value),) = given.items()
        page = self._page(session)
        body = (
            f'<p role="status">Erased everything stored about {text(kind.replace("_", " "))} <code>{text(value)}</code>:'
            f" {erased.events} events, {erased.deliveries} deliveries, {erased.clicks} clicks,"
            f" {erased.rejections} rejected events.</p>"
            f'<p><a href="{page.url("/")}">Back to the overview</a></p>'
        )
        return page.render("Erased", body)

    async def destination(self, request: Request, page: Page) -> Response:
        name = request.path_params["name"]
        states = destination_states(self.settings)
        if name not in states:
            raise NotFound(f"no destination named {name!r}: there are {', '.join(states)}")
        counts = (await self._read(self.store.destination_counts)).get(name, {})
        health = (await self._read(self.store.destination_health)).get(name)
        last = await self._read(self.store.last_failure, name)
        dead = await self._read(self.store.newest_dead, name, DEAD_SHOWN)
        held = remembered_by_dub(dead, self.store.clock())
        facts = [f"<dt>state</dt><dd>{text(states[name])}</dd>"]
        facts += [f"<dt>{text(s)}</dt><dd>{text(counts.get(s, 0))}</dd>" for s in STATES]
        if health is not None:
            said = "healthy" if health["healthy"] else f"unhealthy: {redact(health['error'], self.secrets)}"
            facts.append(f"<dt>health</dt><dd>{text(said)} (as of {text(when(health['updated_at']))} UTC)</dd>")
        facts.append(f"<dt>pacing</dt><dd>{text(self._pacing(name))}</dd>")
        if last is not None:
            error = redact(last.last_error, self.secrets)
            facts.append(
                f"<dt>last error</dt><dd>{text(when(last.updated_at))} UTC, status {text(last.last_status or '-')}: "
                f'{text(error or "")} (<a href="{page.url(f"/events/{quote_id(last.event_id)}")}">event</a>)</dd>'
            )
        rows = []
        for d in dead:
            warn = ""
            if d.delivery_id in held:
                warn = _dub_warning(held[d.delivery_id][1])
            button = page.form(
                "/replay",
                "Replay anyway" if warn else "Replay",
                {"destination": name, "event": d.event_id, **({"force": "1"} if warn else {})},
            )
            rows.append(
                [
                    f'<a href="{page.url(f"/events/{quote_id(d.event_id)}")}">{text(d.event_id)}</a>',
                    text(when(d.updated_at)),
                    text(d.attempts),
                    text(d.last_status if d.last_status is not None else "-"),
                    text(redact(d.last_error, self.secrets) or "") + warn,
                    button,
                ]
            )
        replay_all = ""
        if counts.get("dead"):
            note = f" ({len(held)} of Dub's left dead: see their warning)" if held else ""
            label = f"Replay all {counts['dead']} dead letters"
            confirm = f"Replay every dead letter of {name}?"
            replay_all = f"<p>{page.form('/replay', label, {'destination': name}, confirm=confirm)}{text(note)}</p>"
        body = (
            f'<dl class="facts">{"".join(facts)}</dl>'
            + f"<h2>Dead letters</h2>{replay_all}"
            + table(["event", "dead since", "attempts", "status", "vendor's reason", ""], rows, "no dead letters")
            + (f"<p class=\"hint\">The newest {DEAD_SHOWN} are shown.</p>" if len(dead) == DEAD_SHOWN else "")
        )
        return page.render(f"Destination {name}", body)

    def _pacing(self, name: str) -> str:
        lane = getattr(self.worker, "lanes", {}).get(name) if self.worker is not None else None
        rate = getattr(self.settings, f"{name}_rate_per_minute", None)
        pace = f"at most {rate} a minute" if rate else "not paced"
        if lane is None:
            return f"{pace} (no worker in this process)"
        if lane.pacer.waiting:
            left = lane.pacer.resume_at - time.monotonic()
            return f"{pace}; holding for the vendor's rate limit: {left:.0f} s more"
        return f"{pace}; {lane.active} requests in flight, {lane.held} claimed"

    async def replay(self, request: Request) -> Response:
        _, form = await self._change(request)
        destination = form.get("destination")
        if destination not in destination_states(self.settings):
            raise BadRequest("destination: not a destination leadrelay knows")
        event_id = form.get("event") or None
        replayed = await self._write(replay_dead, self.store, destination, event_id, form.get("force") == "1")
        if event_id and form.get("back") == "event":
            back = f"{self.base}/events/{quote_id(event_id)}"
        else:
            back = f"{self.base}/destinations/{destination}"
        if self.worker is not None:
            self.worker.wake()
        return RedirectResponse(back, status_code=303, headers={"Cache-Control": "no-store", "X-Replayed": str(replayed.count)})

    def _rejection_groups(self) -> list[dict[str, Any]]:
        """The newest kept rejections grouped by error (dialect, path, message), commonest first, and the
        ones only counted, by shape."""
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self.store.newest_rejections(REJECTIONS_GROUPED):
            for error in {(e["path"], e["message"]) for e in r["errors"]}:
                key = (r["dialect"] or "-", *error)
                group = groups.setdefault(key, {"dialect": key[0], "path": key[1], "message": key[2], "count": 0, "last": 0.0, "example": r["id"]})
                group["count"] += 1
                if r["received_at"] > group["last"]:
                    group["last"], group["example"] = r["received_at"], r["id"]
        ordered = sorted(groups.values(), key=lambda g: (-g["count"], -g["last"]))
        for shape, count in self.store.tallies_by_shape(time.time() - 7 * 86400, 50):
            ordered.append({"shape": shape, "count": count})
        return ordered

    def _groups_html(self, groups: list[dict[str, Any]], page: Page) -> str:
        items = []
        for g in groups:
            if "shape" in g:
                items.append(
                    f'<li><strong>{text(g["count"])} more</strong> only counted (over the budget kept whole): '
                    f"<code>{text(g['shape'])}</code></li>"
                )
                continue
            noun = "event" if g["count"] == 1 else "events"
            items.append(
                f'<li><strong>{text(g["count"])} {noun}</strong>: <code>{text(g["path"])}</code> {text(g["message"])}'
                f' <span class="dialect">{text(g["dialect"])}</span> · last {text(when(g["last"]))} UTC'
                f' · <a href="{page.url("/rejections/" + str(g["example"]))}">newest example</a></li>'
            )
        return f'<ul class="groups">{"".join(items)}</ul>' if items else '<p class="empty">no rejections</p>'

    async def rejections(self, request: Request, page: Page) -> Response:
        groups = await self._read(self._rejection_groups)
        body = (
            f'<p class="hint">The newest {REJECTIONS_GROUPED} rejections kept whole, grouped by error; each counts once per event.</p>'
            + self._groups_html(groups, page)
        )
        return page.render("Rejections", body)

    async def rejection(self, request: Request, page: Page) -> Response:
        found = await self._read(self.store.rejection, request.path_params["rejection_id"])
        if found is None:
            raise NotFound("no such rejection (it may have passed its retention)")
        errors = table(["path", "message", "rule"], ([text(e["path"]), text(e["message"]), text(e.get("rule", ""))] for e in found["errors"]))
        body = (
            f'<dl class="facts"><dt>received</dt><dd>{text(when(found["received_at"]))} UTC</dd>'
            f"<dt>dialect</dt><dd>{text(found['dialect'] or '-')}</dd><dt>event id</dt><dd>{text(found['event_id'] or '-')}</dd></dl>"
            f"<h3>Errors</h3>{errors}<h3>Raw body</h3><pre>{text(found['raw'])}</pre>"
        )
        return page.render(f"Rejection {found['id']}", body)

    async def search(self, request: Request, page: Page) -> Response:
        q = (request.query_params.get("q") or "").strip()
        if len(q) > MAX_QUERY_CHARS:
            raise BadRequest(f"q: at most {MAX_QUERY_CHARS} characters")
        found: list[EventRow] = []
        if q:
            found = await self._read(self._find, q)
        note = (
            f'<p class="hint">An event id is looked up among every event; a customer id, email or click id among the newest {SEARCH_SCAN:,}.</p>'
        )
        rows = await run_in_threadpool(self._event_rows, found, page) if q else ""
        body = note + (f"<p>{len(found)} found for <code>{text(q)}</code></p>" + rows if q else "")
        return page.render("Search", body)

    def _find(self, q: str) -> list[EventRow]:
        found: dict[str, EventRow] = {}
        exact = self.store.stored_event(q)
        if exact is not None:
            found[exact.id] = exact
        needle = orjson.dumps(q).decode()[1:-1]  # as it is written inside the stored JSON
        lowered = q.lower()
        for row in self.store.events_containing(needle, NEWEST * 4):
            try:
                event = load_stored(row.body)
            except Exception:  # noqa: BLE001 - unreadable: not a match we can vouch for
                continue
            c = event.customer
            if c.external_id == q or lowered in (e.lower() for e in c.emails) or q in event.click_ids.values():
                found.setdefault(row.id, row)
        return sorted(found.values(), key=lambda r: -r.received_at)[:NEWEST]


class _Asgi:
    """A plain ASGI endpoint for a Route (Starlette would wrap a method as a request/response function)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _html_errors(base: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, with its refusals answered as a console page (an operator reads them, not a program)."""

    @functools.wraps(endpoint)
    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Refused as refusal:
            headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after is not None else None
            body = f'<p class="problem" role="alert">{text(refusal.message)}</p><p><a href="{text(base)}/">Back to the console</a></p>'
            return Page(base, nav=False).render(f"Refused ({refusal.status})", body, refusal.status, headers)

    return answer


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form: at most MAX_FORM_BYTES, UTF-8, the first value of each field."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("a console form is sent as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"a console form is at most {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the form cannot be read: {exc}") from None
    return {k: v[0] for k, v in fields.items()}


def _dub_warning(forgotten_at: float) -> str:
    """What `leadrelay replay` warns of, for one of Dub's 404 (no such click) dead letters (leadrelay.replay)."""
    return (
        '<p class="warn">Dub answered 404 (no such click) less than 7 days ago and remembers this lead until '
        f"{text(when(forgotten_at))} UTC: replayed before then, Dub answers 200 and records nothing.</p>"
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _indent(text_json: str) -> str:
    return orjson.dumps(orjson.loads(text_json), option=orjson.OPT_INDENT_2).decode()


def quote_id(event_id: str) -> str:
    from urllib.parse import quote

    return quote(event_id, safe="")
