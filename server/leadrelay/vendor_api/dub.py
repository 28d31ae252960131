"""Dub's API for a site's backend: `POST {prefix}/dub/track/lead` and `/dub/track/sale`, as `api.dub.co` takes them.

The official SDKs reach it with the leadrelay URL as their server URL and a leadrelay server
key as their token: `Dub(token=..., server_url="https://<site>{prefix}/dub")` (Python),
`new Dub({token, serverURL: "https://<site>{prefix}/dub"})` (TypeScript). The body is judged
by the dub dialect (seed 004, and seed 001's older `externalId`); the answer and every refusal
are Dub's: `{click, link, customer}`, and `{"error": {code, message, doc_url}}` with the code
Dub gives the status, the one the SDKs read to raise their typed errors (Dub has none for 405, 413,
415 or 503: those carry leadrelay's code, which the SDKs raise as their generic SDKError).

A lead is stored once per customer id and lower-cased event name (Dub's own dedup key): a
repeat answers 200 with `link: null`, as Dub answers one. With `mode: "wait"` the answer waits
(at most `wait_mode_timeout_s`) for the worker's delivery to Dub, and is Dub's own: its 200, or
its 4xx for what the lead got wrong (an unknown click: 404). Anything else (no answer yet, a
5xx being retried, Dub refusing the site's Dub key) is answered with what leadrelay knows.

A sale (`track/sale`, the dub dialect's `"type": "sale"`) is stored once per invoice id, Dub's
idempotency key: a repeat answers what the first call was answered, as Dub answers from its cache.
The answer is `{eventName, customer, sale}` as leadrelay knows it when the sale is stored (Dub's
own answer comes later, to the worker): `customer.id` is the customer's external id, since Dub's
own customer id is Dub's to give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from leadrelay.caller import Caller
from leadrelay.dialects.dub import SALE_TYPE, sale_event_id
from leadrelay.errors import Refused, Unauthorized
from leadrelay.protocol import Result
from leadrelay.store import DeliveryRow
from leadrelay.trust.server_keys import WANTED
from leadrelay.vendor_api.door import Call, InternalError, VendorDoor, derived_id, json_answer, random_id, with_refusal_headers

if TYPE_CHECKING:
    from leadrelay.app import Service

DOC_URL = "https://dub.co/docs/api-reference/errors#"
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    410: "invite_expired",
    422: "unprocessable_entity",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
}
"""The code Dub gives each status: the SDKs raise their typed error only when `error.code` is this literal."""


def error_body(status: int, message: str, code: str, doc_url: str = DOC_URL) -> dict[str, Any]:
    """Dub's error envelope; `code` counts only for a status Dub has no code for (413, 415, 503)."""
    code = CODES.get(status, code)
    return {"error": {"code": code, "message": message, "doc_url": doc_url + code.replace("_", "-", 1)}}


def refusal_answer(refusal: Refused, doc_url: str = DOC_URL) -> Response:
    """A refusal in Dub's envelope, with its headers (Retry-After, WWW-Authenticate)."""
    body = error_body(refusal.status, refusal.message, refusal.code, doc_url)
    return with_refusal_headers(json_answer(body, refusal.status), refusal)


def lead_answer(payload: dict[str, Any]) -> dict[str, Any]:
    """`{click, link, customer}` as leadrelay knows it without Dub: the call's own click and customer, `link: null`."""
    return {
        "click": {"id": payload.get("clickId")},
        "link": None,
        "customer": {
            "name": payload.get("customerName"),
            "email": payload.get("customerEmail"),
            "avatar": payload.get("customerAvatar"),
            "externalId": payload.get("customerExternalId") or payload.get("externalId"),
        },
    }


def lead_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """The vendor's dedup key of a track-lead body: customer id (or, without one, the click) and event name."""
    customer = body.get("customerExternalId", body.get("externalId"))
    if not isinstance(customer, str) or not customer:
        customer = body.get("clickId")
    name = body.get("eventName")
    if not isinstance(customer, str) or not isinstance(name, str):
        return None  # the dialect refuses it
    return customer, name.lower().replace(" ", "-")


