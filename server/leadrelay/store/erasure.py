"""Erasure: every stored row about one person, found by email address, customer id or visitor id, removed.

What is about a person:
- the events that name them: the email address anywhere in the event (any case, as a whole address,
  not inside a longer one), the customer id as a whole JSON string value, or the visitor id;
- then every event of the visitors (browsers) those events came from, since the visitor is theirs;
- the deliveries of all those events, with the bodies they sent and the vendors' answers;
- the clicks those visitors landed with;
- the rejected events whose raw body holds the address, the customer id, one of the visitor ids or
  one of the event ids, read as sent and with its JSON escapes decoded.

Events are found by one scan of the table (an erasure is rare; an index would cost every beacon),
and removed in batches of ERASE_BATCH, each its own short transaction: intake never waits long.
The counts tell what was removed. A row written while the erasure runs (the person is still on the
site) may escape it: run it again once they have gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from pydantic_core import from_json

from leadrelay.encoding import dump_json
from leadrelay.store.database import chunks
from leadrelay.store.retention import Removed
from leadrelay.store.tallies import Tallies
from leadrelay.store.tallies import removed as removed_rows

ERASE_BATCH = 500
SCAN_PAGE = 1000
_EMAIL_CHARS = r"[\w.!#$%&'*+/=?^`{|}~-]"


@dataclass
class Erased(Removed):
    """What an erasure removed, table by table, and the visitor ids it took as the person's."""

    visitors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Person:
    """Who to erase: exactly one of the three is given."""

    email: str | None = None
    customer_id: str | None = None
    visitor_id: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.email, self.customer_id, self.visitor_id) if v is not None]
        if len(given) != 1:
            raise ValueError("name one person: an email address, a customer id or a visitor id")
        if not given[0].strip():
            raise ValueError("the email address, customer id or visitor id is empty")
        if self.email is not None and "@" not in self.email:
            raise ValueError(f"{self.email!r} is not an email address")


class Erasure(Tallies):
    def erase(self, email: str | None = None, customer_id: str | None = None, visitor_id: str | None = None) -> Erased:
        """Remove every row about the person named by one of the arguments (see the module's docstring)."""
        person = Person(email=email.strip().lower() if email else email, customer_id=customer_id, visitor_id=visitor_id)
        event_ids, visitors = self._events_of(person)
        erased = Erased(visitors=sorted(visitors))
        if visitors:
            event_ids |= self._events_of_visitors(visitors)
        for batch in chunks(sorted(event_ids), ERASE_BATCH):
            deliveries, events = self._delete_events(batch)
            erased.deliveries += deliveries
            erased.events += events
        for batch in chunks(sorted(visitors), ERASE_BATCH):
            with self._transaction():
                marks = ", ".join("?" * len(batch))
                erased.clicks += int(self._run(f"DELETE FROM clicks WHERE visitor_id IN ({marks})", batch).rowcount)
        needles = _Needles(person, visitors, event_ids)
        for batch in chunks(list(self._matching_rejections(needles)), ERASE_BATCH):
            with self._transaction():
                marks = ", ".join("?" * len(batch))
                erased.rejections += int(self._run(f"DELETE FROM rejections WHERE id IN ({marks})", batch).rowcount)
        return erased

    def _events_of(self, person: Person) -> tuple[set[str], set[str]]:
        """The ids of the events that name `person`, and the visitor ids they came from."""
        if person.visitor_id is not None:
            return set(), {person.visitor_id}
        if person.email is not None:
            query = "SELECT id, visitor_id, body FROM events WHERE LOWER(body) LIKE ? ESCAPE '!'"
            needle = person.email
            found = re.compile(f"(?<!{_EMAIL_CHARS}){re.escape(needle)}(?!{_EMAIL_CHARS})")
        else:
            assert person.customer_id is not None
            query = "SELECT id, visitor_id, body FROM events WHERE body LIKE ? ESCAPE '!'"
            needle = dump_json(person.customer_id).decode()  # the id as a whole JSON string, as the body writes it
            found = re.compile(re.escape(needle))
        rows = self._run(query, (f"%{_like(needle)}%",)).fetchall()
        self._end_read()
        ids: set[str] = set()
        visitors: set[str] = set()
        for row in rows:
            body = row["body"].lower() if person.email is not None else row["body"]
            if found.search(body):  # LIKE finds candidates (case-blind for ASCII); this decides
                ids.add(row["id"])
                if row["visitor_id"]:
                    visitors.add(row["visitor_id"])
        return ids, visitors

    def _events_of_visitors(self, visitors: set[str]) -> set[str]:
        ids: set[str] = set()
        for batch in chunks(sorted(visitors), ERASE_BATCH):
            marks = ", ".join("?" * len(batch))
            rows = self._run(f"SELECT id FROM events WHERE visitor_id IN ({marks})", batch).fetchall()
            ids.update(row["id"] for row in rows)
        self._end_read()
        return ids

    def _delete_events(self, event_ids: Sequence[str]) -> tuple[int, int]:
        """Delete events and their deliveries in one transaction; (deliveries, events) removed."""
        marks = ", ".join("?" * len(event_ids))
        with self._transaction():
            removed = self._run(
                f"DELETE FROM deliveries WHERE event_id IN ({marks}) RETURNING destination, state", event_ids
            ).fetchall()
            self._tally(removed_rows(removed))
            events = int(self._run(f"DELETE FROM events WHERE id IN ({marks})", event_ids).rowcount)
        return len(removed), events

    def _matching_rejections(self, needles: _Needles) -> Iterator[int]:
        """The ids of the rejections about the person, read page by page (the table is bounded by its retention)."""
        after = -1
        while True:
            rows = self._run(
                "SELECT id, event_id, raw FROM rejections WHERE id > ? ORDER BY id LIMIT ?", (after, SCAN_PAGE)
            ).fetchall()
            self._end_read()
            if not rows:
                return
            for row in rows:
                if needles.match(row["event_id"], row["raw"]):
                    yield int(row["id"])
            after = int(rows[-1]["id"])


class _Needles:
    """What marks a rejected event's raw body as about the person."""

    def __init__(self, person: Person, visitors: set[str], event_ids: set[str]) -> None:
        self.email = (
            re.compile(f"(?<!{_EMAIL_CHARS}){re.escape(person.email)}(?!{_EMAIL_CHARS})") if person.email else None
        )
        # Whole JSON strings: a customer id "42" is not every 42 in a body.
        self.strings = [dump_json(v).decode() for v in (person.customer_id, *visitors) if v]
        self.event_ids = event_ids

    def match(self, event_id: str | None, raw: str) -> bool:
        if event_id is not None and event_id in self.event_ids:
            return True
        for text in (raw, _decoded(raw)):
            if text is None:
                continue
            if self.email is not None and self.email.search(text.lower()):
                return True
            if any(needle in text for needle in self.strings):
                return True
        return False


def _decoded(raw: str) -> str | None:
    """The raw body with its JSON escapes decoded (`\\u0040` as '@'), when it is JSON and has any."""
    if "\\" not in raw:
        return None
    try:
        return dump_json(from_json(raw)).decode()
    except ValueError:
        return None


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching itself ('!' is the escape character)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
