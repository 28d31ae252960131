"""The console's test setup: its token, a site with the console on and the fake Reshape behind it, logging in."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes import Vendors
from tests.support.processes import wait_until

__all__ = ["wait_until"]  # shared with the console's tests from here

ADMIN_TOKEN = "console-test-token-0123456789-abcdefghijk"
SECRET_KEY = "console-test-secret-key-9876543210-zyxwvutsrq"

RESHAPE_ONLY = ("reshape_base_url", "reshape_script_id", "reshape_access_token", "reshape_rate_per_minute")


def console_settings(vendors: Vendors | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings with the console on, delivering to the fake Reshape only (no click ids needed), fast retries."""
    from tests.fakes.helpers import FAST

    given: dict[str, Any] = {"admin_token": ADMIN_TOKEN, "secret_key": SECRET_KEY, **FAST}
    if vendors is not None:
        given.update({k: v for k, v in vendors.settings().items() if k in RESHAPE_ONLY})
    given.update(overrides)
    return given


def reshape_lead(event_id: str, email: str = "sarah@example.com", **event: Any) -> dict[str, Any]:
    """A batch of one Reshape lead_created, as the snippet sends it."""
    payload = {
        "event": {"name": "lead_created", "currency": "EUR", "value": 5, "id": event_id, **event},
        "user": {"id": "cust-" + event_id, "email": email, "first_name": "Sarah"},
    }
    return {"events": [{"id": event_id, "dialect": "reshape", "payload": payload}]}


def send(base_url: str, batch: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base_url}/lr/e", json=batch, headers={"Origin": base_url}, timeout=10)


def login(client: httpx.Client, base_url: str, token: str = ADMIN_TOKEN) -> httpx.Response:
    """Log `client` in as a browser's login form would."""
    return client.post(
        f"{base_url}/admin/login", data={"token": token}, headers={"Origin": base_url, "Sec-Fetch-Site": "same-origin"}
    )
