"""Dub: the body of `POST /track/lead` (seed 004), also in its older shape with `externalId` (seed 001).

Dub has one `customerName`; it is kept whole in `customer.first_name` (so
`customer.name` gives it back unchanged) rather than split on a guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict, field_validator
from pydantic_core import PydanticCustomError

from leadrelay.dialects.common import Email, Str, Url, json_length, length, validate, whole_number
from leadrelay.dialects.base import FieldError
from leadrelay.event import Customer, LeadEvent

if TYPE_CHECKING:
    from leadrelay.protocol import Envelope

MAX_METADATA = 10_000
"""Dub (and PIMMS) cap `JSON.stringify(metadata)` at this many characters."""
MODES = ("async", "wait", "deferred")
Mode = Literal["async", "wait", "deferred"]


def not_blank(value: str) -> str:
    """Dub trims names and ids before checking them: spaces alone are empty."""
    if value and not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


EventName = Annotated[str, Strict(), AfterValidator(length(1, 255)), AfterValidator(not_blank)]
ExternalId = Annotated[str, Strict(), AfterValidator(length(1, 100)), AfterValidator(not_blank)]
Name = Annotated[str, Strict(), AfterValidator(length(0, 100))]
CustomerEmail = Annotated[Email, AfterValidator(length(0, 100))]


def metadata_size(value: dict[str, Any]) -> dict[str, Any]:
    """Dub caps `JSON.stringify(metadata)` at 10,000 characters."""
    if json_length(value) > MAX_METADATA:
        raise PydanticCustomError("metadata_size", "must be at most 10,000 characters long once written as JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(metadata_size)]


class TrackLead(BaseModel):
    """`POST /track/lead`. The customer id is `customerExternalId`, or `externalId` in older clients."""

    model_config = ConfigDict(extra="forbid", strict=True)

    clickId: Str
    eventName: EventName
    customerExternalId: ExternalId | None = None
    externalId: ExternalId | None = None
    customerName: Name | None = None
    customerEmail: CustomerEmail | None = None
    customerAvatar: Url | None = None
    mode: Mode = "async"
    eventQuantity: Annotated[int, BeforeValidator(whole_number(1, 100))] | None = None
    metadata: Metadata | None = None

    @field_validator("customerExternalId", "externalId", "mode", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("string_type", "must be a string")
        return value

    @property
    def customer_id(self) -> str | None:
        return self.customerExternalId or self.externalId


def customer_id_errors(payload: dict[str, Any]) -> list[FieldError]:
    """Exactly one of customerExternalId and its older name externalId."""
    given = [key for key in ("customerExternalId", "externalId") if key in payload]
    if not given:
        return [FieldError(path="customerExternalId", message="required property is missing", rule="missing")]
    if len(given) == 2:
        message = "give customerExternalId or its older name externalId, not both"
        return [FieldError(path="externalId", message=message, rule="conflict")]
    return []


class TrackLeadBody(Protocol):
    """What Dub's and PIMMS's track-lead bodies share (PIMMS is a Dub fork)."""

    @property
    def eventName(self) -> str: ...
    @property
    def customerName(self) -> str | None: ...
    @property
    def customerEmail(self) -> str | None: ...
    @property
    def customerAvatar(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def eventQuantity(self) -> int | None: ...
    @property
    def metadata(self) -> Any: ...


def track_lead_event(
    envelope: Envelope, dialect: str, body: TrackLeadBody, external_id: str | None, click_ids: dict[str, str]
) -> LeadEvent:
    """The canonical event of a validated track-lead body; customerName is kept whole in first_name."""
    return LeadEvent(
        id=envelope.id,
        name=body.eventName,
        dialect=dialect,
        customer=Customer(
            external_id=external_id,
            first_name=body.customerName,
            emails=[body.customerEmail] if body.customerEmail else [],
            avatar=body.customerAvatar,
        ),
        click_ids=click_ids,
        mode=body.mode,
        quantity=body.eventQuantity,
        properties=dict(body.metadata or {}),
        raw=envelope.payload,
    )


class DubDialect:
    """Dub's lead tracking body."""

    name = "dub"

    def configured(self, settings: object) -> DubDialect:
        return self

    def parse(self, envelope: Envelope) -> LeadEvent:
        body = validate(TrackLead, envelope.payload, customer_id_errors(envelope.payload))
        return track_lead_event(envelope, self.name, body, body.customer_id, {"dub": body.clickId} if body.clickId else {})

    def answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        return None


DIALECT = DubDialect()
