"""The wire protocol of the collect endpoint: a batch of envelopes in, one result per envelope out."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, StringConstraints, create_model
from typing_extensions import NotRequired, TypedDict

from leadrelay.dialects.base import CHECKED, FieldError
from leadrelay.vendors import CLICK_IDS, DIALECTS

DialectName = Literal[tuple(DIALECTS)]  # type: ignore[valid-type]

EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class PageContext(BaseModel):
    """What the browser knew when the event was made."""

    model_config = CHECKED

    url: str | None = Field(default=None, max_length=4096)
    referrer: str | None = Field(default=None, max_length=4096)
    landing_url: str | None = Field(default=None, max_length=4096)


ClientClickIds: type[BaseModel] = create_model(
    "ClientClickIds",
    __config__=CHECKED,
    __doc__="Click ids the browser could read when the visitor acted, by vendor (the cookies count when absent).",
    **{vendor: (str | None, Field(default=None, min_length=1, max_length=190)) for vendor in CLICK_IDS},  # type: ignore[call-overload]
)


class Envelope(BaseModel):
    """One event of a batch, as the snippet (or any client) sends it.

    Strict, as the payloads and the fast path's `CheckedEnvelope` are: exact JSON types,
    so `"ts": "1"`, `"ts": true` and `"ts": 1.0` are not an integer.
    """

    model_config = CHECKED

    id: str = Field(pattern=EVENT_ID_PATTERN, description="client-generated id, the dedup key")
    dialect: DialectName
    type: str | None = Field(default=None, min_length=1, max_length=100)
    payload: dict[str, Any]
    context: PageContext | None = None
    click_ids: ClientClickIds | None = None
    ts: int | None = Field(default=None, ge=0, description="client clock, ms since the epoch")


Status = Literal["accepted", "duplicate", "rejected"]


class Result(TypedDict, total=False):
    """One event's verdict in the answer: `{"results": [Result, ...]}`, in the batch's order."""

    id: str | None
    status: Status
    errors: list[dict[str, str]]  # FieldErrors, when rejected
    event: dict[str, Any]  # the processed event, when the dialect has one (Croct)


# -- Checked envelopes: the fast path's schema (see leadrelay.fastpath) -------------------

EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
Url4096 = Annotated[str, StringConstraints(max_length=4096)]
ClickId = Annotated[str, StringConstraints(min_length=1, max_length=190)]


class CheckedPageContext(TypedDict, total=False):
    __pydantic_config__ = CHECKED  # type: ignore[misc]

    url: Url4096 | None
    referrer: Url4096 | None
    landing_url: Url4096 | None


CheckedClickIds = TypedDict(  # type: ignore[misc]
    "CheckedClickIds", {vendor: ClickId | None for vendor in CLICK_IDS}, total=False
)
CheckedClickIds.__pydantic_config__ = CHECKED  # type: ignore[attr-defined]


DialectT = TypeVar("DialectT")
TypeT = TypeVar("TypeT")
PayloadT = TypeVar("PayloadT")


class CheckedEnvelope(TypedDict, Generic[DialectT, TypeT, PayloadT]):
    """An envelope as `Envelope` takes it, with a `type` and a payload its dialect checks in one pass."""

    __pydantic_config__ = CHECKED  # type: ignore[misc]

    id: EventId
    dialect: DialectT
    type: TypeT
    payload: PayloadT
    context: NotRequired[CheckedPageContext | None]
    click_ids: NotRequired[CheckedClickIds | None]
    ts: NotRequired[Annotated[int, Field(ge=0)] | None]
