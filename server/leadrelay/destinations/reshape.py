"""DATA Reshape: POST {reshape_base_url}{reshape_path}?id=SCRIPT_ID with X-Dre-Access-Token (seed 003).

A sale goes as Reshape's purchase event, `checkout_completed` (VENDORS.md): its value in the
currency's main unit, its currency in ISO 4217 upper case, its id the invoice id when it has
one (Reshape's deduplication key), its payment processor among its properties.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from leadrelay.destinations.base import WILDCARD, BaseUrl, Destination, Outgoing, Undeliverable
from leadrelay.dialects.common import email_or_sha256, phone_or_sha256
from leadrelay.event import Kind, LeadEvent

MAPPED = {
    "event": {"name", "id", "value", "currency", "exchange_rate", "properties"},
    "context": {"url", "page_type", "environment", "data_source", "user_agent", "override_ip", "overide_ip"}
    | {"landing_url", "referring_url"},
    "user": {"id", "email", "phone", "first_name", "last_name", "country", "region", "city", "street"}
    | {"postal_code", "properties"},
}
"""The keys of each section that leadrelay builds from its canonical event; Reshape's other keys pass through."""


class ReshapeSettings(BaseModel):
    reshape_base_url: BaseUrl | None = None
    reshape_script_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{8}$")
    reshape_access_token: SecretStr | None = None
    reshape_path: str = "/reshape/standard/event"
    reshape_events: dict[str, str] = Field(default_factory=lambda: {"leadGenerated": "lead_created"})
    reshape_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    reshape_sales: bool = True
    """Whether sales go to Reshape too, as checkout_completed."""
    reshape_rate_per_minute: int = Field(default=600, ge=0)  # Reshape publishes no limit

    @field_validator("reshape_path")
    @classmethod
    def _reshape_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


PURCHASE = "checkout_completed"
"""Reshape's name for a purchase: every sale is sent as one."""


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}


class ReshapeDestination(Destination):
    name = "reshape"
    dialect = "reshape"

    def __init__(self, settings: ReshapeSettings) -> None:
        super().__init__(settings)
        self.url = f"{settings.reshape_base_url}{settings.reshape_path}"
        self.params = {"id": settings.reshape_script_id or ""}
        token = settings.reshape_access_token.get_secret_value() if settings.reshape_access_token else ""
        self.headers = {"X-Dre-Access-Token": token}
        self._token = token
        self.kinds = ("lead", "sale") if settings.reshape_sales else ("lead",)

    @classmethod
    def missing(cls, settings: ReshapeSettings) -> str | None:
        lacking = [
            name
            for name in ("reshape_base_url", "reshape_script_id", "reshape_access_token")
            if not getattr(settings, name)
        ]
        return f"no {', '.join(lacking)}" if lacking else None

    @property
    def events(self) -> dict[str, str]:
        return self.settings.reshape_events  # type: ignore[no-any-return]

    def names(self, kind: Kind) -> dict[str, str]:
        return {WILDCARD: PURCHASE} if kind == "sale" else self.events

    @property
    def rate_per_minute(self) -> int:
        return self.settings.reshape_rate_per_minute  # type: ignore[no-any-return]

    def secrets(self) -> list[str]:
        return [self._token]

    def prepare(self, event: LeadEvent) -> Outgoing:
        name = self.event_name(event)
        if name is None and event.kind not in self.kinds:
            raise Undeliverable(f"a {event.kind} is not sent to Reshape (reshape_sales is off)")
        if name is None:
            raise Undeliverable(f"event name {event.name!r} is not mapped to a Reshape event (reshape_events)")
        body: dict[str, Any] = {
            "event": self._event(event, name),
            "context": self._context(event),
            "user": self._user(event),
        }
        from leadrelay.vendors import CLICK_IDS  # the registry imports this module: read it when sending

        cookies = {**event.cookies}
        for vendor, click in event.click_ids.items():
            cookies[CLICK_IDS[vendor]] = click
        if cookies:
            body["cookies"] = cookies
        if event.consent is not None:
            consent = _compact(asdict(event.consent))
            if consent:
                body["consent"] = consent
        if event.dialect == "reshape":
            _keep_unlisted(body, event.raw)
        if not body["user"]:
            del body["user"]
        url = f"{self.url}?id={self.params['id']}"
        return Outgoing(url=url, json=body, headers=self.headers)

    def _event(self, event: LeadEvent, name: str) -> dict[str, Any]:
        properties = event.properties
        if event.sale is not None:
            properties = {**properties, "payment_processor": event.sale.payment_processor}
        return _compact(
            {
                "name": name,
                "id": event.source_id or event.id,
                "value": event.value if event.value is not None else 0,
                "currency": event.currency or self.settings.reshape_currency,
                "exchange_rate": event.exchange_rate,
                "properties": properties,
            }
        )

    @staticmethod
    def _context(event: LeadEvent) -> dict[str, Any]:
        ctx = event.context
        return _compact(
            {
                "url": ctx.url,
                "page_type": ctx.page_type,
                "environment": ctx.environment,
                "data_source": ctx.data_source or "website",
                "user_agent": ctx.user_agent,
                "override_ip": ctx.ip,
                "landing_url": ctx.landing_url,
                "referring_url": ctx.referrer,
            }
        )

    @staticmethod
    def _user(event: LeadEvent) -> dict[str, Any]:
        c = event.customer
        address = c.address
        extra = _compact(
            {
                "company": c.company,
                "company_url": c.company_url,
                "job_title": c.job_title,
                "gender": c.gender,
                "birth_date": c.birth_date,
            }
        )
        return _compact(
            {
                "id": c.external_id,
                "email": [e for e in c.emails if _reshape_takes(email_or_sha256, e)],
                "phone": [p for p in c.phones if _reshape_takes(phone_or_sha256, p)],
                "first_name": c.first_name,
                "last_name": c.last_name,
                "country": address.country if address else None,
                "region": address.region if address else None,
                "city": address.city if address else None,
                "street": address.street if address else None,
                "postal_code": address.postal_code if address else None,
                "properties": {**extra, **c.custom},
            }
        )


def _reshape_takes(rule: Callable[[str], str], value: str) -> bool:
    """Whether `value` passes the Reshape dialect's own rule for user.email or user.phone.

    Other dialects' rules are looser (a Croct phone is any 1-30 characters): such a
    value is left out, so the rest of the lead still reaches Reshape.
    """
    try:
        rule(value)
    except PydanticCustomError:
        return False
    return True


def _keep_unlisted(body: dict[str, Any], raw: dict[str, Any]) -> None:
    """A Reshape event keeps what leadrelay has no canonical field for (user.orders_total_value, ...).

    A mapped key is never copied back, even when leadrelay left it out (an empty email list).
    """
    for section, mapped in MAPPED.items():
        given = raw.get(section)
        if not isinstance(given, dict):
            continue
        target = body.setdefault(section, {})
        for key, value in given.items():
            if key not in mapped and key not in target and value is not None:
                target[key] = value
