"""Server keys: the site's backends say who they are with `Authorization: Bearer <key>`.

A key is one of the configured `server_keys`, compared in constant time with every
one of them (hmac.compare_digest), so neither a match nor its position shows in the
answer's timing. Listing two keys rotates without downtime: deploy the new one beside
the old, move the backends over, then drop the old one.

Only the Bearer scheme is a claim to be a server: a browser on a site behind HTTP
Basic authentication sends `Authorization: Basic …` with every request, and stays a browser.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr

from leadrelay.caller import Caller
from leadrelay.errors import Unauthorized

WANTED = "Authorization: Bearer <one of server_keys>"


class ServerKeys:
    def __init__(self, keys: Sequence[SecretStr]) -> None:
        self._keys = [key.get_secret_value().encode() for key in keys]

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def held_by(self, caller: Caller) -> bool:
        """Whether the request carries one of the keys; False when it claims none.

        Raises Unauthorized for a Bearer token that is not a key: a server that sends a
        wrong (an old, a mistyped) key must hear so, not be taken for a browser.
        """
        header = caller.header(b"authorization")
        if header is None:
            return False
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        self.check(token.strip())
        return True

    def check(self, token: str, sent: str = "Bearer key", wanted: str = WANTED) -> None:
        """Raises Unauthorized unless `token` is one of the keys; `sent` names what carried it, `wanted` how to send one."""
        if not self._keys:
            raise Unauthorized(
                f"a {sent} was sent, but no server_keys are configured: set server_keys and send {wanted}",
                invalid_token=True,
            )
        given = token.encode("latin-1")
        matched = False
        for key in self._keys:  # every key, whichever matches
            matched |= hmac.compare_digest(given, key)
        if not matched:
            raise Unauthorized(f"the {sent} is not one of server_keys: send {wanted}", invalid_token=True)

    def refusal(self, dialect: str) -> Unauthorized:
        """The answer to an event in a server's dialect from a caller without a key."""
        message = (
            f"the {dialect} dialect is a server's call, not a browser's: send {WANTED}"
            if self._keys
            else f"the {dialect} dialect is a server's call, not a browser's: configure server_keys and send {WANTED}"
        )
        return Unauthorized(message)
