"""Drop-in vendor APIs: a site's backend keeps its Dub, PIMMS or Reshape client code and points
it at leadrelay (its base URL, and a leadrelay server key as its token).

One file per vendor (dub, pimms, reshape), each listing its paths under `path_prefix` in
`doors`; `door` holds what they share. Every call goes through the collect endpoint's pipeline
(judge, persist, acknowledge, deliver) and is answered, refusals included, in the vendor's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from leadrelay.caller import route_path
from leadrelay.errors import Refused
from leadrelay.vendor_api import dub, pimms, reshape
from leadrelay.vendor_api.door import VendorDoor

if TYPE_CHECKING:
    from leadrelay.app import Service


class VendorApis:
    """Every door, by path."""

    def __init__(self, service: Service) -> None:
        self.doors: dict[str, VendorDoor] = {**dub.doors(service), **pimms.doors(service), **reshape.doors(service)}

    def routes(self) -> list[Route]:
        """Every method reaches the door (an ASGI app: Starlette gives it every method), which answers one it does not
        take in its vendor's shape (405, with Allow)."""
        return [Route(path, door) for path, door in self.doors.items()]

    def answer(self, scope: Scope, refusal: Refused) -> Response:
        """A refusal of the request middleware (Host header, rate limits) in the shape its path's vendor answers in."""
        door = self.doors.get(route_path(scope))
        return refusal.response() if door is None else door.refused(refusal)


__all__ = ["VendorApis", "VendorDoor"]
