"""The console's HTML, rendered on the server: every value from the store goes through `text` (html.escape).

No inline script and no inline style: the page's one script and stylesheet are files of the console
(console.js, console.css), which the CSP allows by 'self' and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable
from urllib.parse import quote

from starlette.responses import HTMLResponse

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def text(value: object) -> str:
    """Any value as HTML text: escaped, quotes included (safe in attributes too)."""
    return escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    """JSON for a <pre>: indented, escaped."""
    return text(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@dataclass
class Page:
    """What every console page shares: where the console lives, and the session's CSRF token for its forms."""

    base: str
    csrf: str | None = None
    nav: bool = True
    extra_head: list[str] = field(default_factory=list)

    def url(self, path: str = "", **query: str) -> str:
        q = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items() if v is not None)
        return text(f"{self.base}{path}" + (f"?{q}" if q else ""))

    def form(self, path: str, button: str, fields: dict[str, str] | None = None, cls: str = "", confirm: str = "") -> str:
        """A POST form of hidden fields and one button, with the CSRF token."""
        hidden = "".join(f'<input type="hidden" name="{text(k)}" value="{text(v)}">' for k, v in (fields or {}).items())
        data = f' data-confirm="{text(confirm)}"' if confirm else ""
        return (
            f'<form method="post" action="{self.url(path)}" class="inline {text(cls)}"{data}>'
            f'<input type="hidden" name="csrf" value="{text(self.csrf or "")}">{hidden}'
            f'<button type="submit">{text(button)}</button></form>'
        )

    def render(self, title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
        nav = ""
        if self.nav:
            links = [("", "Overview"), ("/live", "Live events"), ("/rejections", "Rejections")]
            items = "".join(f'<a href="{self.url(path)}">{text(label)}</a>' for path, label in links)
            search = (
                f'<form method="get" action="{self.url("/search")}" class="search">'
                '<input type="search" name="q" placeholder="event id, customer id, email or click id" maxlength="200">'
                "<button type=\"submit\">Search</button></form>"
            )
            logout = self.form("/logout", "Log out", cls="logout") if self.csrf else ""
            nav = f"<nav>{items}{search}{logout}</nav>"
        html = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{text(title)} · leadrelay</title>"
            f'<link rel="stylesheet" href="{self.url("/console.css")}">'
            f'<script src="{self.url("/console.js")}" defer></script>{"".join(self.extra_head)}</head>'
            f'<body data-base="{text(self.base)}"><header><strong>leadrelay</strong> console</header>{nav}'
            f"<main><h1>{text(title)}</h1>{body}</main></body></html>"
        )
        return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def table(head: Iterable[str], rows: Iterable[Iterable[str]], empty: str = "none") -> str:
    """A table of cells already rendered as HTML (escape each value with `text`)."""
    head_html = "".join(f"<th>{text(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{text(empty)}</p>'
    return f"<table><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table>"


def badge(state: str) -> str:
    return f'<span class="state state-{text(state)}">{text(state)}</span>'
