"""The vendor registry: one entry per vendor, and every fact about vendors that the rest of leadrelay reads.

A vendor is a dialect file (how its payloads come in, validated by its published rules),
a destination file (how events go out to it, with its settings) and one `Vendor` line here.
Its entry names its click-id cookie when it has one: the snippet reads that cookie and the
`?<name>=` query parameter of a landing page (static/lr.js's VENDORS list is held to this
registry by tests/test_vendors.py), the server sets the cookie at `{prefix}/c`, and the
envelope's `click_ids` takes the vendor's name as a key.

The snippet's list is written in static/lr.js, not templated in when the server loads the
script: the files in static/ are what a site may copy into its bundle (README, "As a module"),
so they must run as they are, and the served bytes stay those `npm run build` checked. The
list changes only with this registry (no setting changes it), in the same commit as a rebuild.

    Vendor("dub", DubSettings, dialect=dub.DIALECT, destination=DubDestination, click_id="dub_id", server_only=True)

`server_only` marks a dialect that is a server's call (Dub's own `track/lead` and `track/sale` bodies):
only a caller holding one of the site's server keys may send it (leadrelay.trust).
Which kinds of event (leads, sales) a vendor takes is its destination's to say (`Destination.kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from leadrelay.destinations import dub as dub_out
from leadrelay.destinations import pimms as pimms_out
from leadrelay.destinations import reshape as reshape_out
from leadrelay.destinations import webhook
from leadrelay.destinations.base import Destination
from leadrelay.dialects import croct
from leadrelay.dialects import dub as dub_in
from leadrelay.dialects import pimms as pimms_in
from leadrelay.dialects import reshape as reshape_in
from leadrelay.dialects.base import Dialect
from leadrelay.event import Kind


@dataclass(frozen=True)
class Vendor:
    name: str
    settings: type[BaseModel] | None = None
    """Its settings: fields named `<name>_…`, which `leadrelay.config.Settings` takes in."""
    dialect: Dialect | None = None
    """How its payloads are judged, when leadrelay accepts them (`"dialect": name` in an envelope)."""
    destination: type[Destination] | None = None
    """How events are delivered to it, when leadrelay forwards to it."""
    click_id: str | None = None
    """The cookie, and the landing page's query parameter, that carry its click id."""
    server_only: bool = False
    """Its dialect is a server's call (the vendor's own API), taken only with a server key (leadrelay.trust)."""


VENDORS: tuple[Vendor, ...] = (
    Vendor("croct", croct.CroctSettings, dialect=croct.DIALECT),
    Vendor("dub", dub_out.DubSettings, dub_in.DIALECT, dub_out.DubDestination, click_id="dub_id", server_only=True),
    Vendor(
        "pimms", pimms_out.PimmsSettings, pimms_in.DIALECT, pimms_out.PimmsDestination, click_id="pimms_id", server_only=True
    ),
    Vendor("reshape", reshape_out.ReshapeSettings, reshape_in.DIALECT, reshape_out.ReshapeDestination),
    Vendor("webhook", webhook.WebhookSettings, destination=webhook.WebhookDestination),
)

DIALECTS: dict[str, Dialect] = {v.name: v.dialect for v in VENDORS if v.dialect is not None}
"""Every dialect by name, as the embedded defaults configure it."""
DESTINATIONS: dict[str, type[Destination]] = {v.name: v.destination for v in VENDORS if v.destination is not None}
CLICK_IDS: dict[str, str] = {v.name: v.click_id for v in VENDORS if v.click_id is not None}
"""vendor name -> the name of its click-id cookie and query parameter."""
SERVER_DIALECTS: tuple[str, ...] = tuple(v.name for v in VENDORS if v.server_only and v.dialect is not None)
"""The dialects only a caller with a server key may send."""
SETTINGS: tuple[type[BaseModel], ...] = tuple(v.settings for v in VENDORS if v.settings is not None)


def configured_dialects(settings: Any) -> dict[str, Dialect]:
    """Every dialect as `settings` configure it (Croct takes the configured event types)."""
    return {name: dialect.configured(settings) for name, dialect in DIALECTS.items()}


def enabled_destinations(settings: Any) -> dict[str, Destination]:
    """The destinations whose settings are complete, by name."""
    return {name: cls(settings) for name, cls in DESTINATIONS.items() if cls.missing(settings) is None}


def configured_secrets(settings: Any) -> list[str]:
    """Every vendor credential configured, whether its destination is on or not (to redact what is shown)."""
    return [secret for cls in DESTINATIONS.values() for secret in cls(settings).secrets() if secret]


def destination_states(settings: Any) -> dict[str, str]:
    """{destination: "on" or "off: <what is missing>"} for every known destination."""
    out: dict[str, str] = {}
    for name, cls in DESTINATIONS.items():
        missing = cls.missing(settings)
        out[name] = "on" if missing is None else f"off: {missing}"
    return out


def destination_kinds(settings: Any) -> dict[str, tuple[Kind, ...]]:
    """{destination: the kinds of event it takes, as `settings` configure it} for every known destination."""
    return {name: cls(settings).kinds for name, cls in DESTINATIONS.items()}

