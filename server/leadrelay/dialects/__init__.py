"""Dialects: the vendor-shaped payloads leadrelay accepts, each validated exactly and mapped to a LeadEvent."""

from __future__ import annotations

from leadrelay.dialects import croct, dub, pimms, reshape
from leadrelay.dialects.base import Dialect, DialectError

DIALECTS: dict[str, Dialect] = {
    "croct": croct.DIALECT,
    "reshape": reshape.DIALECT,
    "dub": dub.DIALECT,
    "pimms": pimms.DIALECT,
}

__all__ = ["DIALECTS", "Dialect", "DialectError"]
