"""A generic webhook: the canonical event as JSON, POSTed to `webhook_url`, signed per Standard Webhooks.

The body is `{"type": <event name, as webhook_events maps it>, "timestamp": <when leadrelay
received the event, ISO 8601 UTC>, "data": <the canonical event, as `leadrelay events` prints it>}`.
Leads and sales both: `data.kind` says which, and a sale's `data.sale` holds its amount in cents,
payment processor and invoice id (`data.value` and `data.currency`: the amount in the currency's main unit).
The headers are Standard Webhooks' `webhook-id` (the same for every attempt of a delivery, so a
receiver can de-duplicate), `webhook-timestamp` (the attempt's own time) and `webhook-signature`
(`v1,<HMAC-SHA256>`, by the `standardwebhooks` package). https://www.standardwebhooks.com/
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import BaseModel, Field, SecretStr, field_validator
from standardwebhooks import Webhook

from leadrelay.destinations.base import WILDCARD, Destination, Outgoing, Undeliverable, encode_json
from leadrelay.event import LeadEvent, dump_event

SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the key lengths Standard Webhooks allows
MESSAGE_IDS = uuid.UUID("5b0d8a51-3c2e-4f71-9d3a-7f6c1e2b4a90")  # namespace of the webhook-id values


class WebhookSettings(BaseModel):
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_events: dict[str, str] = Field(default_factory=lambda: {WILDCARD: WILDCARD})
    webhook_raw: bool = False
    webhook_rate_per_minute: int = Field(default=600, ge=0)  # a receiver's limit is unknown: 10 a second

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host or any(c.isspace() for c in value):
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://crm.example.com/hooks/leads")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if not value:
            return None
        signing_key(value.get_secret_value())
        return value


def signing_key(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret; ValueError (which never quotes the secret) when it is not one."""
    lo, hi = SECRET_BYTES
    shape = f"must be {SECRET_PREFIX} followed by the base64 of {lo} to {hi} random bytes"
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"{shape} (it does not start with {SECRET_PREFIX})")
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"{shape} (what follows {SECRET_PREFIX} is not base64)") from None
    if not lo <= len(key) <= hi:
        raise ValueError(f"{shape} (it holds {len(key)} bytes)")
    return key


class WebhookDestination(Destination):
    name = "webhook"
    dialect = ""  # no dialect of its own: webhook_events alone decides what goes
    kinds = ("lead", "sale")  # webhook_events maps the names of both

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings)
        self.url = settings.webhook_url or ""
        self._secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        self._signer = Webhook(signing_key(self._secret)) if self._secret else None

    @classmethod
    def missing(cls, settings: WebhookSettings) -> str | None:
        lacking = [name for name in ("webhook_url", "webhook_secret") if not getattr(settings, name)]
        return f"no {', '.join(lacking)}" if lacking else None

    @property
    def events(self) -> dict[str, str]:
        return self.settings.webhook_events  # type: ignore[no-any-return]

    @property
    def rate_per_minute(self) -> int:
        return self.settings.webhook_rate_per_minute  # type: ignore[no-any-return]

    def secrets(self) -> list[str]:
        return [self._secret, self._secret.removeprefix(SECRET_PREFIX)] if self._secret else []

    def prepare(self, event: LeadEvent) -> Outgoing:
        kind = self.event_name(event)
        if kind is None:
            raise Undeliverable(f"event name {event.name!r} is not mapped to a webhook type (webhook_events)")
        if self._signer is None:
            raise Undeliverable("no webhook_secret to sign with")
        body = {
            "type": kind,
            "timestamp": _iso(event.received_at),
            "data": json.loads(dump_event(event, raw=self.settings.webhook_raw)),
        }
        message_id = f"msg_{uuid.uuid5(MESSAGE_IDS, f'{self.name}/{event.id}').hex}"
        sent_at = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
        # The signature covers the exact bytes sent: `body` as the worker encodes it (encode_json).
        content = encode_json(body).decode()
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(message_id, sent_at, content),
        }
        return Outgoing(url=self.url, json=body, headers=headers)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
