"""Who may use the console: the admin token logs an operator in; a signed session cookie keeps them in.

- The token is compared in constant time (as SHA-256 digests, so its length does not show either),
  login attempts are counted per client IP with the service's rate limiter (`admin_login_rate`),
  and the token is never echoed, logged or stored: the session holds a random id and an HMAC
  of the token, so a new token ends every session.
- The session is itsdangerous's signed, timestamped form, in an HttpOnly, SameSite=Strict cookie
  scoped to `admin_path`, Secure over HTTPS (leadrelay.identity decides what HTTPS is), that
  expires after `admin_session_hours` (checked from the signature's timestamp, not the cookie's).
- A state change (a POST) must come from the console's own origin: Sec-Fetch-Site must say
  same-origin, or, from a browser without fetch metadata, Origin must name this origin; and it must
  carry the session's CSRF token, an HMAC of the session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from leadrelay.caller import Caller
from leadrelay.config import Settings
from leadrelay.errors import Forbidden, Unauthorized
from leadrelay.identity import Identity

SESSION_COOKIE = "lr_admin"


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str


class Sessions:
    def __init__(self, settings: Settings, identity: Identity) -> None:
        assert settings.admin_token is not None
        self.settings = settings
        self.identity = identity
        key = settings.signing_key
        self._serializer = URLSafeTimedSerializer(key, salt="leadrelay.console")
        self._max_age = int(settings.admin_session_hours * 3600)
        token = settings.admin_token.get_secret_value().encode()
        self._token_digest = hashlib.sha256(token).digest()
        self._token_mark = hmac.new(key.encode(), b"console-token:" + token, "sha256").hexdigest()[:32]
        self._csrf_key = hmac.new(key.encode(), b"console-csrf", "sha256").digest()

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(), self._token_digest)

    def new_cookie(self, caller: Caller) -> tuple[bytes, bytes]:
        """The Set-Cookie header of a new session."""
        value = self._serializer.dumps({"sid": secrets.token_urlsafe(18), "tok": self._token_mark})
        return self._cookie(caller, value, self._max_age)

    def end_cookie(self, caller: Caller) -> tuple[bytes, bytes]:
        return self._cookie(caller, "", 0)

    def _cookie(self, caller: Caller, value: str, max_age: int) -> tuple[bytes, bytes]:
        header = f"{SESSION_COOKIE}={value}; Max-Age={max_age}; Path={self.settings.admin_path}; HttpOnly; SameSite=Strict"
        if self.identity.is_https(caller):
            header += "; Secure"
        return (b"set-cookie", header.encode("latin-1"))

    def session(self, caller: Caller) -> Session | None:
        """The caller's valid session, or None (no cookie, a forged or expired one, one of an older token)."""
        cookie = caller.cookie(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self._max_age)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str) or not isinstance(data.get("tok"), str):
            return None
        if not hmac.compare_digest(data["tok"], self._token_mark):
            return None
        return Session(data["sid"], self._csrf(data["sid"]))

    def _csrf(self, session_id: str) -> str:
        return hmac.new(self._csrf_key, session_id.encode(), "sha256").hexdigest()

    def require(self, caller: Caller) -> Session:
        session = self.session(caller)
        if session is None:
            raise Unauthorized("log in to the console first: your session is missing, expired or not valid", code="no_session")
        return session

    def check_change(self, caller: Caller, session: Session | None, csrf: str | None) -> None:
        """Raises Forbidden unless a state change comes from the console's own origin (and, with a session,
        carries its CSRF token)."""
        evidence = self.foreign(caller)
        if evidence is not None:
            raise Forbidden(f"the console takes changes only from its own pages; this one came from elsewhere ({evidence})", code="cross_site")
        if session is not None and not (csrf and hmac.compare_digest(csrf, session.csrf)):
            raise Forbidden("the form's CSRF token is missing or not this session's: reload the page and try again", code="csrf")

    def foreign(self, caller: Caller) -> str | None:
        """What shows that a request did not come from the console's own origin, or None."""
        site = caller.header(b"sec-fetch-site")
        if site is not None:
            site = site.strip().lower()
            return None if site == "same-origin" else f"Sec-Fetch-Site: {site}"
        origin = caller.header(b"origin")
        if origin is not None:
            scheme = "https" if self.identity.is_https(caller) else "http"
            own = f"{scheme}://{(caller.header(b'host') or '').lower()}"
            return None if origin.strip().lower() == own else f"Origin: {origin}"
        return None
