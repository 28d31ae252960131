"""The vendor registry is the one source of vendor facts: the snippet, the settings and the wire format follow it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from leadrelay.config import Settings
from leadrelay.protocol import ClientClickIds, Envelope
from leadrelay.vendors import CLICK_IDS, DESTINATIONS, DIALECTS, VENDORS

ROOT = Path(__file__).resolve().parents[1]


def test_the_snippet_reads_the_click_ids_the_registry_names() -> None:
    """Checked, not generated: static/ is copied into sites' bundles as it is (leadrelay.vendors' doc)."""
    source = (ROOT / "static" / "lr.js").read_text()
    match = re.search(r"var VENDORS = (\[[^\]]*\]);", source)
    assert match, "static/lr.js no longer declares its VENDORS list"
    assert json.loads(match.group(1)) == list(CLICK_IDS)
    # The snippet names a vendor's cookie and query parameter `<vendor>_id`.
    assert all(cookie == f"{vendor}_id" for vendor, cookie in CLICK_IDS.items())
    minified = (ROOT / "static" / "lr.min.js").read_text()
    assert all(json.dumps(vendor) in minified for vendor in CLICK_IDS)


def test_every_vendor_setting_is_a_setting_named_after_its_vendor() -> None:
    fields = set(Settings.model_fields)
    for vendor in VENDORS:
        if vendor.settings is None:
            continue
        own = set(vendor.settings.model_fields)
        assert own <= fields
        assert all(name.startswith(vendor.name + "_") for name in own), own


def test_the_envelope_takes_the_registry_s_dialects_and_click_ids() -> None:
    assert set(ClientClickIds.model_fields) == set(CLICK_IDS)
    for dialect in DIALECTS:
        envelope = Envelope.model_validate({"id": "e1", "dialect": dialect, "payload": {}})
        assert envelope.dialect == dialect
    assert {v.name for v in VENDORS if v.destination} == set(DESTINATIONS)


def test_a_vendor_environment_variable_keeps_its_name(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEADRELAY_DUB_API_KEY", "dub_from_env")
    monkeypatch.setenv("LEADRELAY_RESHAPE_EVENTS", '{"leadGenerated": "lead_qualified"}')
    settings = Settings()
    assert settings.dub_api_key is not None and settings.dub_api_key.get_secret_value() == "dub_from_env"
    assert settings.reshape_events == {"leadGenerated": "lead_qualified"}
