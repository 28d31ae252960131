"""The `leadrelay` command: serve, check, and the operator's views of the store.

Everything it prints for a person goes through terminal.printable (and JSON lines through
terminal.json_line): ids, paths, messages and vendors' answers come from strangers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import unquote, urlsplit

from leadrelay.config import ConfigError, Problem, Settings, bind_address, load_settings, new_secret_key
from leadrelay.event import KINDS, dump_event
from leadrelay.sandbox.mode import NOTICE, sandbox_on
from leadrelay.store.probe import database_problem
from leadrelay.terminal import json_line, json_safe, printable
from leadrelay.trust.marks import CLICK_HELD_BACK, MARKS
from leadrelay.vendors import DESTINATIONS, configured_secrets, destination_kinds, destination_states

if TYPE_CHECKING:
    from leadrelay.store import SqlStore

RAW_SHOWN = 300  # characters of a rejected event's raw body in the readable view


def _settings_or_exit(args: argparse.Namespace) -> Settings:
    """The settings, when `leadrelay check` finds nothing wrong; else print every problem and exit 1."""
    settings: Settings | None = None
    overrides = {"sandbox": True} if getattr(args, "sandbox", False) else {}
    try:
        settings = load_settings(args.config, **overrides)
        database_url: str | None = settings.database_url
        problems: list[Problem] = []
    except ConfigError as exc:
        database_url, problems = exc.database_url, list(exc.problems)
    if database_url is not None:
        reason = database_problem(database_url)
        if reason is not None:
            problems.append(Problem("database_url", f"{_safe_url(database_url)} cannot be used: {reason}"))
    if problems or settings is None:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        print(f"error: the configuration has {count}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {printable(problem)}", file=sys.stderr)
        raise SystemExit(1)
    return settings


def cmd_check(args: argparse.Namespace) -> int:
    s = _settings_or_exit(args)
    if args.recount:
        repaired = _existing_store(s).repair_tallies()
        print("delivery counts " + ("corrected: they had drifted" if repaired else "checked: they were right"))
    print("configuration OK")
    print(f"  environment:      {s.environment}")
    print(f"  database:         {printable(_safe_url(s.database_url))}")
    print(f"  secret key:       {'set' if s.secret_key else 'DEVELOPMENT DEFAULT (set LEADRELAY_SECRET_KEY)'}")
    print(f"  allowed origins:  {printable(', '.join(s.allowed_origins)) or '(same origin only)'}")
    print(f"  endpoint prefix:  {s.path_prefix}")
    proxies = f"trusted from {', '.join(s.forwarded_allow_ips)}" if s.trust_proxy_headers else "ignored"
    print(f"  proxy headers:    {printable(proxies)}")
    print(f"  server keys:      {len(s.server_keys) or 'none (the dub and pimms dialects are refused)'}")
    if s.click_verification == "enforce":
        print(f"  click ids:        forwarded when seen at {s.path_prefix}/c for the visitor (or sent with a server key)")
    else:
        print("  click ids:        forwarded as sent (click_verification = off)")
    kinds = destination_kinds(s)
    for name, why in destination_states(s).items():
        takes = " (" + " and ".join(f"{kind}s" for kind in kinds[name]) + ")" if why == "on" else ""
        print(f"  destination {name + ':':8} {printable(why)}{takes}")
    if sandbox_on(s):
        print(f"  sandbox:          on: {NOTICE.split(': ', 1)[1]} (serve delivers there instead)")
    else:
        print(f"  sandbox:          off{' (a destination is configured)' if s.sandbox == 'auto' else ''}")
    return 0


def cmd_new_secret_key(args: argparse.Namespace) -> int:
    print(new_secret_key())
    return 0


def _log(settings: Settings, level: str, text_format: str) -> None:
    from leadrelay import logs

    logs.configure(level, settings.log_format, settings.log_personal_data, text_format)


def cmd_serve(args: argparse.Namespace) -> int:
    from leadrelay import serving
    from leadrelay.app import create_app

    settings = _settings_or_exit(args)
    site = None
    if args.site is not None:
        site = Path(args.site)
        if not sandbox_on(settings) or not site.is_dir():
            why = "is not a folder" if sandbox_on(settings) else "is served only in sandbox mode (add --sandbox)"
            print(f"error: --site {printable(args.site)} {why}", file=sys.stderr)
            return 2
    _log(settings, args.log_level, "%(levelname)s:     %(name)s: %(message)s")
    app = create_app(settings, site=site)
    config = serving.uvicorn_config(
        app, settings, host=args.host, port=args.port, log_level=args.log_level, access_log=not args.no_access_log
    )
    store = printable(_safe_url(settings.database_url))
    print(f"leadrelay on http://{printable(args.host)}:{args.port}/  (store: {store})", flush=True)
    if sandbox_on(settings):
        print(f"{NOTICE}; see http://{printable(args.host)}:{args.port}{settings.path_prefix}/_sandbox/", flush=True)
    serving.serve(config)
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    store = _existing_store(_settings_or_exit(args))
    if args.count:
        counts = store.count_marks()
        kinds = store.count_kinds()
        print(f"events: {store.count('events')}")
        for kind in KINDS:
            print(f"  {kind}s: {kinds.get(kind, 0)}")
        for code in MARKS:
            print(f"  {code}: {counts.get(code, 0)}")
        return 0
    mark = CLICK_HELD_BACK if args.held_back else None
    events = store.list_events(args.limit, mark=mark, marked=args.marked, kind=args.kind)
    if not events:
        _say_empty(store, "events")
    for event in events:
        if args.json:
            print(json_safe(dump_event(event, raw=args.raw)))
            continue
        who = event.customer.email or event.customer.external_id or "-"
        value = f"{event.value:g} {event.currency or ''}".strip() if event.value is not None else "-"
        marks = ",".join(m.code for m in event.marks) or "-"
        print(
            f"{_when(event.received_at)}  {event.kind:4} {printable(event.dialect):7} {printable(event.name):20} "
            f"{printable(event.id):38} {printable(who):32} {printable(value):12} {printable(marks)}".rstrip()
        )
    return 0


def cmd_rejections(args: argparse.Namespace) -> int:
    store = _existing_store(_settings_or_exit(args))
    rows = store.list_rejections(args.limit)
    tallies = store.rejection_tallies(args.limit)
    if not rows and not tallies:
        _say_empty(store, "rejected events")
    for row in rows:
        if args.json:
            print(json_line(row))
            continue
        errors = "; ".join(f"{e['path']}: {e['message']}" for e in row["errors"])
        dialect, event_id = printable(row["dialect"] or "-"), printable(row["event_id"] or "-")
        print(f"{_when(row['received_at'])}  {dialect:8} {event_id:38} {printable(errors)}")
        raw = row["raw"]
        more = len(raw) - RAW_SHOWN
        shown = raw[:RAW_SHOWN] + (f" ... ({more} more characters: --json shows them all)" if more > 0 else "")
        print(f"    raw: {printable(shown)}")
    for tally in tallies:
        if args.json:
            print(json_line({"counted_only": True, **tally}))
            continue
        source, shape = printable(tally["source"]), printable(tally["shape"])
        print(f"{_when(tally['hour'])}  {tally['count']} more rejected from {source} ({shape}), counted only")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    store = _existing_store(_settings_or_exit(args))
    try:
        erased = store.erase(email=args.email, customer_id=args.customer_id, visitor_id=args.visitor)
    except ValueError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2
    if args.json:
        print(json_line(erased.as_dict()))
        return 0
    print(
        f"erased {erased.events} events, {erased.deliveries} deliveries (with the bodies they sent),"
        f" {erased.rejections} rejected events and {erased.clicks} clicks"
    )
    if erased.visitors:
        print(f"  the person's visitor ids: {printable(', '.join(erased.visitors))}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from leadrelay.metrics import Metrics, MetricsListener
    from leadrelay.worker import Worker

    settings = _settings_or_exit(args)
    if args.metrics_bind is not None:
        try:
            bind_address(args.metrics_bind)
        except ValueError as exc:
            print(f"error: --metrics-bind: {printable(exc)}", file=sys.stderr)
            return 2
    if sandbox_on(settings):
        print(
            "error: in sandbox mode the fake vendors live inside `leadrelay serve`, which delivers to them itself;"
            " a worker of its own would deliver where nothing shows it. Configure a destination, or set sandbox = false.",
            file=sys.stderr,
        )
        return 1
    store = _store(settings)
    _log(settings, args.log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        metrics = Metrics(store)
        worker = Worker(settings, store, metrics=metrics)
        store_url = printable(_safe_url(settings.database_url))
        print(f"leadrelay worker {printable(worker.id)} (store: {store_url})", flush=True)
        bind = args.metrics_bind or settings.metrics_bind
        listener = MetricsListener(metrics, bind) if bind else None
        if listener is not None:
            listener.start()
        try:
            await worker.run(stop)
        finally:
            if listener is not None:
                listener.stop()

    asyncio.run(run())
    store.close()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if not (args.all or args.destination or args.event):
        print("error: say what to replay: --all, --destination NAME and/or --event ID", file=sys.stderr)
        return 2
    from leadrelay.replay import replay_dead

    store = _existing_store(_settings_or_exit(args))
    if args.unattributed:
        count = store.replay(destination=args.destination, event_id=args.event, state="unattributed")
        print(f"re-queued {count} unattributed deliveries")
        return 0
    replayed = replay_dead(store, destination=args.destination, event_id=args.event, force=args.force)
    if replayed.held:
        _warn_remembered_by_dub(replayed.held)
    print(f"re-queued {replayed.count} dead-lettered deliveries")
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    if not (args.all or args.destination or args.event):
        print("error: say what to discard: --all, --destination NAME and/or --event ID", file=sys.stderr)
        return 2
    store = _existing_store(_settings_or_exit(args))
    count = store.discard(destination=args.destination, event_id=args.event)
    print(f"discarded {count} dead-lettered deliveries")
    return 0


def _warn_remembered_by_dub(held: dict[int, tuple[str, float]]) -> None:
    shown = sorted(held.values(), key=lambda item: item[1])
    print(
        f"warning: {len(held)} Dub dead letter(s) left dead: Dub answered 404 (no such click) less than 7 days ago,\n"
        "  and it had written the lead's customer id + event name first. Until it forgets them, a replay is\n"
        "  answered 200 with link: null and recorded as deduplicated, while Dub records nothing.\n"
        "  Replay them once Dub has forgotten (the same command then re-queues them), or now with --force\n"
        "  if their customer id or event name at Dub has changed since:",
        file=sys.stderr,
    )
    for event_id, until in shown[:20]:
        print(f"    {printable(event_id)}  replay after {_when(until)} UTC", file=sys.stderr)
    if len(shown) > 20:
        print(f"    ... and {len(shown) - 20} more, the last after {_when(shown[-1][1])} UTC", file=sys.stderr)


def cmd_deliveries(args: argparse.Namespace) -> int:
    from leadrelay.destinations.base import redact

    settings = _settings_or_exit(args)
    store = _existing_store(settings)
    secrets = configured_secrets(settings)  # stored by an older version, a vendor's echo may hold a key
    state = None if args.state == "all" else args.state
    rows = store.list_deliveries(state=state, destination=args.destination, event_id=args.event, limit=args.limit)
    if not rows:
        _say_empty(store, "deliveries" if state is None else f"{state} deliveries")
    for row in rows:
        row.last_error = redact(row.last_error, secrets)
        row.response = redact(row.response, secrets)
        row.request = redact(row.request, secrets)
        if args.json:
            print(json_line(row.__dict__))
            continue
        status = str(row.last_status) if row.last_status is not None else "-"
        print(
            f"{_when(row.updated_at)}  {printable(row.destination):8} {printable(row.state):9} attempts={row.attempts:<3} "
            f"status={status:4} {printable(row.event_id)}  {printable(row.last_error or '')}".rstrip()
        )
    return 0


def _store(settings: Settings) -> SqlStore:
    from leadrelay.store import store_of

    store = store_of(settings)
    store.setup()
    return store


def _existing_store(settings: Settings) -> SqlStore:
    """The service's store, for a command that reads or changes what it holds: never a new, empty one.

    The database is the one the settings name (--config or LEADRELAY_CONFIG, LEADRELAY_DATABASE_URL,
    else sqlite:///leadrelay.db, relative to the current folder). A SQLite file that does not exist
    is an error (exit 1) saying where it was looked for, and how to name the right one.
    """
    url = settings.database_url
    if urlsplit(url).scheme == "sqlite":
        path = Path(unquote(url[len("sqlite:///") :])).resolve()
        if not path.exists():
            print(
                f"error: there is no database at {printable(path)} ({printable(_safe_url(url))}"
                f"{', relative to this folder' if not url.startswith('sqlite:////') else ''}).\n"
                "  Name the service's: --config FILE (or LEADRELAY_CONFIG), or LEADRELAY_DATABASE_URL.",
                file=sys.stderr,
            )
            raise SystemExit(1)
    return _store(settings)


def _say_empty(store: SqlStore, what: str) -> None:
    """Nothing to list: say so, and in which store (the wrong one is the likely reason)."""
    print(f"no {what} in {printable(_store_name(store))}", file=sys.stderr)


def _store_name(store: SqlStore) -> str:
    path = getattr(store.backend, "path", None)
    return str(Path(path).resolve()) if path is not None else _safe_url(getattr(store.backend, "url", "the store"))


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _when(ts: float | None) -> str:
    """A time for a person: ISO 8601 in UTC, to the second."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help, but for those with none to show (a flag off, nothing given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or (action.help and "%(default)" in action.help):
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    try:
        return version("leadrelay")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadrelay", description="First-party lead tracking gateway.", formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"leadrelay {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    destinations = list(DESTINATIONS)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
        p.add_argument(
            "--config",
            metavar="FILE",
            default=os.environ.get("LEADRELAY_CONFIG") or None,
            help="a TOML configuration file (default: $LEADRELAY_CONFIG; the database is the one it names,"
            " else $LEADRELAY_DATABASE_URL, else leadrelay.db in this folder)",
        )
        return p

    p = command("serve", "run the service under uvicorn")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on")
    p.add_argument("--log-level", default="info", help="debug, info, warning or error")
    p.add_argument("--no-access-log", action="store_true", help="no line per request (when a proxy in front logs them)")
    p.add_argument(
        "--sandbox", action="store_true", help="deliver to built-in strict fake vendors, never the internet (sandbox = true)"
    )
    p.add_argument("--site", metavar="DIR", help="in sandbox mode: serve this folder's files at / (the site under test)")
    p.set_defaults(func=cmd_serve)

    p = command("check", "validate the configuration, try the database, and summarise it")
    p.add_argument(
        "--recount",
        action="store_true",
        help="also count every delivery again and correct the counts /healthz shows (after running an older version)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("new-secret-key", help="print a random key for secret_key", formatter_class=_Formatter)
    p.set_defaults(func=cmd_new_secret_key)

    p = command("events", "list the newest stored events, one a line (ISO times, UTC)")
    p.add_argument("--limit", type=int, default=20, help="at most this many")
    p.add_argument("--json", action="store_true", help="one JSON object a line: every field of the event")
    p.add_argument("--raw", action="store_true", help="with --json, include the payload as received")
    p.add_argument("--held-back", action="store_true", help="only events whose click id was held back (not seen at /c)")
    p.add_argument("--marked", action="store_true", help="only events with a mark (a click held back, a clock far off)")
    p.add_argument("--kind", choices=KINDS, help="only leads, or only sales")
    p.add_argument("--count", action="store_true", help="count the events, of each kind and with each mark, instead")
    p.set_defaults(func=cmd_events)

    p = command("worker", "run a delivery worker alone (serve runs one too unless worker = false)")
    p.add_argument("--log-level", default="info", help="debug, info, warning or error")
    p.add_argument(
        "--metrics-bind", metavar="HOST:PORT", help="serve this worker's metrics there (default: the metrics_bind setting)"
    )
    p.set_defaults(func=cmd_worker)

    p = command("replay", "re-queue dead-lettered deliveries")
    p.add_argument("--all", action="store_true", help="every dead-lettered delivery")
    p.add_argument(
        "--unattributed", action="store_true", help="re-queue unattributed sales instead (Dub answered sale: null), e.g. once their lead is at Dub"
    )
    p.add_argument("--destination", metavar="NAME", choices=destinations, help=f"only this destination's ({', '.join(destinations)})")
    p.add_argument("--event", metavar="ID", help="only this event's")
    p.add_argument(
        "--force",
        action="store_true",
        help="also Dub's 404 (no such click) dead letters younger than 7 days, which Dub would deduplicate",
    )
    p.set_defaults(func=cmd_replay)

    p = command("discard", "delete dead-lettered deliveries you gave up on (their events then go with retention)")
    p.add_argument("--all", action="store_true", help="every dead-lettered delivery")
    p.add_argument("--destination", metavar="NAME", choices=destinations, help=f"only this destination's ({', '.join(destinations)})")
    p.add_argument("--event", metavar="ID", help="only this event's")
    p.set_defaults(func=cmd_discard)

    p = command("deliveries", "list deliveries (dead letters by default) with their reasons")
    p.add_argument("--state", default="dead", choices=["dead", "pending", "delivered", "deduplicated", "unattributed", "all"], help="which")
    p.add_argument("--destination", metavar="NAME", choices=destinations, help=f"only this destination's ({', '.join(destinations)})")
    p.add_argument("--event", metavar="ID", help="only this event's")
    p.add_argument("--limit", type=int, default=100, help="at most this many")
    p.add_argument(
        "--json", action="store_true", help="one JSON object a line, with the body sent (`request`) and the vendor's answer"
    )
    p.set_defaults(func=cmd_deliveries)

    p = command("rejections", "list the newest rejected events, why, and the raw body kept")
    p.add_argument("--limit", type=int, default=20, help="at most this many")
    p.add_argument("--json", action="store_true", help="one JSON object a line, the whole raw body included")
    p.set_defaults(func=cmd_rejections)

    p = command("erase", "remove every stored row about one person, and say what was removed")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="ADDRESS", help="the events naming this address (any case)")
    who.add_argument("--customer-id", metavar="ID", help="the events with this customer id")
    who.add_argument("--visitor", metavar="ID", help="this visitor id's events and clicks")
    p.add_argument("--json", action="store_true", help="the counts as one JSON object")
    p.set_defaults(func=cmd_erase)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
