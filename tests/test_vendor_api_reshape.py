"""DATA Reshape's server API for a site's backend: seed 003's own curl, run by `curl` against a live leadrelay.

Only the host changes (to the site's leadrelay under its prefix), and the placeholders: the
script id, and in X-Dre-Access-Token a leadrelay server key (Reshape's own token stays with leadrelay).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadrelay.sandbox.credentials import RESHAPE_SCRIPT, RESHAPE_TOKEN
from tests.fakes.helpers import settled, wait_for
from tests.support.keys import SERVER_KEY
from tests.support.relay import Relay

CURL = Path(__file__).parent / "fixtures" / "seeds" / "reshape_003_curl.sh"
SEED_HOST = "https://dre2.yourdomain.com"
TOKEN = {"X-Dre-Access-Token": SERVER_KEY}
PATHS = ("/lr/reshape/standard/event", "/lr/webhooks/reshape/event")


def run_seed_curl(relay: Relay, script_id: str = RESHAPE_SCRIPT, token: str = SERVER_KEY) -> tuple[int, Any]:
    """The seed's curl with the host and placeholders replaced; its HTTP status and answer."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    script = CURL.read_text().replace(SEED_HOST, f"{relay.url}/lr")
    script = script.replace("YOUR_SCRIPT_ID", script_id).replace("YOUR_ACCESS_TOKEN", token)
    script = script.replace("curl -X POST", "curl -sS -w '\\n%{http_code}' -X POST")  # the status, after the body
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


async def delivered(relay: Relay) -> None:
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") > 0, what="the delivery to settle")


async def test_the_seeds_curl_is_stored_once_and_reaches_reshape_with_the_sites_token(relay: Relay) -> None:
    assert run_seed_curl(relay) == (200, {"status": "ok", "duplicate": False})
    assert run_seed_curl(relay) == (200, {"status": "ok", "duplicate": True})  # same event.id: stored once
    assert relay.store.count("events") == 1
    await delivered(relay)
    fake = relay.vendors.reshape
    assert fake.accepted == [
        {
            "event": {"name": "lead_qualified", "id": "QUALIFIED_LEAD_456", "value": 750.0, "currency": "USD", "exchange_rate": 1.0},
            "context": {"environment": "prod", "data_source": "crm_system"},
            "user": {"email": ["qualified.lead@example.com"], "new_customer": True},
        }
    ]
    received = fake.requests[0]
    assert received.headers["x-dre-access-token"] == RESHAPE_TOKEN  # the site's token, not the caller's key
    assert received.query == {"id": RESHAPE_SCRIPT}


async def test_the_newer_path_takes_cookies_as_a_list_and_forwards_them_as_a_map(relay: Relay) -> None:
    body = {
        "event": {"name": "lead_created", "value": 10, "currency": "EUR", "id": "LEAD_LIST_1"},
        "cookies": [{"name": "_ga", "value": "GA1.1.7"}, {"name": "_fbp", "value": "fb.1.2"}],
        "consent": {"analytics": True, "personalization": False, "marketing": True, "id": "consent-77"},
    }
    response = httpx.post(f"{relay.url}{PATHS[1]}?id={RESHAPE_SCRIPT}", json=body, headers=TOKEN)
    assert response.status_code == 200 and response.json() == {"status": "ok", "duplicate": False}
    await delivered(relay)
    sent = relay.vendors.reshape.accepted[0]
    assert sent["cookies"] == {"_ga": "GA1.1.7", "_fbp": "fb.1.2"}
    assert sent["consent"] == {"analytics": True, "personalization": False, "marketing": True, "id": "consent-77"}


