"""Dialects: the vendor-shaped payloads leadrelay accepts, each validated exactly and mapped to a LeadEvent."""

from __future__ import annotations

from collections.abc import Iterable

from leadrelay.dialects import croct, dub, pimms, reshape
from leadrelay.dialects.base import Dialect, DialectError

DIALECTS: dict[str, Dialect] = {
    "croct": croct.DIALECT,
    "reshape": reshape.DIALECT,
    "dub": dub.DIALECT,
    "pimms": pimms.DIALECT,
}


def configured_dialects(croct_event_types: Iterable[str]) -> dict[str, Dialect]:
    """The registry with Croct taking the configured event types."""
    return {**DIALECTS, "croct": croct.CroctDialect(croct_event_types)}


__all__ = ["DIALECTS", "Dialect", "DialectError", "configured_dialects"]
