"""The fast path: a parsed batch checked in one call to pydantic-core, when that is provably exact.

The exact rules (leadrelay.dialects) run event by event, partly in Python, and give
precise errors. Most beacons are valid, so the collector first hands the parsed batch
to one compiled schema, the union of the dialects' checked envelopes, and when it
passes, validates none of them again: each is stored as it arrived (leadrelay.arrival),
and mapped to its event without validation when routing needs it. It is taken only when it
cannot differ from the exact path:

- the body holds no astral character (UTF-8 lead byte 0xF0-0xF4, or a \\uD8xx escape):
  the schema counts code points, the vendors count UTF-16 code units, and the two
  agree without one;
- it holds no \\uDxxx escape at all, so no lone surrogate either;
- every event passes its dialect's checked schema, which is never looser than its
  exact rules (tests/test_fastpath.py holds the two against each other).

Anything else, valid or not, goes the exact way, which writes the errors. On a valid
beacon the fast path saves a third of the collect endpoint's CPU (31% in
`bench/collect_app.py --without fastpath`). The schema
checks the very objects the exact path would see (the same parser made them); its
output is not used, as it would order keys as the schema does, not as the client sent them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from leadrelay.dialects.base import CheckedDialect, Dialect
from leadrelay.protocol import CheckedEnvelope

ASTRAL_LEAD_BYTE = 0xF0


def escapes_a_surrogate(body: bytes) -> bool:
    """Whether the JSON text holds a \\uDxxx escape: half of a pair, or a lone surrogate (the only way
    to write one in valid UTF-8), so whether an astral character or broken text may be in it."""
    return b"\\" in body and (b"\\ud" in body or b"\\uD" in body)  # one memchr when nothing is escaped


def _holds_astral_byte(body: bytes) -> bool:
    return not body.isascii() and max(body) >= ASTRAL_LEAD_BYTE


class FastPath:
    """Recognises batches of `{"events": [...]}` whose every event a checked dialect takes."""

    def __init__(self, dialects: Mapping[str, Dialect], max_events: int) -> None:
        self.dialects: dict[str, CheckedDialect] = {
            name: dialect for name, dialect in dialects.items() if isinstance(dialect, CheckedDialect)
        }
        # The adapter's compiled validator, called directly: TypeAdapter.validate_python's
        # keyword handling in Python is 7% of the check's time on a beacon.
        self._check: Callable[[Any], Any] | None = None
        envelopes = tuple(
            CheckedEnvelope[Literal[name], dialect.checked_type, dialect.checked_payload]  # type: ignore[valid-type]
            for name, dialect in self.dialects.items()
        )
        if envelopes:
            event = Annotated[Union[envelopes], Field(discriminator="dialect")]  # type: ignore[valid-type]
            batch = TypedDict(  # type: ignore[operator]
                "CheckedBatch", {"events": Annotated[list[event], Field(min_length=1, max_length=max_events)]}
            )
            batch.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)
            self._check = TypeAdapter(batch).validator.validate_python

    def takes(self, document: Any, body: bytes, surrogate_escapes: bool) -> bool:
        """Whether every event of `document` (parsed from `body`) is surely valid: no need for the exact path.

        `surrogate_escapes` is `escapes_a_surrogate(body)`, which the collector has already asked.
        """
        if self._check is None or surrogate_escapes or _holds_astral_byte(body):
            return False
        try:
            self._check(document)
        except ValidationError:
            return False
        return True