@pytest.mark.parametrize("path", PATHS)
def test_a_missing_or_wrong_token_is_a_401_and_stores_nothing(relay: Relay, path: str) -> None:
    status, answer = run_seed_curl(relay, token="YOUR_ACCESS_TOKEN") if path == PATHS[0] else (0, None)
    if path == PATHS[0]:  # the seed's curl as pasted: its placeholder is no server key
        assert status == 401 and answer["status"] == "error" and answer["code"] == "unauthorized"
    body = {"event": {"name": "lead_created", "value": 1, "currency": "USD", "id": "L1"}}
    missing = httpx.post(f"{relay.url}{path}?id={RESHAPE_SCRIPT}", json=body, headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert missing.status_code == 401
    assert "X-Dre-Access-Token" in missing.json()["message"]
    wrong = httpx.post(f"{relay.url}{path}?id={RESHAPE_SCRIPT}", json=body, headers={"X-Dre-Access-Token": RESHAPE_TOKEN})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert RESHAPE_TOKEN not in wrong.text and SERVER_KEY not in wrong.text
    assert relay.store.count("events") == 0


def test_a_script_id_that_is_not_the_sites_is_a_404_and_a_malformed_one_a_400(relay: Relay) -> None:
    body = {"event": {"name": "lead_created", "value": 1, "currency": "USD", "id": "L1"}}
    other = httpx.post(f"{relay.url}{PATHS[0]}?id=ZZZZ9999", json=body, headers=TOKEN)
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    for query in ("", "?id=abc", "?id=YOUR_SCRIPT_ID"):
        malformed = httpx.post(f"{relay.url}{PATHS[0]}{query}", json=body, headers=TOKEN)
        assert malformed.status_code == 400, query
        assert malformed.json()["message"].startswith("id: ")


def test_a_body_that_breaks_reshapes_rules_is_a_400_with_every_field_error(relay: Relay) -> None:
    body = {
        "event": {"name": "lead_qualified", "value": "750"},
        "user": {"email": "not-an-email", "phone": "0712"},
        "cookies": [{"name": "_ga"}],
        "consent": {"analytics": "yes"},
    }
    response = httpx.post(f"{relay.url}{PATHS[0]}?id={RESHAPE_SCRIPT}", json=body, headers=TOKEN)
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "error" and answer["code"] == "bad_request"
    paths = {e["path"] for e in answer["errors"]}
    assert paths == {"event.value", "event.currency", "event.id", "user.email", "user.phone", "cookies[0].value", "consent.analytics"}
    assert "event.currency: required property is missing" in answer["message"]
    assert relay.store.count("events") == 0


def test_a_cross_site_caller_and_a_wrong_content_type_are_refused_in_reshapes_shape(relay: Relay) -> None:
    body = {"event": {"name": "lead_created", "value": 1, "currency": "USD", "id": "L1"}}
    url = f"{relay.url}{PATHS[0]}?id={RESHAPE_SCRIPT}"
    cross = httpx.post(url, json=body, headers={**TOKEN, "Origin": "https://evil.example"})
    assert cross.status_code == 403 and cross.json()["status"] == "error"
    form = httpx.post(url, content=json.dumps(body), headers={**TOKEN, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and form.json()["status"] == "error"


def test_over_the_rate_limit_is_a_429_in_reshapes_shape(start_relay: Any) -> None:
    relay = start_relay(rate_limit_per_ip="1/minute")
    body = {"event": {"name": "lead_created", "value": 1, "currency": "USD", "id": "L1"}}
    url = f"{relay.url}{PATHS[0]}?id={RESHAPE_SCRIPT}"
    assert httpx.post(url, json=body, headers=TOKEN).status_code == 200
    limited = httpx.post(url, json=body, headers=TOKEN)
    assert limited.status_code == 429
    assert limited.json()["status"] == "error" and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", PATHS)
def test_a_wrong_method_is_a_405_in_reshapes_shape_with_allow(relay: Relay, method: str, path: str) -> None:
    response = httpx.request(method, f"{relay.url}{path}?id={RESHAPE_SCRIPT}", headers=TOKEN)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {
        "status": "error",
        "code": "method_not_allowed",
        "message": f"{method} is not allowed on {path}: Reshape's API takes POST",
    }


async def test_a_checkout_completed_is_a_sale_that_reaches_dub_and_reshape(relay: Relay) -> None:
    relay.vendors.dub.customers["cus_r"] = {"name": "Rae", "email": None, "avatar": None, "externalId": "cus_r"}
    body = {
        "event": {"name": "checkout_completed", "value": 120.5, "currency": "USD", "id": "ORDER_77", "properties": {"payment_processor": "paddle"}},
        "user": {"id": "cus_r"},
    }
    response = httpx.post(f"{relay.url}{PATHS[0]}?id={RESHAPE_SCRIPT}", json=body, headers=TOKEN)
    assert response.status_code == 200 and response.json() == {"status": "ok", "duplicate": False}
    [stored] = relay.store.list_events(5)
    assert stored.kind == "sale" and stored.sale is not None and stored.sale.amount == 12050
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") == 2, what="both deliveries")
    assert relay.vendors.dub.sales == [
        {
            "customerExternalId": "cus_r",
            "amount": 12050,
            "currency": "usd",
            "eventName": "Purchase",
            "paymentProcessor": "paddle",
            "invoiceId": "ORDER_77",
            "leadEventName": None,
            "customerName": None,
            "customerEmail": None,
            "customerAvatar": None,
            "metadata": {"payment_processor": "paddle"},
        }
    ]
    [to_reshape] = relay.vendors.reshape.accepted
    assert to_reshape["event"]["name"] == "checkout_completed" and to_reshape["event"]["id"] == "ORDER_77"
    assert relay.vendors.pimms.requests == []


async def test_a_checkout_completed_without_a_customer_skips_dub_with_its_reason(relay: Relay) -> None:
    body = {"event": {"name": "checkout_completed", "value": 5, "currency": "USD", "id": "ORDER_78"}}
    response = httpx.post(f"{relay.url}{PATHS[1]}?id={RESHAPE_SCRIPT}", json=body, headers=TOKEN)
    assert response.status_code == 200
    await wait_for(lambda: settled(relay.store) and relay.store.count("deliveries") == 1, what="the Reshape delivery")
    assert relay.store.delivery_counts() == {"reshape": {"delivered": 1}}
    assert relay.vendors.dub.requests == []
    [stored] = relay.store.list_events(5)
    skipped = relay.service.router.skipped(stored)
    assert skipped["dub"] == "Dub credits a sale to a customer id (customerExternalId), and this sale names none (nor an email)"
