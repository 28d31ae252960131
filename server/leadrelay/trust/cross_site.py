"""Whether a request was sent by another site: its fetch metadata, else its Origin or Referer.

`/lr/c` sets click-id cookies; a page on another site that navigates a visitor there
(or embeds it) would set the visitor's `dub_id` to its own click ("cookie stuffing").
Browsers say where a request comes from in `Sec-Fetch-Site`; older ones (and some
privacy settings) send no fetch metadata, and then the `Origin` or `Referer`
header, when there is one, must name this service's own host or an allowed origin.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from leadrelay.caller import Caller


def cross_site(caller: Caller, allowed_origins: list[str]) -> str | None:
    """What shows that the request came from another site, or None when nothing does."""
    site = caller.header(b"sec-fetch-site")
    if site is not None:
        return "Sec-Fetch-Site: cross-site" if site.strip().lower() == "cross-site" else None
    origin = caller.header(b"origin")
    if origin is not None:
        return None if _ours(caller, origin, allowed_origins) else f"Origin: {origin}"
    referer = caller.header(b"referer")
    if referer is not None:
        referring = _origin_of(referer)
        if referring is None or not _ours(caller, referring, allowed_origins):
            return f"a Referer from {referring or 'nowhere'}"
    return None


def _ours(caller: Caller, origin: str, allowed_origins: list[str]) -> bool:
    """An origin on this service's own host (whichever scheme a proxy in front says) or in allowed_origins."""
    if "*" in allowed_origins or origin.rstrip("/") in allowed_origins:
        return True
    host = caller.header(b"host")
    parts = _split(origin)
    return bool(host) and parts is not None and parts.netloc.lower() == host.lower()


def _origin_of(url: str) -> str | None:
    parts = _split(url)
    return f"{parts.scheme}://{parts.netloc}" if parts is not None else None


def _split(url: str) -> SplitResult | None:
    """An http(s) URL's parts, or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.netloc else None
