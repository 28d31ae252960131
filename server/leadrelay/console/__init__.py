"""The operator's console: a few server-rendered pages under `admin_path`, behind the admin token.

    auth.py    the admin token, the signed session cookie, cross-site checks
    pages.py   the HTML frame, escaping, the CSP
    chart.py   leads over time as SVG
    stream.py  the live feed (Server-Sent Events)
    routes.py  the pages and actions themselves
"""

from leadrelay.console.routes import Console

__all__ = ["Console"]
