"""The Host header: the host name a request names, and whether the service answers for it.

A Host header is a host name or an IP address, with an optional port (RFC 9110 §7.2).
Anything else (`www.a.com; Domain=evil.com`, a space, an empty label) is refused with
400 before any route sees it, so that nothing built from it (the cookie domain, the
service's own origin) can carry what a client wrote. The `allowed_hosts` setting
narrows the names answered for, with the patterns of Starlette's TrustedHostMiddleware:
`*` any, `example.com` that name, `*.example.com` its subdomains.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from leadrelay.errors import Answer, BadRequest, own_shape

ANY = "*"
LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"{LABEL}(?:\.{LABEL})*\.?")
"""A DNS name (or a dotted IPv4 address), lower-case: letters, digits, '_' and '-' in labels of 1-63."""
PORT = re.compile(r"[0-9]{1,5}")
MAX_NAME = 253


def host_name(header: str | None) -> str | None:
    """The lower-case host of a Host header without its port ('[::1]:80' -> '::1'), or None when it is not one."""
    if not header or len(header) > MAX_NAME + 8:
        return None
    host = header.lower()
    if host.startswith("["):  # an IPv6 literal
        end = host.find("]")
        literal, rest = host[1:end], host[end + 1 :]
        if end < 0 or not _is_ipv6(literal):
            return None
        host = literal
    else:
        host, colon, rest = host.partition(":")
        rest = colon + rest
        if len(host) > MAX_NAME or not HOST_NAME.fullmatch(host):
            return None
    if rest and not (rest.startswith(":") and PORT.fullmatch(rest[1:])):
        return None
    return host


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def host_pattern(entry: str) -> str:
    """An `allowed_hosts` entry, lower-cased; raises ValueError when it is not `*`, a host name or `*.` and one."""
    pattern = entry.strip().lower()
    if pattern == ANY:
        return pattern
    if pattern.startswith("[") and pattern.endswith("]"):
        pattern = pattern[1:-1]  # '[::1]' is matched as '::1', as host_name gives it
    if _is_ipv6(pattern):
        return pattern
    name = pattern.removeprefix("*.")
    if len(name) <= MAX_NAME and HOST_NAME.fullmatch(name):
        return pattern
    raise ValueError(f"{entry!r} is not a host name (without a port), '*.' and a host name, or '*'")


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Whether `host` (from host_name) matches one of the patterns (from host_pattern)."""
    for pattern in patterns:
        if pattern == ANY or host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


class HostCheck:
    """Refuses (400) a request whose Host header is not a host name, or names a host not in `allowed_hosts`.

    It wraps every route, beacons included (app.request_middleware), so it is cheap: one scan
    of the raw headers, and a cached verdict per Host value.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str], answer: Answer = own_shape) -> None:
        self.app = app
        self.answer = answer
        self.allowed_hosts = tuple(allowed_hosts)
        self.allow_any = ANY in self.allowed_hosts
        self._verdict = functools.lru_cache(maxsize=1024)(self._judge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                if host is not None:
                    problem: str | None = "the request has more than one Host header"
                    break
                host = value
        else:
            problem = self._verdict(host)
        if problem is None:
            await self.app(scope, receive, send)
            return
        await self.answer(scope, BadRequest(problem, code="invalid_host"))(scope, receive, send)

    def _judge(self, header: bytes | None) -> str | None:
        """Why a request with this Host header is refused, or None when it is served."""
        if header is None:
            return None if self.allow_any else "the request has no Host header"
        text = header.decode("latin-1")
        host = host_name(text)
        if host is None:
            return f"the Host header {text!r} is not a host name with an optional port"
        if not self.allow_any and not host_allowed(host, self.allowed_hosts):
            return f"host {host} is not served here: add it to allowed_hosts"
        return None
