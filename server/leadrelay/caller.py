"""Who sent a request: its headers, cookies, address and scheme, read once from the ASGI scope.

The collect endpoint is the hot path and asks several questions of every request
(origin, content type, cookies, user agent, host, client address); a `Caller`
answers each from one dict built in a single pass over the raw headers, where
Starlette's `Headers` would decode and scan the header list again per question.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import cookie_parser


class Caller:
    __slots__ = ("headers", "host", "scheme", "_cookies")

    def __init__(self, scope: Any) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # names are lower-case in ASGI
            key = name.decode("latin-1")
            if key not in headers:  # the first of repeated headers counts, as with Starlette's Headers.get
                headers[key] = value.decode("latin-1")
        self.headers = headers
        client = scope.get("client")
        self.host: str | None = client[0] if client else None
        self.scheme: str = scope.get("scheme", "http")
        self._cookies: dict[str, str] | None = None

    def cookie(self, name: str) -> str | None:
        if self._cookies is None:
            header = self.headers.get("cookie")
            self._cookies = cookie_parser(header) if header else {}
        return self._cookies.get(name)

    @property
    def origin(self) -> str:
        """The origin this request was addressed to: scheme and Host header."""
        return f"{self.scheme}://{self.headers.get('host', '')}"
