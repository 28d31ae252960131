"""Crash: SIGKILL a real `leadrelay serve` while events arrive and are delivered; restart; nothing acknowledged is lost.

At-least-once: after the restart every acknowledged event reaches every fake
vendor; an event can reach a vendor twice only if its request was in flight when
the process died (bounded by what one worker holds at once). The test prints
how many repeats there were.

It waits for as long as the work keeps moving, with no ceiling on the whole: on a machine
starved of CPU (a full suite at load 15-20) the same work takes minutes instead of ~30 s.
Work that stops (nothing more acknowledged, delivered or recorded for 60 s: waiting.STALL_S) fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import httpx

from leadrelay.sandbox.live import free_port
from leadrelay.worker import PREFETCH
from tests.fakes import Vendors
from tests.support.keys import SERVER_KEY
from tests.support.load import Load, repeats
from tests.support.processes import WAIT_S, Leadrelay, leadrelay_env
from tests.support.waiting import wait_while_moving

EVENTS = 3000
CONCURRENCY = 8
ANSWER_S = 30.0  # how long one /healthz answer may take on a starved machine: a ceiling, never asserted


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with Vendors() as vendors:
        env = leadrelay_env(
            database_url=f"sqlite:///{tmp_path / 'crash.db'}",
            server_keys=SERVER_KEY,
            demo="false",
            delivery_timeout_s="5",
            delivery_lease_s="6",
            delivery_poll_s="0.05",
            delivery_concurrency=str(CONCURRENCY),
            retry_base_s="0.1",
            retry_max_delay_s="1",
            rate_limit_per_ip="1000000/minute",  # the test sends from one address at full speed
        )
        env.update(vendors.env())
        server = Leadrelay.serve(env, free_port(), tmp_path / "server.log")
        server.start(timeout=WAIT_S)
        load = Load([server.url], EVENTS)
        fakes = (vendors.dub, vendors.pimms, vendors.reshape)
        try:
            load.start()
            # Kill in the middle: events still arriving, deliveries under way at every vendor.
            wait_while_moving(  # each part of the snapshot stops at its target: only the way there counts as moving
                lambda: (min(len(load.acknowledged), EVENTS // 3), *(min(fake.count, 100) for fake in fakes)),
                lambda sofar: sofar == (EVENTS // 3, 100, 100, 100),
                "the load to be well under way",
            )
            server.kill()
            acknowledged_at_kill = len(load.acknowledged)
            delivered_at_kill = {name: getattr(vendors, name).count for name in ("dub", "pimms", "reshape")}
            server.start(timeout=WAIT_S)
            wait_while_moving(lambda: len(load.acknowledged), lambda _: not load.is_alive(), "the load to be acknowledged")
            assert load.acknowledged == set(range(EVENTS))

            expected = {f"load{n}@example.com" for n in range(EVENTS)}
            keys: dict[str, Callable[[], list[str]]] = {
                "dub": lambda: [b["customerExternalId"] for b in vendors.dub.accepted],
                "pimms": lambda: [b["externalId"] for b in vendors.pimms.accepted],
                "reshape": lambda: [b["user"]["email"][0] for b in vendors.reshape.accepted],
            }
            wait_while_moving(
                lambda: {name: len(expected & set(received())) for name, received in keys.items()},
                lambda arrived: all(count == EVENTS for count in arrived.values()),
                "every acknowledged event at every vendor",
            )
            wait_while_moving(lambda: recorded(server.url), settled, "the server to record every delivery")
        finally:
            server.stop()

        counts = {name: repeats(received()) for name, received in keys.items()}
        print(
            f"\nSIGKILL after {acknowledged_at_kill} acknowledged events and {delivered_at_kill} requests per vendor; "
            f"after the restart every one of the {EVENTS} events reached every vendor; repeats per vendor: {counts} "
            f"(load retries: {load.errors})"
        )
        for name, received in keys.items():
            assert set(received()) == expected
        # Only what was in flight can be repeated: at most what one worker held for a destination.
        for name, count in counts.items():
            assert count <= PREFETCH * CONCURRENCY, (name, count)


def recorded(url: str) -> dict[str, dict[str, int]]:
    """How many deliveries the server counts in each state, per destination that is on."""
    health = httpx.get(f"{url}/healthz", timeout=ANSWER_S).json()
    return {name: d["deliveries"] for name, d in health["destinations"].items() if d["state"] == "on"}


def settled(deliveries: dict[str, dict[str, int]]) -> bool:
    """Every delivery recorded: delivered, or deduplicated (a request in flight at the kill, which Dub and
    PIMMS had recorded, is answered `link: null` when it is sent again)."""
    final = ("delivered", "deduplicated")
    return all(set(states) <= set(final) and sum(states.get(state, 0) for state in final) == EVENTS for states in deliveries.values())
