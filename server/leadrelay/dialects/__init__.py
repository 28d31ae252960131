"""Dialects: the vendor-shaped payloads leadrelay accepts, each validated exactly and mapped to a LeadEvent.

One file per vendor; leadrelay.vendors lists them.
"""

from __future__ import annotations

from leadrelay.dialects.base import Dialect, DialectError, FieldError

__all__ = ["Dialect", "DialectError", "FieldError"]
