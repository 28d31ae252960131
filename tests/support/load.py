"""Leads posted to running collectors in batches, as a site's backend sends them, until every one is acknowledged."""

from __future__ import annotations

import collections
import itertools
import threading
import time
import uuid
from typing import Any

import httpx

from tests.support.keys import SERVER


def envelope(n: int) -> dict[str, Any]:
    """Lead number `n`: a croct leadGenerated of customer load<n>@example.com, with a Dub and a PIMMS click id."""
    return {
        "id": uuid.uuid4().hex,
        "dialect": "croct",
        "type": "leadGenerated",
        "payload": {
            "leadId": f"crash-{n}",
            "currency": "USD",
            "value": 10,
            "lead": {"firstName": "Load", "email": f"load{n}@example.com"},
        },
        "click_ids": {"dub": f"dub{n}", "pimms": f"pimms{n}"},
    }


class Load(threading.Thread):
    """Posts `events` leads in batches, as the site's backend (its server key vouches for the click ids), each
    batch to the next of `urls` in turn; a batch is retried until a server answers it (like the snippet does)."""

    def __init__(self, urls: list[str], events: int, batch: int = 20) -> None:
        super().__init__(daemon=True)
        self.urls, self.events, self.batch = urls, events, batch
        self.acknowledged: set[int] = set()
        self.ids: dict[int, str] = {}  # lead number -> event id
        self.errors = 0

    def run(self) -> None:
        servers = itertools.cycle(self.urls)
        with httpx.Client(timeout=10, headers=SERVER) as client:
            for start in range(0, self.events, self.batch):
                numbers = range(start, min(start + self.batch, self.events))
                batch = [envelope(n) for n in numbers]
                self.ids.update((n, e["id"]) for n, e in zip(numbers, batch))
                while True:
                    try:
                        response = client.post(f"{next(servers)}/lr/e", json={"events": batch})
                    except httpx.HTTPError:
                        self.errors += 1
                        time.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        break
                    self.errors += 1
                    time.sleep(0.05)
                for n, result in zip(numbers, response.json()["results"]):
                    assert result["status"] in ("accepted", "duplicate"), result
                    self.acknowledged.add(n)


def repeats(keys: list[str]) -> int:
    """How many of `keys` repeat an earlier one."""
    return sum(count - 1 for count in collections.Counter(keys).values())
