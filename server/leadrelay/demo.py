"""The demo page shown at / on the embedded defaults: a lead form wired through the snippet."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse, Response

from leadrelay.config import Settings
from leadrelay.vendors import destination_states

# The README's one-line stub: calls made before the snippet arrives are queued, then replayed in order.
STUB = (
    '<script>!function(w,l){l=w.leadrelay=w.leadrelay||{q:[]};"track push consent flush".split(" ").map(function(m)'
    '{l[m]=l[m]||function(a,b){var c=[m,a,b];return m=="track"||m=="flush"?new Promise(function(s,j){'
    'l.q.push(c.concat(s,j));m=="flush"&&setTimeout(s,a||1e4)}):void l.q.push(c)}});w.croct=w.croct||l;'
    'w.reshape=w.reshape||l}(window)</script>'
)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>leadrelay demo</title>
{stub}
<script async src="{script_url}"></script>
<link rel="icon" href="data:,">
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin:.6rem 0}} input{{font:inherit;padding:.3rem;width:100%;box-sizing:border-box}}
button{{font:inherit;padding:.4rem 1rem;margin-top:.8rem}} pre{{background:#f4f4f4;padding:1rem;overflow:auto}}
.note{{color:#666;font-size:.9rem}}
</style>
</head>
<body>
<h1>leadrelay demo</h1>
<p>This form calls <code>croct.track('leadGenerated', …)</code>. The snippet sends the event to
<code>{collect_url}</code>; leadrelay validates it, stores it, and forwards it to the vendors you configured
({destinations}).</p>
<p class="note">Arrived from a short link? Try <a href="/?dub_id=demo_click_1">/?dub_id=demo_click_1</a>.
{dev_warning}</p>
<form id="lead">
<label>First name <input name="firstName" value="Carol" required></label>
<label>Last name <input name="lastName" value="Doe"></label>
<label>Email <input name="email" type="email" value="carol@example.com" required></label>
<label>Company <input name="company" value="Croct"></label>
<button type="submit">Sign up</button>
</form>
<h2>Result</h2>
<pre id="result">Submit the form.</pre>
<script src="/demo.js" defer></script>
</body>
</html>
"""

_SCRIPT = """document.getElementById('lead').addEventListener('submit', function (e) {
  e.preventDefault();
  var form = new FormData(e.target), lead = {}, out = document.getElementById('result');
  form.forEach(function (v, k) { if (v) lead[k] = String(v); });
  out.textContent = 'Sending…';
  croct.track('leadGenerated', { leadId: 'demo-' + Date.now(), currency: 'USD', value: 100, lead: lead })
    .then(function (ev) { out.dataset.state = 'accepted'; out.textContent = 'Accepted:\\n' + JSON.stringify(ev, null, 2); })
    .catch(function (err) { out.dataset.state = 'rejected'; out.textContent = 'Rejected: ' + (err && err.message || err); });
});
"""


def demo_page(script_url: str, settings: Settings, collect_url: str | None = None) -> HTMLResponse:
    on = [name for name, why in destination_states(settings).items() if why == "on"]
    warning = "The server is using its development secret key." if settings.uses_dev_secret else ""
    body = _PAGE.format(
        stub=STUB,
        script_url=html.escape(script_url),
        collect_url=html.escape(collect_url or settings.path_prefix + "/e"),
        destinations=html.escape(", ".join(on) or "none yet: events are stored only"),
        dev_warning=html.escape(warning),
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


def demo_script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript; charset=utf-8")

