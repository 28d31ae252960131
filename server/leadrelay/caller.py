"""Who sent a request: its headers, cookies, address and scheme, read once from the ASGI scope.

The collect endpoint is the hot path and asks several questions of every request
(origin, content type, cookies, user agent, host, client address); a `Caller`
answers each from one dict of the raw headers, built in one C call and decoded only
where asked, where Starlette's `Headers` would scan the header list again per question.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import Scope


class Caller:
    __slots__ = ("_headers", "host", "scheme", "_cookies")

    def __init__(self, scope: Scope) -> None:
        # Names are lower-case in ASGI. Reversed, so that the first of repeated headers counts,
        # as with Starlette's Headers.get.
        self._headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))
        client = scope.get("client")
        self.host: str | None = client[0] if client else None
        self.scheme: str = scope.get("scheme", "http")
        self._cookies: dict[str, str] | None = None

    def header(self, name: bytes) -> str | None:
        """The value of header `name` (lower-case), or None."""
        value = self._headers.get(name)
        return None if value is None else value.decode("latin-1")

    def cookie(self, name: str) -> str | None:
        if self._cookies is None:
            header = self.header(b"cookie")
            self._cookies = cookie_parser(header) if header else {}
        return self._cookies.get(name)

    @property
    def origin(self) -> str:
        """The origin this request was addressed to: scheme and Host header."""
        return f"{self.scheme}://{self.header(b'host') or ''}"


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root path an ASGI server may mount the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
