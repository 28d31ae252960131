"""PIMMS's API for a site's backend: `POST {prefix}/pimms/track/lead`, as `api.pimms.io/track/lead` takes it.

PIMMS is a fork of Dub: the same call, answer and error envelope (its doc_url on pimms.io),
judged by the pimms dialect (seed 002: `externalId`, modes `async` and `wait`). A lead is
stored once per customer id and lower-cased event name, as PIMMS de-duplicates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadrelay.vendor_api.door import VendorDoor
from leadrelay.vendor_api.dub import DubLead

if TYPE_CHECKING:
    from leadrelay.app import Service


class PimmsLead(DubLead):
    vendor = "PIMMS"
    dialect = "pimms"
    destination = "pimms"
    doc_url = "https://pimms.io/docs/api-reference/errors#"
    key_setting = "pimms_api_key"


def doors(service: Service) -> dict[str, VendorDoor]:
    prefix = service.settings.path_prefix
    return {f"{prefix}/pimms/track/lead": PimmsLead(service)}
