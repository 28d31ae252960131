"""PIMMS, a fork of Dub: the body of `POST /track/lead` (seed 002 and PIMMS' documented behaviour).

Unlike Dub: a click id is always needed (no deferred lookup, no `deferred` mode) and
the customer id is `externalId`; PIMMS does not know `customerExternalId`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict, field_validator
from pydantic_core import PydanticCustomError

from leadrelay.dialects.common import Url, length, validate, whole_number
from leadrelay.dialects.dub import CustomerEmail, EventName, ExternalId, Name, track_lead_event
from leadrelay.dialects.base import FieldError
from leadrelay.event import LeadEvent

if TYPE_CHECKING:
    from leadrelay.protocol import Envelope

MODES = ("async", "wait")


def check_mode(value: str) -> str:
    """PIMMS tracks `async` (the default) or `wait`."""
    if value not in MODES:
        raise PydanticCustomError("mode", "must be 'async' or 'wait' (PIMMS has no 'deferred' mode)")
    return value


class TrackLead(BaseModel):
    """`POST https://api.pimms.io/track/lead`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    clickId: Annotated[str, Strict(), AfterValidator(length(1))]
    eventName: EventName
    externalId: ExternalId | None = None
    customerName: Name | None = None
    customerEmail: CustomerEmail | None = None
    customerAvatar: Url | None = None
    eventQuantity: Annotated[int, BeforeValidator(whole_number(1))] | None = None
    metadata: dict[str, Any] | None = None
    mode: Annotated[str, Strict(), AfterValidator(check_mode)] = "async"

    @field_validator("externalId", "mode", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("string_type", "must be a string")
        return value


def dub_name_errors(payload: dict[str, Any]) -> list[FieldError]:
    """A Dub-shaped body would lose its customer id at PIMMS: say so."""
    if "customerExternalId" not in payload:
        return []
    message = "PIMMS does not know customerExternalId (Dub's name): send the customer id as externalId"
    return [FieldError(path="customerExternalId", message=message, rule="dub_property")]


class PimmsDialect:
    """PIMMS' lead tracking body."""

    name = "pimms"

    def configured(self, settings: object) -> PimmsDialect:
        return self

    def parse(self, envelope: Envelope) -> LeadEvent:
        payload = envelope.payload
        renamed = dub_name_errors(payload)
        rest = {k: v for k, v in payload.items() if k != "customerExternalId"}
        body = validate(TrackLead, rest, renamed)
        return track_lead_event(envelope, self.name, body, body.externalId, {"pimms": body.clickId})

    def answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        return None


DIALECT = PimmsDialect()
