"""Dub's API called by the official `dub` TypeScript SDK (npm), run by Node against a live leadrelay.

The SDK is installed from the registry with `npm ci` into tests/node (its package.json and
package-lock.json are committed); the calls are tests/node/dub_calls.mjs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from leadrelay.sandbox.credentials import DUB_KEY
from tests.fakes.helpers import settled, wait_for
from tests.support.keys import SERVER_KEY
from tests.support.relay import Relay

NODE_DIR = Path(__file__).parent / "node"


def installed_version(package: str) -> str | None:
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


@pytest.fixture(scope="module")
def node() -> str:
    """Node, with the locked SDK installed (`npm ci` when node_modules does not hold the locked version)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the TypeScript SDK test needs them (apt-get install nodejs npm)")
    locked = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"]["node_modules/dub"]["version"]
    if installed_version("dub") != locked:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600, capture_output=True)
    return node


def run_calls(node: str, server_url: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stdin = json.dumps({"serverURL": server_url, "calls": calls})
    done = subprocess.run(
        [node, "dub_calls.mjs"], cwd=NODE_DIR, input=stdin, capture_output=True, text=True, timeout=120, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def test_the_typescript_sdk_tracks_a_lead_and_gets_dubs_typed_errors(node: str, relay: Relay) -> None:
    who = f"cus_{uuid.uuid4().hex[:12]}"
    lead = {"clickId": "clk_ts_1", "eventName": "Sign up", "customerExternalId": who, "customerEmail": "ts@example.com"}
    calls = [
        {"op": "lead", "token": SERVER_KEY, "request": lead},
        {"op": "lead", "token": SERVER_KEY, "request": {**lead, "clickId": "clk_ts_2"}},  # a repeat: stored once
        {"op": "lead", "token": "not-a-server-key-0123456789-abcdefghijkl", "request": lead},
        {"op": "lead", "token": SERVER_KEY, "request": {**lead, "customerEmail": "not-an-email"}},
    ]
    ok, repeat, unauthorized, invalid = run_calls(node, f"{relay.url}/lr/dub", calls)

    assert ok == {
        "ok": {
            "click": {"id": "clk_ts_1"},
            "link": None,
            "customer": {"name": None, "email": "ts@example.com", "avatar": None, "externalId": who},
        }
    }
    assert repeat["ok"]["link"] is None
    assert unauthorized["error"]["name"] == "Unauthorized"
    assert (unauthorized["error"]["statusCode"], unauthorized["error"]["code"]) == (401, "unauthorized")
    assert invalid["error"]["name"] == "UnprocessableEntity"
    assert invalid["error"]["code"] == "unprocessable_entity"
    assert "customerEmail: must be a valid email address" in invalid["error"]["message"]

    assert relay.store.count("events") == 1
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries"), what="the delivery")
    fake = relay.vendors.dub
    assert fake.recorded == [
        {
            "clickId": "clk_ts_1",
            "eventName": "Sign up",
            "customerExternalId": who,
            "customerName": None,
            "customerEmail": "ts@example.com",
            "customerAvatar": None,
            "mode": "async",
        }
    ]
    assert fake.requests[0].headers["authorization"] == f"Bearer {DUB_KEY}"


async def test_the_typescript_sdk_tracks_a_sale_once_per_invoice_and_gets_dubs_typed_errors(node: str, relay: Relay) -> None:
    who = f"cus_{uuid.uuid4().hex[:12]}"
    invoice = f"in_{uuid.uuid4().hex[:12]}"
    relay.vendors.dub.customers[who] = {"name": "Ts", "email": None, "avatar": None, "externalId": who}
    sale = {"customerExternalId": who, "amount": 2500, "currency": "usd", "paymentProcessor": "paddle", "invoiceId": invoice}
    calls = [
        {"op": "sale", "token": SERVER_KEY, "request": sale},
        {"op": "sale", "token": SERVER_KEY, "request": {**sale, "amount": 1}},  # the same invoice: stored once
        {"op": "sale", "token": "not-a-server-key-0123456789-abcdefghijkl", "request": sale},
        {"op": "sale", "token": SERVER_KEY, "request": {**sale, "amount": -1}},
    ]
    ok, repeat, unauthorized, invalid = run_calls(node, f"{relay.url}/lr/dub", calls)

    expected_sale = {"amount": 2500, "currency": "usd", "paymentProcessor": "paddle", "invoiceId": invoice, "metadata": None}
    assert ok == {
        "ok": {
            "eventName": "Purchase",
            "customer": {"id": who, "name": None, "email": None, "avatar": None, "externalId": who},
            "sale": expected_sale,
        }
    }
    assert repeat["ok"]["sale"] == expected_sale  # the first call's answer, as Dub answers a repeat invoice
    assert unauthorized["error"]["name"] == "Unauthorized"
    assert (unauthorized["error"]["statusCode"], unauthorized["error"]["code"]) == (401, "unauthorized")
    assert invalid["error"]["name"] == "UnprocessableEntity"
    assert "amount: must be a whole number between 0 and 9007199254740991" in invalid["error"]["message"]

    assert relay.store.count("events") == 1
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") >= 2, what="the deliveries")
    assert relay.vendors.dub.sales == [
        {
            "customerExternalId": who,
            "amount": 2500,
            "currency": "usd",
            "eventName": "Purchase",
            "paymentProcessor": "paddle",
            "invoiceId": invoice,
            "leadEventName": None,
            "customerName": None,
            "customerEmail": None,
            "customerAvatar": None,
        }
    ]
    [to_dub] = relay.vendors.dub.requests
    assert to_dub.headers["authorization"] == f"Bearer {DUB_KEY}"
    [to_reshape] = relay.vendors.reshape.requests
    assert to_reshape.body["event"]["name"] == "checkout_completed" and to_reshape.body["event"]["value"] == 25.0
