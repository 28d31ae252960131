"""Whether leadrelay runs in sandbox mode, and the settings it then runs on.

`sandbox = true` (`leadrelay serve --sandbox`) delivers to the built-in fake vendors
(leadrelay.sandbox.fakes) instead of the internet. `"auto"`, the embedded default, turns it on
in the development environment when no destination is configured, so that `./run serve` on a
fresh checkout shows deliveries without a vendor account; it never turns on in production, and
`sandbox = true` with `environment = "production"` is a configuration problem (a production
site's leads must never go to fakes).
"""

from __future__ import annotations

from leadrelay.config import Settings
from leadrelay.sandbox.fakes import SandboxVendors
from leadrelay.vendors import destination_states

NOTICE = "SANDBOX MODE: nothing leaves this machine; deliveries go to built-in strict fake vendors"


def sandbox_on(settings: Settings) -> bool:
    if settings.sandbox == "auto":
        nothing_configured = all(state != "on" for state in destination_states(settings).values())
        return settings.environment == "development" and nothing_configured
    return bool(settings.sandbox)


def sandboxed(settings: Settings, vendors: SandboxVendors) -> Settings:
    """`settings` with every destination pointed at its fake, under the fake's credentials: the real
    credentials and addresses are not carried over, so nothing the sandbox shows can hold them."""
    return settings.model_copy(update={**vendors.settings(), "sandbox": True})
