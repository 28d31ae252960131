"""The demo page shown at / (setting `demo`): a lead form wired through the snippet, and the lead's whole path.

The page (static/demo.html) and its script (static/demo.js) show the click id captured, the
event's id and status, each destination's delivery or the reason it skipped the event
(leadrelay.event_status), and in sandbox mode what each fake vendor received
(leadrelay.sandbox's API). The page's Content-Security-Policy allows no script but the stub,
the snippet and demo.js: whatever a stored string holds, it is never run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import re
from string import Template

from starlette.responses import HTMLResponse, Response

from leadrelay.config import Settings
from leadrelay.snippet import static_dir
from leadrelay.vendors import destination_states

# The README's one-line stub: calls made before the snippet arrives are queued, then replayed in order.
STUB = (
    '<script>!function(w,l){l=w.leadrelay=w.leadrelay||{q:[]};"track push consent flush".split(" ").map(function(m)'
    '{l[m]=l[m]||function(a,b){var c=[m,a,b];return m=="track"||m=="flush"?new Promise(function(s,j){'
    'l.q.push(c.concat(s,j));m=="flush"&&setTimeout(s,a||1e4)}):void l.q.push(c)}});w.croct=w.croct||l;'
    'w.reshape=w.reshape||l}(window)</script>'
)

SANDBOX_LABEL = "Sandbox mode · nothing leaves this machine"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def _assets() -> tuple[Template, bytes, str]:
    """The page's template, its script, and its Content-Security-Policy (the inline stub and style by hash)."""
    page = (static_dir() / "demo.html").read_text()
    script = (static_dir() / "demo.js").read_bytes()
    stub = re.fullmatch(r"<script>(.*)</script>", STUB, re.S).group(1)  # type: ignore[union-attr]
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)  # type: ignore[union-attr]
    csp = (
        f"default-src 'none'; script-src 'self' {_sha256(stub)}; style-src {_sha256(style)}; "
        "connect-src 'self'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return Template(page), script, csp


def demo_page(script_url: str, settings: Settings, *, sandbox: bool = False, collect_url: str | None = None) -> HTMLResponse:
    template, _, csp = _assets()
    prefix = settings.path_prefix
    states = destination_states(settings)
    on = [name for name, state in states.items() if state == "on"]
    if sandbox:
        mode = f'<div class="mode sandbox" id="mode">{html.escape(SANDBOX_LABEL)}</div>'
        where = "Every destination is a strict fake inside this process: Dub, PIMMS, DATA Reshape and a webhook."
    else:
        mode = '<div class="mode live" id="mode">Live · events go to the vendors configured</div>'
        where = f"Destinations on: {', '.join(on) or 'none yet: events are stored only'}."
    warning = "The server is using its development secret key." if settings.uses_dev_secret else ""
    body = template.substitute(
        stub=STUB,
        script_url=html.escape(script_url),
        collect_url=html.escape(collect_url or prefix + "/e"),
        status_url=html.escape(prefix + "/_demo/events/"),
        sandbox_url=html.escape(prefix + "/_sandbox") if sandbox else "",
        mode=mode,
        destinations=html.escape(where),
        dev_warning=html.escape(warning),
    )
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": csp, "Referrer-Policy": "same-origin"}
    return HTMLResponse(body, headers=headers)


def demo_script() -> Response:
    _, script, _ = _assets()
    return Response(script, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})
