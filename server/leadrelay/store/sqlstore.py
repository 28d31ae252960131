"""SqlStore, the store's one public face: each concern lives in its own module, and this class is all of them.

    schema.py    the tables and their upgrades (`setup`)
    intake.py    accepted events with their deliveries, rejections, clicks seen (`write_intake`)
    clicks.py    which clicks a visitor landed with (`seen_clicks`)
    outbox.py    claim, finish_many, release, replay: a delivery's life
    health.py    what the workers last learned of each destination
    tallies.py   how many deliveries each destination has in each state, kept as they change
    views.py     read-only listings and counts for the operator (the CLI's, and the console's bounded ones)
    retention.py rejected events deleted once past their time
    erasure.py   every row about one person removed (`erase`)
    database.py  what they all stand on: per-thread connections, transactions, lock waits, the clock

SQLite and PostgreSQL share the schema and every query; a `Backend` (backend.py) supplies only what differs.
"""

from __future__ import annotations

from leadrelay.store.clicks import Clicks
from leadrelay.store.erasure import Erasure
from leadrelay.store.health import Health
from leadrelay.store.intake import IntakeWrites
from leadrelay.store.outbox import Outbox
from leadrelay.store.retention import Retention
from leadrelay.store.schema import Schema
from leadrelay.store.tallies import Backlogs
from leadrelay.store.views import ConsoleViews, Views


class SqlStore(Schema, IntakeWrites, Clicks, Outbox, Health, Views, ConsoleViews, Retention, Erasure, Backlogs):
    """The one store implementation; `backend` decides which database it speaks to."""
