"""/healthz (what state the service is in) and /readyz (whether a load balancer should send it traffic).

Both read only the kept delivery counts and a few index look-ups (leadrelay.store.tallies): their cost
does not grow with the number of deliveries stored.
"""

from __future__ import annotations

import time
from typing import Any

from leadrelay.config import Settings
from leadrelay.store import SqlStore
from leadrelay.vendors import destination_states

REFUSED = (401, 403)


def health(settings: Settings, store: SqlStore, now: float | None = None) -> dict[str, Any]:
    """Per destination: on or why off, its deliveries by state, whether the vendor takes its credentials,
    and how long its oldest waiting delivery has waited. Raises what the store raises."""
    now = time.time() if now is None else now
    seen = store.overview()
    counts, known, backlog = seen.counts, seen.health, seen.backlog
    destinations: dict[str, dict[str, Any]] = {}
    for name, why in destination_states(settings).items():
        entry: dict[str, Any] = {"state": why, "deliveries": counts.get(name, {})}
        if why == "on":
            last = known.get(name)
            entry["healthy"] = last["healthy"] if last else True
            if last and not last["healthy"]:
                entry["problem"] = last["error"]  # the vendor refused the credentials (401/403)
            entry["oldest_waiting_s"] = round(backlog.age(name, now), 3)
        destinations[name] = entry
    degraded = any(entry.get("healthy") is False for entry in destinations.values())
    return {"status": "degraded" if degraded else "ok", "destinations": destinations}


def readiness(settings: Settings, store: SqlStore, now: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether to send this instance traffic, and each check's verdict:

    - store: the store answers;
    - credentials: no destination's vendor refused its credentials (401/403) last time;
    - backlog: the most overdue delivery has been due for at most `ready_max_overdue_s`
      (the workers keep up; a vendor that is down only delays retries, which are not due yet).
    """
    now = time.time() if now is None else now
    checks: dict[str, dict[str, Any]] = {}
    try:
        seen = store.overview()
    except Exception as exc:
        if not store.is_failure(exc):
            raise
        checks["store"] = {"ok": False, "error": "the store cannot be read"}
        return False, _verdict(checks)
    checks["store"] = {"ok": True}
    known, backlog = seen.health, seen.backlog
    states = destination_states(settings)
    refused = {
        name: entry["error"]
        for name, entry in sorted(known.items())
        if not entry["healthy"] and entry["status"] in REFUSED and states.get(name) == "on"
    }
    checks["credentials"] = {"ok": not refused, **({"refused": refused} if refused else {})}
    overdue = backlog.overdue(now)
    limit = settings.ready_max_overdue_s
    checks["backlog"] = {"ok": overdue <= limit, "overdue_s": round(overdue, 3), "max_overdue_s": limit}
    verdict = _verdict(checks)
    return verdict["ready"], verdict


def _verdict(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    failed = [name for name, check in checks.items() if not check["ok"]]
    return {"ready": not failed, "failed": failed, "checks": checks}
