"""Which destinations an accepted event goes to: decided at intake, written with the event."""

from __future__ import annotations

from leadrelay.config import Settings
from leadrelay.event import LeadEvent


def enabled_destinations(settings: Settings) -> dict[str, str]:
    """{destination: why it is on or off} for every known destination."""
    return {
        "dub": "on" if settings.dub_api_key else "off: no dub_api_key",
        "pimms": "on" if settings.pimms_api_key else "off: no pimms_api_key",
        "reshape": "on"
        if settings.reshape_base_url and settings.reshape_script_id and settings.reshape_access_token
        else "off: needs reshape_base_url, reshape_script_id and reshape_access_token",
    }


class Router:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = {name for name, why in enabled_destinations(settings).items() if why == "on"}

    def destinations_for(self, event: LeadEvent) -> list[str]:
        s = self.settings
        out: list[str] = []
        if "dub" in self.enabled and (event.dialect == "dub" or event.name in s.dub_events):
            if event.click_ids.dub or (s.dub_deferred and event.customer.external_id):
                out.append("dub")
        if "pimms" in self.enabled and (event.dialect == "pimms" or event.name in s.pimms_events):
            if event.click_ids.pimms:
                out.append("pimms")
        if "reshape" in self.enabled and (event.dialect == "reshape" or event.name in s.reshape_events):
            out.append("reshape")
        return out
