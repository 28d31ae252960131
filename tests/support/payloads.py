"""Valid payloads that generated tests start from, and the key paths they break them at."""

from __future__ import annotations

from typing import Any

CROCT_LEAD_GENERATED: dict[str, Any] = {
    "userId": "u-1",
    "leadId": "L-1",
    "currency": "USD",
    "value": 10,
    "lead": {
        "firstName": "Carol",
        "lastName": "Doe",
        "birthDate": "2000-08-31",
        "gender": "female",
        "email": "carol@croct.com",
        "alternateEmail": "example@croct.com",
        "phone": "+15555983800",
        "alternatePhone": "555-0100",
        "address": {"street": "1 Rue", "district": "1er", "city": "Paris", "region": "IDF", "country": "FR", "postalCode": "75001"},
        "avatar": "https://croct.com/carol.png",
        "company": "Croct",
        "companyUrl": "https://croct.com",
        "jobTitle": "Head of Marketing",
        "custom": {"plan": "pro", "points": 1, "tags": ["a", "b"], "prefs": {"x": True}, "deep": [[1], {"k": None}]},
    },
}
"""Every property of Croct's leadGenerated set, custom attributes nested as deep as Croct allows."""


Path = tuple[str, ...]


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every key path into nested objects, parents before children: ('lead',), ('lead', 'email'), ..."""
    out = []
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((*prefix, key))
            out.extend(paths(child, (*prefix, key)))
    return out


def get_path(value: Any, path: Path) -> Any:
    """What `path` leads to in `value`, or None."""
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def set_path(payload: dict[str, Any], path: Path, value: Any) -> None:
    """Set `path` in `payload` to `value`, making (or replacing with) objects on the way."""
    target = payload
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
