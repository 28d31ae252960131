"""DATA Reshape's server API for a site's backend: `POST {prefix}/reshape/standard/event?id=SCRIPT_ID`
(seed 003's path) and `POST {prefix}/webhooks/reshape/event?id=SCRIPT_ID` (the newer docs' path).

Reshape's own curl works with the host replaced by the site's leadrelay (`https://<site>{prefix}`)
and `X-Dre-Access-Token` holding a leadrelay server key, not Reshape's token (which only leadrelay
holds, and sends on). The body is judged by the reshape dialect (`cookies` as a map or a list of
`{name, value}`, forwarded as the map; `consent` with an optional `id`). An event is stored once per
script id and `event.id`, Reshape's dedup key. Reshape documents no answer body nor error codes: the
answer is `{"status": "ok", "duplicate": bool}`, a refusal `{"status": "error", "code", "message"}`
(with the field `errors`, as /lr/e gives them, for a body that breaks Reshape's rules), as the
strict fake answers (tests/fakes/vendors.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from leadrelay.caller import Caller
from leadrelay.errors import BadRequest, NotFound, Refused
from leadrelay.protocol import Result
from leadrelay.vendor_api.door import Call, InvalidBody, VendorDoor, derived_id, json_answer, random_id, with_refusal_headers

if TYPE_CHECKING:
    from leadrelay.app import Service

SCRIPT_ID = re.compile(r"[A-Z0-9]{8}")
TOKEN_HEADER = b"x-dre-access-token"
WANTED = "X-Dre-Access-Token: <one of server_keys> (a leadrelay server key, not your Reshape token)"


class ReshapeEvent(VendorDoor):
    vendor = "Reshape"
    dialect = "reshape"
    invalid_status = 400
    invalid_code = "bad_request"

    def authenticate(self, caller: Caller) -> None:
        self.server_key_of(caller, TOKEN_HEADER, WANTED)

    def check_query(self, call: Call) -> None:
        script = call.request.query_params.get("id")
        if script is None:
            raise BadRequest("id: the script id is missing: POST ...?id=SCRIPT_ID")
        if not SCRIPT_ID.fullmatch(script):
            raise BadRequest("id: a Reshape script id is 8 upper-case letters and digits")
        configured = self.settings.reshape_script_id
        if configured and script != configured:
            raise NotFound(f"unknown script id {script}: this site's is reshape_script_id")

    def envelope(self, body: dict[str, Any], call: Call) -> dict[str, Any]:
        event = body.get("event")
        source_id = event.get("id") if isinstance(event, dict) else None
        script = call.request.query_params["id"]
        if isinstance(source_id, str) and source_id:
            event_id = derived_id("reshape", script, source_id)
        else:
            event_id = random_id("reshape")  # an event without an id is not de-duplicated (lead events need one)
        return {"id": event_id, "dialect": self.dialect, "payload": body}

    async def answer(self, call: Call, result: Result) -> Response:
        return json_answer({"status": "ok", "duplicate": result["status"] == "duplicate"})

    def refused(self, refusal: Refused) -> Response:
        body: dict[str, Any] = {"status": "error", "code": refusal.code, "message": refusal.message}
        if isinstance(refusal, InvalidBody):
            body["errors"] = refusal.errors
        return with_refusal_headers(json_answer(body, refusal.status), refusal)


def doors(service: Service) -> dict[str, VendorDoor]:
    prefix = service.settings.path_prefix
    door = ReshapeEvent(service)
    return {f"{prefix}/reshape/standard/event": door, f"{prefix}/webhooks/reshape/event": door}
