"""What the operator is told about an accepted event: a mark's code (to count and filter by) and its message.

An event is stored and delivered with its marks; `leadrelay events --held-back`,
`--marked` and `--count` list and count them.
"""

from __future__ import annotations

from leadrelay.event import Mark
from leadrelay.trust.clicks import HeldBack

CLICK_HELD_BACK = "click_held_back"
"""A click id the event claimed was not seen for its visitor: it was not forwarded."""
TS_OUTSIDE_WINDOW = "ts_outside_window"
"""The event's own clock (`ts`) is further than ts_window_s from the server's."""
MARKS = (CLICK_HELD_BACK, TS_OUTSIDE_WINDOW)


def held_back_mark(claim: HeldBack, click_path: str) -> Mark:
    message = (
        f"{claim.vendor} click id {claim.click_id!r} (from the {claim.source}) was not seen at {click_path}"
        " for this visitor: not forwarded"
    )
    return Mark(CLICK_HELD_BACK, message)


def codes(marks: list[Mark]) -> str | None:
    """The marks' codes as the store keeps them: sorted, comma-separated; None for none."""
    return ",".join(sorted({mark.code for mark in marks})) if marks else None
