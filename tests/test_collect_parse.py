"""collect.parse_json reads every body as Python's json module does: the same values, or an error.

It tries pydantic-core's faster parser first; this holds the two together on generated
JSON (any Unicode, lone surrogates, control characters, huge and tiny numbers, NaN,
deep nesting) and on bytes cut or changed at random.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.collect import parse_json
from tests.support.fuzz import fuzz_settings

FUZZ = fuzz_settings(500)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(),
    st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)),
)
documents = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)), max_leaves=30
)


def same(a: Any, b: Any) -> bool:
    """Equal, type for type: 1 is not 1.0, and NaN is NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def python_reads(body: bytes) -> Any:
    """Python's json module, refusing NaN and Infinity, on strictly decoded text (a surrogate is not UTF-8)."""
    return json.loads(body.decode(json.detect_encoding(body)), parse_constant=_refuse)


def outcome(read: Callable[[bytes], Any], body: bytes) -> tuple[str, Any]:
    """("value", what `read` reads) or ("error", the type of what it raised)."""
    try:
        return "value", read(body)
    except (ValueError, RecursionError) as exc:
        return "error", type(exc)


def check(body: bytes) -> tuple[str, Any]:
    """Assert that parse_json reads `body` as Python's json module does; what parse_json gave."""
    expected, got = outcome(python_reads, body), outcome(parse_json, body)
    assert expected[0] == got[0], (body, expected, got)
    if expected[0] == "value":
        assert same(expected[1], got[1]), (body, expected, got)
    return got


def contains_nan_or_infinity(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(contains_nan_or_infinity(v) for v in value)
    if isinstance(value, dict):
        return any(contains_nan_or_infinity(v) for v in value.values())
    return False


@FUZZ
@given(document=documents, ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_generated_json_reads_the_same(document: Any, ascii_only: bool, indent: int | None) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only, indent=indent).encode("utf-8", "surrogatepass")
    if contains_nan_or_infinity(document):
        with pytest.raises(ValueError):  # NaN and Infinity are not JSON: a 400 at the endpoint
            parse_json(body)
        return
    kind, value = check(body)
    if kind == "value":
        assert same(value, document)
    else:  # only a lone surrogate written in UTF-8 is not read back
        assert not ascii_only


@FUZZ
@given(document=documents, data=st.data())
def test_damaged_json_reads_the_same_or_fails_the_same(document: Any, data: st.DataObject) -> None:
    text = json.dumps(document, ensure_ascii=data.draw(st.booleans()))
    body = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.sampled_from([0, 0x0C, 0x1F, 0x22, 0x2C, 0x5C, 0x5D, 0x7D, 0x80, 0xC3, 0xED, 0xEF, 0xF0, 0xFF]))
        if action == "insert":
            body[at:at] = bytes([byte])
        elif at < len(body):
            body[at : at + 1] = b"" if action == "delete" else bytes([byte])
    check(bytes(body))


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf{}",  # a BOM
        b"[" * 300 + b"]" * 300,  # deeper than pydantic-core's limit
        b"[" * 2000 + b"]" * 2000,  # deeper than Python's
        b'"\\ud800"',  # an escaped lone surrogate
        b'"\xed\xa0\x80"',  # a surrogate written in UTF-8: not UTF-8
        b"1" * 5000,  # more digits than Python reads
        b"1e400",
        b"-0",
        b'{"a":1,"a":2}',
        '{"a": 1}'.encode("utf-16"),
    ],
)
def test_edge_cases_read_the_same(body: bytes) -> None:
    check(body)


def test_a_surrogate_written_in_utf8_is_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_json('{"a": "x\udfffy"}'.encode("utf-8", "surrogatepass"))
