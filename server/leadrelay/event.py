"""The canonical lead event: what every dialect produces and every destination consumes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Address(_Model):
    street: str | None = None
    district: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    postal_code: str | None = None


class Customer(_Model):
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    avatar: str | None = None
    address: Address | None = None
    company: str | None = None
    company_url: str | None = None
    job_title: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str | None:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None


class ClickIds(_Model):
    dub: str | None = None
    pimms: str | None = None


class Context(_Model):
    url: str | None = None
    referrer: str | None = None
    landing_url: str | None = None
    page_type: str | None = None
    environment: str | None = None
    data_source: str | None = None
    user_agent: str | None = None
    ip: str | None = None


class Consent(_Model):
    analytics: bool | None = None
    personalization: bool | None = None
    marketing: bool | None = None


class LeadEvent(_Model):
    """One lead event, whatever dialect it arrived in.

    `id` is the deduplication key: the client-generated id of the beacon, kept
    through every retry and sent on to vendors that de-duplicate on it.
    """

    id: str
    name: str
    dialect: str
    value: float | None = None
    currency: str | None = None
    exchange_rate: float | None = None
    source_id: str | None = None
    """the id the payload itself gives the event (Reshape event.id, Croct leadId)"""
    customer: Customer = Field(default_factory=Customer)
    click_ids: ClickIds = Field(default_factory=ClickIds)
    visitor_id: str | None = None
    context: Context = Field(default_factory=Context)
    consent: Consent | None = None
    cookies: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    mode: str | None = None
    quantity: int | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    received_at: float = 0.0
