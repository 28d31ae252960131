"""Waiting in tests for what must happen: polling a check until it holds, with a ceiling that is never asserted;
or, for long work whose pace is the machine's (a load under SIGKILL), for as long as it keeps moving."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

WAIT_S = 20.0  # how long a live server in this process gets to do what it must: a ceiling, never asserted as a duration
STALL_S = 60.0  # how long long work may show no progress at all before a test says it stopped


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check` until it returns something true, and return that; fail, naming `what`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
    return value


def wait_for_count(read: Callable[[], list[T]], count: int, what: str, timeout: float = WAIT_S) -> list[T]:
    """Poll `read` until it returns at least `count` things, and return them; fail, saying how many it found."""
    deadline = time.monotonic() + timeout
    while len(found := read()) < count:
        assert time.monotonic() <= deadline, f"expected {count} {what}, found {len(found)}"
        time.sleep(0.05)
    return found


def wait_while_moving(progress: Callable[[], T], done: Callable[[T], bool], what: str, stall_s: float = STALL_S) -> T:
    """Poll `progress` (a snapshot of how far the work is) until `done` says it is finished, and return that
    snapshot; fail when the snapshot has stayed the same for `stall_s` seconds. No ceiling on the whole: on a
    machine starved of CPU the work takes as long as it takes, but work that has stopped fails."""
    last, moved_at = progress(), time.monotonic()
    while not done(last):
        time.sleep(0.05)
        if (now := progress()) != last:
            last, moved_at = now, time.monotonic()
        elif time.monotonic() - moved_at > stall_s:
            raise AssertionError(f"gave up waiting for {what}: no progress in {stall_s:.0f} s, stuck at {last}")
    return last
