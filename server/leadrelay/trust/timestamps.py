"""An event's own clock: `ts`, when it says the event was made, far from when the server received it.

A client's clock may be wrong, and the snippet keeps unsent events for a later page
load, so a ts outside the window is not refused; the event is marked for the operator.
The arithmetic stays in integers: `ts` is any non-negative JSON integer.
"""

from __future__ import annotations

from typing import Any


def outside_window(ts: Any, received_at: float, window_s: float) -> str | None:
    """Why `ts` (ms since the epoch) lies outside `window_s` of `received_at` (s), or None when it does not.

    The message names no offset: the event keeps both times, and the same event (a retry,
    another process) gets the same mark whenever it arrives.
    """
    if not isinstance(ts, int):
        return None
    offset_ms = ts - int(received_at * 1000)
    if abs(offset_ms) <= window_s * 1000:
        return None
    side = "after" if offset_ms > 0 else "before"
    return f"ts lies more than ts_window_s ({window_s:g} s) {side} the time the server received the event"
