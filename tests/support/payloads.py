"""Valid payloads that generated tests start from and then break."""

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
