"""Who the visitor is and which clicks brought them: server-set first-party cookies.

Click ids (`dub_id`, `pimms_id`) get the same attributes as the vendors' own
scripts (90 days, path=/, SameSite=Lax, domain without `www.`), plus Secure over
HTTPS, but are set with Set-Cookie so Safari does not cap them at 7 days. The
visitor id is a random id signed with the secret key; a cookie whose signature
does not verify is ignored and replaced.

The visitor's address and scheme are the ASGI scope's `client` and `scheme`, never
X-Forwarded-* read here: with `trust_proxy_headers`, uvicorn's ProxyHeadersMiddleware
(leadrelay.app.request_middleware) has set them from a proxy in `forwarded_allow_ips`,
and left them alone for any other peer. One reading decides the cookies' Secure, the
origin a request is checked against, the rate limits' address and the IP sent to vendors:
a forged header from an untrusted peer changes none of them.
"""

from __future__ import annotations

import base64
import functools
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass

from itsdangerous import Signer

from leadrelay.caller import Caller
from leadrelay.config import Settings
from leadrelay.trust.hosts import host_name
from leadrelay.vendors import CLICK_IDS

VISITOR_COOKIE = "lr_vid"
CLICK_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,190}")
"""A click id: what Dub's and PIMMS's short links append (matched whole, with fullmatch)."""
CLICK_MAX_AGE = 90 * 24 * 3600
VISITOR_MAX_AGE = 365 * 24 * 3600

Header = tuple[bytes, bytes]


@dataclass(slots=True)
class Visitor:
    id: str
    fresh: bool  # True when the request carried no valid visitor cookie


class Identity:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The cookie is itsdangerous's Signer format (the id, ".", base64url HMAC-SHA1 under its
        # derived key). The keyed HMAC state is computed once and copied per signature: one C call
        # instead of hmac.digest's digest lookup by name, or Signer.sign's pure-Python HMAC
        # (2.1 µs a signature, against 4.5 µs and 4.9 µs).
        self._hmac = hmac.new(Signer(settings.signing_key, salt="leadrelay.visitor").derive_key(), digestmod="sha1")

    # -- visitor ---------------------------------------------------------------

    def visitor(self, caller: Caller) -> Visitor:
        known = self.known_visitor(caller)
        return Visitor(id=known, fresh=False) if known else Visitor(id=secrets.token_hex(16), fresh=True)

    def known_visitor(self, caller: Caller) -> str | None:
        """The visitor id of a validly signed visitor cookie, or None."""
        cookie = caller.cookie(VISITOR_COOKIE)
        if cookie:
            value, _, signature = cookie.rpartition(".")
            if value and hmac.compare_digest(signature.encode(), self._signature(value)):
                return value
        return None

    def _signature(self, value: str) -> bytes:
        mac = self._hmac.copy()
        mac.update(value.encode())
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")

    def visitor_cookie(self, caller: Caller, visitor: Visitor) -> Header | None:
        """The Set-Cookie header that remembers a fresh visitor (None for a known one)."""
        if not visitor.fresh:
            return None
        value = f"{visitor.id}.{self._signature(visitor.id).decode()}"
        return self._set_cookie(caller, VISITOR_COOKIE, value, VISITOR_MAX_AGE, httponly=True)

    # -- click ids -------------------------------------------------------------

    def click_ids(self, caller: Caller) -> dict[str, str]:
        """The click ids of the visitor's click-id cookies, by vendor."""
        if caller.header(b"cookie") is None:  # the first beacon of a visit, and every server's
            return {}
        found = {}
        for vendor, name in CLICK_IDS.items():
            value = caller.cookie(name)
            if value and CLICK_ID_PATTERN.fullmatch(value):
                found[vendor] = value
        return found

    def click_cookies(self, caller: Caller, given: dict[str, str]) -> list[Header]:
        """A Set-Cookie header per given click id (by vendor); under first-click attribution an existing one is kept."""
        headers = []
        for vendor, value in given.items():
            name = CLICK_IDS[vendor]
            if self.settings.attribution == "first-click" and caller.cookie(name):
                continue
            headers.append(self._set_cookie(caller, name, value, CLICK_MAX_AGE, httponly=False))
        return headers

    def _set_cookie(self, caller: Caller, name: str, value: str, max_age: int, httponly: bool) -> Header:
        """One Set-Cookie header: path=/, SameSite=Lax, Secure over HTTPS.

        Written by hand rather than through http.cookies (a third of a beacon's cost):
        names are constants and values are click ids or signed hex ids, never in need of quoting.
        """
        header = f"{name}={value}; Max-Age={max_age}; Path=/; SameSite=Lax"
        domain = self.cookie_domain(caller)
        if domain:
            header += f"; Domain={domain}"
        if self.is_https(caller):
            header += "; Secure"
        if httponly:
            header += "; HttpOnly"
        return (b"set-cookie", header.encode("latin-1"))

    # -- request facts ---------------------------------------------------------

    def cookie_domain(self, caller: Caller) -> str | None:
        """`.example.com` for www.example.com; none on localhost and IP addresses."""
        if self.settings.cookie_domain:
            return self.settings.cookie_domain
        return _domain_for(caller.header(b"host") or "")

    def is_https(self, caller: Caller) -> bool:
        """Whether the visitor reached us over HTTPS: the request's scheme (a trusted proxy's, see the module's doc)."""
        return caller.scheme == "https"

    def client_ip(self, caller: Caller) -> str | None:
        """The visitor's IP address (a trusted proxy's X-Forwarded-For, see the module's doc), or None when
        what the request says is not one (vendors refuse it)."""
        ip = caller.host
        return ip if ip is None or _is_ip(ip) else None


@functools.lru_cache(maxsize=256)
def _domain_for(host_header: str) -> str | None:
    host = host_name(host_header)  # only ever a host name: never what else a Host header may hold
    if host is None or host == "localhost" or host.endswith(".localhost") or "." not in host or _is_ip(host):
        return None
    return "." + host.removeprefix("www.")


@functools.lru_cache(maxsize=1024)  # the same few addresses (a visitor's, a proxy's) come again and again
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
