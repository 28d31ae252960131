"""What the `leadrelay` command prints: text from the store, vendors and settings, made safe for a terminal.

Event ids, paths, error messages and vendors' answers come from strangers. Printed raw, an ESC
or CR in them could recolour, rewrite or hide the operator's screen, and a bidirectional
override could make a line read differently from what it holds. `printable` shows each such
character as a visible escape (`\\x1b`, `\\r`, `\\u202e`); `json_line` does the same inside JSON
strings, as JSON escapes, so the line stays valid JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls, DEL, C1 controls (a terminal may take U+009B as CSI), the soft hyphen, the
# invisible and bidirectional formatting characters, line and paragraph separators, the BOM,
# interlinear annotations, lone surrogates (which no terminal encoding can even print) and
# the invisible tag characters.
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
)

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: object) -> str:
    """`value` as text, with every control or invisible formatting character escaped."""
    text = value if isinstance(value, str) else str(value)
    return UNSAFE.sub(_escape, text)


def json_line(value: Any) -> str:
    """`value` as one line of JSON that is safe to print: non-ASCII text stays readable."""
    return json_safe(json.dumps(value, ensure_ascii=False, default=str))


def json_safe(text: str) -> str:
    """JSON text with the characters `printable` escapes written as JSON escapes.

    json.dumps and orjson escape C0 controls but pass DEL, C1 controls, U+2028 and the
    bidirectional overrides through raw. Outside its strings JSON is ASCII, so every such
    character is inside a string, where a \\u escape means the same.
    """
    return UNSAFE.sub(_json_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