class DubLead(VendorDoor):
    """`POST {prefix}/<vendor>/track/lead`: Dub's track-lead call, and PIMMS's (a Dub fork)."""

    vendor = "Dub"
    dialect = "dub"
    destination: ClassVar[str] = "dub"
    doc_url: ClassVar[str] = DOC_URL
    key_setting: ClassVar[str] = "dub_api_key"

    def authenticate(self, caller: Caller) -> None:
        if not self.service.trust.server_keys.held_by(caller):  # raises for a Bearer token that is not a key
            raise Unauthorized(f"no key was sent: send {WANTED} (a leadrelay server key, not your {self.vendor} API key)")

    def envelope(self, body: dict[str, Any], call: Call) -> dict[str, Any]:
        key = lead_key(body)
        kind = "deferred" if body.get("mode") == "deferred" else "lead"  # Dub keeps no dedup key for deferred
        prefix = f"{self.dialect}.{kind}"
        return {"id": random_id(prefix) if key is None else derived_id(prefix, *key), "dialect": self.dialect, "payload": body}

    async def answer(self, call: Call, result: Result) -> Response:
        known = lead_answer(call.payload)
        if result["status"] == "accepted" and call.payload.get("mode") == "wait":
            row = await self.delivery(call.envelope["id"], self.destination)
            if row is not None:
                return self.vendor_answer(row, known)
        return json_answer(known)

    def vendor_answer(self, row: DeliveryRow, known: dict[str, Any]) -> Response:
        """The vendor's own answer to the delivery, when it is one for the caller: its 200, or its 4xx."""
        kept, status = row.response, row.last_status
        if row.state != "dead":
            return json_answer(kept if isinstance(kept, dict) and isinstance(kept.get("click"), dict) else known)
        if status in (401, 403):  # the site's vendor key, not the caller's: a fault of this service
            message = (
                f"{self.vendor} refused the site's {self.vendor} API key (HTTP {status}): the lead is stored and"
                f" dead-lettered; fix {self.key_setting}, then `leadrelay replay`"
            )
            return self.refused(InternalError(message))
        if status is None or not 400 <= status < 500:
            return json_answer(known)
        error = kept.get("error") if isinstance(kept, dict) else None
        message = error["message"] if isinstance(error, dict) and isinstance(error.get("message"), str) else row.last_error
        return json_answer(error_body(status, message or f"HTTP {status}", "error", self.doc_url), status)

    def refused(self, refusal: Refused) -> Response:
        return refusal_answer(refusal, self.doc_url)


def sale_answer(payload: dict[str, Any]) -> dict[str, Any]:
    """`{eventName, customer, sale}` of a valid track-sale body, with Dub's defaults filled in as Dub fills them."""
    external_id = payload["customerExternalId"]
    return {
        "eventName": payload.get("eventName", "Purchase"),
        "customer": {
            "id": external_id,
            "name": payload.get("customerName"),
            "email": payload.get("customerEmail"),
            "avatar": payload.get("customerAvatar"),
            "externalId": external_id,
        },
        "sale": {
            "amount": payload["amount"],
            "currency": payload.get("currency", "usd").lower(),
            "paymentProcessor": payload.get("paymentProcessor", "custom"),
            "invoiceId": payload.get("invoiceId"),
            "metadata": payload.get("metadata"),
        },
    }


class DubSale(DubLead):
    """`POST {prefix}/dub/track/sale`: Dub's track-sale call, with the track-lead call's key, limits and refusals."""

    def envelope(self, body: dict[str, Any], call: Call) -> dict[str, Any]:
        # A sale with an invoice id is stored under an id derived from it (the dub dialect's sale_event_id).
        return {"id": random_id("dub.sale"), "dialect": self.dialect, "type": SALE_TYPE, "payload": body}

    async def answer(self, call: Call, result: Result) -> Response:
        payload = call.payload
        invoice = payload.get("invoiceId")
        if result["status"] == "duplicate" and isinstance(invoice, str) and invoice:
            first = await run_in_threadpool(self.service.store.get_event, sale_event_id(invoice))
            if first is not None:  # the first call's answer, as Dub keeps it for an invoice id
                payload = first.raw
        return json_answer(sale_answer(payload))


def doors(service: Service) -> dict[str, VendorDoor]:
    """Dub's paths under the prefix: what the SDKs post to `{server_url}/track/...`."""
    prefix = service.settings.path_prefix
    return {f"{prefix}/dub/track/lead": DubLead(service), f"{prefix}/dub/track/sale": DubSale(service)}
