"""The dialect registry, and the plain messages every dialect's errors share."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from leadrelay.vendors import DIALECTS
from leadrelay.dialects.base import errors_from_validation, format_path
from leadrelay.dialects.common import is_url, js_length


def positive(value: int) -> int:
    if value <= 0:
        raise ValueError("must be positive")
    return value


class Sample(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    kind: Literal["a", "b"] = "a"
    count: Annotated[int, AfterValidator(positive)] = 1
    tags: list[str] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list, max_length=1)


@pytest.mark.parametrize("name", ["croct", "reshape", "dub", "pimms"])
def test_every_dialect_is_registered_under_its_name(name: str) -> None:
    dialect = DIALECTS[name]
    assert dialect.name == name
    assert callable(dialect.parse) and callable(dialect.answer)


def test_pydantic_errors_read_as_plain_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate({"kind": "c", "count": 0, "tags": ["x", 1], "ids": ["a", "b"], "extra": True})

    errors = {e.path: (e.message, e.rule) for e in errors_from_validation(caught.value, prefix=("lead",))}

    assert errors == {
        "lead.name": ("required property is missing", "missing"),
        "lead.kind": ("must be 'a' or 'b'", "literal_error"),
        "lead.count": ("must be positive", "value_error"),
        "lead.tags[1]": ("must be a string", "string_type"),
        "lead.ids": ("must have at most 1 item", "too_long"),
        "lead.extra": ("unknown property", "extra_forbidden"),
    }


@pytest.mark.parametrize(
    ("loc", "path"),
    [(("lead", "address", "state"), "lead.address.state"), (("user", "email", 0), "user.email[0]"), ((), "(root)")],
)
def test_paths_are_dotted_with_list_indexes(loc: tuple[int | str, ...], path: str) -> None:
    assert format_path(loc) == path


def test_lengths_are_counted_as_javascript_counts_them() -> None:
    assert (js_length("abc"), js_length("é"), js_length("🐊")) == (3, 1, 2)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://croct.com", True),
        ("http://localhost:8080/a?b=c", True),
        ("ftp://files.example.com/x", True),
        ("http: //croct.com", False),
        ("//croct.com", False),
        ("https://", False),
        ("https://exa\tmple.com", False),
    ],
)
def test_well_formed_urls(value: str, ok: bool) -> None:
    assert is_url(value) is ok
