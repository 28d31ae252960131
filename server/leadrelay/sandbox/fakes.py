"""The sandbox's vendors: one strict fake per destination, reached in-process, never over a network.

`SandboxVendors` holds a fake Dub, PIMMS, DATA Reshape and webhook receiver (the project's own
fakes, leadrelay.sandbox.vendors and .webhook), the settings that point each destination at its
fake, and the httpx transport that delivers there:

- The worker's HTTP client gets `transport`: each request is handed to the fake whose host it
  names (`http://dub.sandbox.invalid` ...) as an ASGI call in the same event loop. No socket is
  opened, so nothing can leave the machine; a host that is no fake's is refused as a connection
  error, and `.invalid` names resolve nowhere should anything ever bypass the transport.
- A fake's scripted faults reach the worker as a real vendor's would: an error status with its
  headers, a slow answer (cut by the worker's own `delivery_timeout_s`), and a dropped connection,
  which surfaces as httpx's RemoteProtocolError.
- Every answered request sets `changed`, which the `_sandbox` long-poll waits on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from leadrelay.sandbox.credentials import DUB_KEY, PIMMS_KEY, RESHAPE_SCRIPT, RESHAPE_TOKEN, WEBHOOK_SECRET
from leadrelay.sandbox.vendors import FAKE_PACE, FakeDub, FakePimms, FakeReshape, FakeVendor
from leadrelay.sandbox.webhook import FakeWebhook

MAX_RECORDS = 1000
"""Requests each fake keeps (the newest): a sandbox left running does not grow without end."""

HOSTS = {name: f"{name}.sandbox.invalid" for name in ("dub", "pimms", "reshape", "webhook")}


class SandboxVendors:
    """The four fakes by destination name, their settings, and the transport that reaches them."""

    def __init__(self) -> None:
        self.fakes: dict[str, FakeVendor] = {
            "dub": FakeDub(credential=DUB_KEY, max_records=MAX_RECORDS),
            "pimms": FakePimms(credential=PIMMS_KEY, max_records=MAX_RECORDS),
            "reshape": FakeReshape(credential=RESHAPE_TOKEN, script_id=RESHAPE_SCRIPT, max_records=MAX_RECORDS),
            "webhook": FakeWebhook(credential=WEBHOOK_SECRET, max_records=MAX_RECORDS),
        }
        self.changed = Changes()
        self.transport = SandboxTransport({HOSTS[name]: fake for name, fake in self.fakes.items()}, self.changed)

    def settings(self) -> dict[str, Any]:
        """What replaces every destination's credentials and address in sandbox mode (the real ones are dropped)."""
        webhook = self.fakes["webhook"]
        assert isinstance(webhook, FakeWebhook)
        return {
            "dub_api_key": SecretStr(DUB_KEY),
            "dub_base_url": f"http://{HOSTS['dub']}",
            "pimms_api_key": SecretStr(PIMMS_KEY),
            "pimms_base_url": f"http://{HOSTS['pimms']}",
            "reshape_base_url": f"http://{HOSTS['reshape']}",
            "reshape_script_id": RESHAPE_SCRIPT,
            "reshape_access_token": SecretStr(RESHAPE_TOKEN),
            "reshape_path": "/reshape/standard/event",
            "webhook_url": f"http://{HOSTS['webhook']}{webhook.path}",
            "webhook_secret": SecretStr(WEBHOOK_SECRET),
            # The fakes take any pace (a site's tests should not wait on Dub's 60 a minute).
            "dub_rate_per_minute": FAKE_PACE,
            "pimms_rate_per_minute": FAKE_PACE,
            "reshape_rate_per_minute": FAKE_PACE,
            "webhook_rate_per_minute": FAKE_PACE,
        }

    def reset(self) -> None:
        for fake in self.fakes.values():
            fake.reset()
        self.changed.notify()


class Changes:
    """A signal raised whenever a fake has answered: `await wait(timeout)` returns at the next one (or the timeout)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


class SandboxTransport(httpx.AsyncBaseTransport):
    """httpx's ASGI transport to the fake named by each request's host; anything else is refused."""

    def __init__(self, apps: dict[str, Any], changed: Changes) -> None:
        self._transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self._changed = changed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"sandbox: {request.url.host} is not a sandbox vendor, and nothing leaves this machine", request=request)
        try:
            response = await transport.handle_async_request(request)
            await response.aread()
        except ConnectionError as exc:  # the fake dropped the connection on purpose (Fault.drop)
            raise httpx.RemoteProtocolError("the sandbox vendor dropped the connection mid-answer", request=request) from exc
        finally:
            self._changed.notify()
        return response
