"""The examples a user copies must stay true to the code."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from leadrelay.config import load_settings, new_secret_key
from leadrelay.sandbox.live import LiveServer
from leadrelay.vendors import destination_states as enabled_destinations

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_configuration_is_valid_and_enables_every_vendor(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRELAY_SECRET_KEY", new_secret_key())  # as the file says: a production key stays out of it
    settings = load_settings(EXAMPLES / "leadrelay.toml")
    assert settings.environment == "production"
    assert settings.trust_proxy_headers and settings.forwarded_allow_ips == ["127.0.0.1"]  # behind examples/deploy/
    assert set(enabled_destinations(settings).values()) == {"on"}


def test_example_curl_script_gets_an_accepted_event(live_server: LiveServer) -> None:
    result = subprocess.run(
        ["sh", str(EXAMPLES / "collect.sh"), live_server.url], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert '"status":"accepted"' in result.stdout
