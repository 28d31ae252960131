"""The rules a pydantic model or a checked TypedDict states, as a flat table that two of them can be compared by.

`rules(tp)` walks a type recursively and gives, for every path (`lead.firstName`;
`[]` for a list's items, `{}` for a map's keys, `.*` for its values), what each kind
of JSON value found there must satisfy: an object's properties, a string's length
bounds and format, a literal's choices, a number's bounds, a list's or a map's size.
A rule it does not know fails the walk, so a new kind of rule cannot go unseen.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import annotated_types
from pydantic import AfterValidator, BaseModel, StringConstraints, Strict
from pydantic.fields import FieldInfo
from typing_extensions import is_typeddict

from leadrelay.dialects.common import Length

Facts = dict[str, Any]
Rules = dict[str, dict[str, Facts]]
"""path -> kind of value ("object", "str", "literal", "number", "bool", "null", "list", "map", "any") -> its facts"""

DEFAULTS: dict[str, Callable[[], Facts]] = {
    "str": lambda: {"min_length": 0, "max_length": None, "formats": frozenset()},
    "number": lambda: {"ge": None, "le": None, "finite": False},
    "list": lambda: {"max_length": None},
    "map": lambda: {"max_length": None},
}


def rules(tp: Any, formats: Mapping[object, str], given: Mapping[str, Rules] | None = None) -> Rules:
    """The rules `tp` states. `formats` names each format check (a validator or a pattern) by what it
    checks, so that a model's `url` and a schema's URL pattern compare equal; `given` holds the rules
    of paths whose checks are code the walk cannot read, stated by hand."""
    out: Rules = {}
    _walk(tp, "", out, formats, given or {})
    return out


def _walk(tp: Any, path: str, out: Rules, formats: Mapping[object, str], given: Mapping[str, Rules]) -> None:
    base, metadata = tp, ()
    if get_origin(tp) is Annotated:
        base, *rest = get_args(tp)
        metadata = tuple(rest)
    if get_origin(base) in (Union, types.UnionType):
        assert not metadata, f"{path}: a rule on a whole union: {metadata}"
        for alternative in get_args(base):
            _walk(alternative, path, out, formats, given)
        return
    kind, facts = _kind(base, path, out, formats, given)
    for rule in metadata:
        _apply(rule, kind, facts, path, formats)
    _merge(out.setdefault(path, {}), kind, facts)


def _kind(
    base: Any, path: str, out: Rules, formats: Mapping[object, str], given: Mapping[str, Rules]
) -> tuple[str, Facts]:
    if base is type(None):
        return "null", {}
    if base is bool:
        return "bool", {}
    if base is int:
        return "number", DEFAULTS["number"]() | {"finite": True}
    if base is float:
        return "number", DEFAULTS["number"]()
    if base is str:
        return "str", DEFAULTS["str"]()
    if base is Any:
        return "any", {}
    if get_origin(base) is Literal:
        return "literal", {"choices": frozenset(get_args(base))}
    if get_origin(base) is list:
        (item,) = get_args(base)
        _walk(item, path + "[]", out, formats, given)
        return "list", DEFAULTS["list"]()
    if get_origin(base) is dict:
        key, value = get_args(base)
        _walk(key, path + "{}", out, formats, given)
        _walk(value, path + ".*", out, formats, given)
        return "map", DEFAULTS["map"]()
    if isinstance(base, type) and issubclass(base, BaseModel):
        fields = {name: _field_type(field) for name, field in base.model_fields.items()}
        required = {name for name, field in base.model_fields.items() if field.is_required()}
        return "object", _object(fields, required, base.model_config.get("extra"), path, out, formats, given)
    if is_typeddict(base):
        hints = get_type_hints(base, include_extras=True)
        config = getattr(base, "__pydantic_config__", {})
        return "object", _object(hints, set(base.__required_keys__), config.get("extra"), path, out, formats, given)
    raise AssertionError(f"{path}: a type the walk does not know: {base!r}")


def _field_type(field: FieldInfo) -> Any:
    """A model field's type without `| None`: a Croct model takes None for "left out", never as a value."""
    tp = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    if get_origin(tp) in (Union, types.UnionType):
        alternatives = [alternative for alternative in get_args(tp) if alternative is not type(None)]
        tp = alternatives[0] if len(alternatives) == 1 else Union[tuple(alternatives)]
    return tp


def _object(
    fields: Mapping[str, Any],
    required: set[str],
    extra: Any,
    path: str,
    out: Rules,
    formats: Mapping[object, str],
    given: Mapping[str, Rules],
) -> Facts:
    for name, tp in fields.items():
        at = f"{path}.{name}" if path else name
        if at in given:
            out.update(given[at])
        else:
            _walk(tp, at, out, formats, given)
    return {"properties": frozenset(fields), "required": frozenset(required), "extra": extra}


def _apply(rule: Any, kind: str, facts: Facts, path: str, formats: Mapping[object, str]) -> None:
    """Add one rule of an `Annotated` type to the facts of its kind of value."""
    if isinstance(rule, Strict):
        return  # both sides are strict throughout (model config, protocol.CHECKED)
    if isinstance(rule, FieldInfo):
        for inner in rule.metadata:
            _apply(inner, kind, facts, path, formats)
        return
    if isinstance(rule, StringConstraints):
        if rule.min_length is not None:
            facts["min_length"] = rule.min_length
        if rule.max_length is not None:
            facts["max_length"] = rule.max_length
        if rule.pattern is not None:
            facts["formats"] = facts["formats"] | {_format(rule.pattern, path, formats)}
        return
    if isinstance(rule, AfterValidator):
        if isinstance(rule.func, Length):
            facts["min_length"], facts["max_length"] = rule.func.min_length, rule.func.max_length
        else:
            facts["formats"] = facts["formats"] | {_format(rule.func, path, formats)}
        return
    if isinstance(rule, annotated_types.Ge):
        facts["ge"] = rule.ge
    elif isinstance(rule, annotated_types.Le):
        facts["le"] = rule.le
    elif isinstance(rule, annotated_types.MinLen):
        facts["min_length"] = rule.min_length
    elif isinstance(rule, annotated_types.MaxLen):
        facts["max_length"] = rule.max_length
    elif type(rule).__name__ == "AllowInfNan":  # pydantic's own marker, private
        facts["finite"] = not rule.allow_inf_nan
    else:
        raise AssertionError(f"{path}: a rule the walk does not know: {rule!r}")


def _format(check: object, path: str, formats: Mapping[object, str]) -> str:
    if check not in formats:
        raise AssertionError(f"{path}: a format check the walk cannot name: {check!r} (add it to the formats)")
    return formats[check]


def _merge(kinds: dict[str, Facts], kind: str, facts: Facts) -> None:
    """Two alternatives of one kind at one path (an int or a float) take what either takes."""
    if kind not in kinds:
        kinds[kind] = facts
        return
    old = kinds[kind]
    for key, value in facts.items():
        if key in ("ge", "min_length"):
            old[key] = None if None in (old[key], value) else min(old[key], value)
        elif key in ("le", "max_length"):
            old[key] = None if None in (old[key], value) else max(old[key], value)
        elif key == "finite":
            old[key] = old[key] and value
        else:
            assert old[key] == value, f"two alternatives disagree on {key}: {old[key]!r}, {value!r}"
