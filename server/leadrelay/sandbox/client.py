"""A client of the `_sandbox` API (README "The sandbox API"): what the pytest plugin's `leadrelay` fixture is.

    sandbox = SandboxClient("http://127.0.0.1:8000")
    sandbox.fault("dub", 503, 503)                      # Dub answers 503 twice, then as usual
    sandbox.fault("dub", error(429, retry_after=2), timeout(), drop())
    request = sandbox.wait_for("dub", clickId="clk_1")  # the request Dub accepted, or AssertionError
    assert request["body"]["customerEmail"] == "carol@example.com"
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from leadrelay.demo import STUB

Fault = dict[str, Any]
"""A fault as the API takes it: {"kind": "error", "status": 503}, {"kind": "timeout"}, ..."""

WAIT_S = 15.0
LONG_POLL_S = 30.0  # the API's longest wait


def error(status: int, retry_after: float | str | None = None) -> Fault:
    fault: Fault = {"kind": "error", "status": status}
    if retry_after is not None:
        fault["retry_after"] = retry_after
    return fault


def slow(seconds: float) -> Fault:
    return {"kind": "slow", "seconds": seconds}


def timeout() -> Fault:
    return {"kind": "timeout"}


def drop() -> Fault:
    return {"kind": "drop"}


class SandboxError(AssertionError):
    """The sandbox refused a call (a bad fault, an unknown vendor): its message says why."""


class SandboxClient:
    """The sandbox at `url` (leadrelay's base URL, `path_prefix` under it)."""

    def __init__(self, url: str, path_prefix: str = "/lr") -> None:
        self.url = url.rstrip("/")
        self.path_prefix = path_prefix
        self._http = httpx.Client(base_url=f"{self.url}{path_prefix}/_sandbox", timeout=LONG_POLL_S + 10)

    @property
    def script_tag(self) -> str:
        """The README's paste-in for this sandbox: the stub and the async script tag."""
        return f'{STUB}\n<script async src="{self.url}{self.path_prefix}/s.js"></script>'

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise SandboxError(f"the sandbox answered {response.status_code} to {method} {path}: {message}")
        return response.json()

    def received(self, vendor: str, limit: int = 1000) -> list[dict[str, Any]]:
        """What `vendor` received since the last reset, oldest first: each request's body, status, problem, fault ..."""
        return list(self._call("GET", f"/received/{vendor}", params={"limit": limit})["requests"])

    def accepted(self, vendor: str) -> list[Any]:
        """The bodies `vendor` accepted."""
        return [request["body"] for request in self.received(vendor) if request["accepted"]]

    def events(self, limit: int = 1000, raw: bool = False) -> list[dict[str, Any]]:
        """Events stored since the last reset, newest first."""
        return list(self._call("GET", "/events", params={"limit": limit, "raw": int(raw)})["events"])

    def rejections(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Rejected events since the last reset, newest first, with their errors."""
        return list(self._call("GET", "/rejections", params={"limit": limit})["rejections"])

    def fault(self, vendor: str, *faults: int | Fault, outage: int | Fault | None | bool = False) -> None:
        """Script `vendor`'s next answers: an int is that error status, else a fault (error(), slow(), timeout(),
        drop()); `outage` (a fault, or None to end one) applies to every request after the script."""
        body: dict[str, Any] = {"vendor": vendor, "script": [_fault(f) for f in faults]}
        if outage is not False:
            body["outage"] = None if outage is None else _fault(outage)  # type: ignore[arg-type]
        self._call("POST", "/faults", json=body)

    def reset(self, settle_s: float = 10.0) -> None:
        """Faults end, deliveries still pending get up to `settle_s` to go through, then every vendor forgets what
        it received; events and rejections from before are no longer listed."""
        self._call("POST", "/reset", json={"settle_s": settle_s})

    def wait_for(self, vendor: str, timeout_s: float = WAIT_S, accepted: bool = True, **match: Any) -> dict[str, Any]:
        """The first request `vendor` received (and accepted, unless `accepted` is false) whose body holds `match`;
        AssertionError after `timeout_s`, naming what it refused and everything it received."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = max(0.0, min(LONG_POLL_S, deadline - time.monotonic()))
            body = {"vendor": vendor, "match": match, "timeout_s": left, "accepted": accepted}
            found = self._call("POST", "/wait", json=body)
            if found["found"]:
                return dict(found["request"])
            if time.monotonic() >= deadline:
                raise AssertionError(_not_found(vendor, match, found["refused"], self.received(vendor)))


def _fault(fault: int | Fault) -> Fault:
    return error(fault) if isinstance(fault, int) else fault


def _not_found(vendor: str, match: dict[str, Any], refused: list[dict[str, Any]], received: list[dict[str, Any]]) -> str:
    lines = [f"{vendor} received no request matching {match!r} that it accepted"]
    for request in refused:
        lines.append(f"  refused ({request['status']}): {request['problem'] or request['fault']}: {request['body']!r}")
    lines.append(f"  it received {len(received)} request(s) in all:")
    for request in received[-10:]:
        lines.append(f"    {request['status']} {request['body']!r}"[:500])
    return "\n".join(lines)
