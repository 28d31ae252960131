"""Waiting in tests for what must happen: polling a check until it holds, with a ceiling that is never asserted."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

WAIT_S = 20.0  # how long a live server in this process gets to do what it must: a ceiling, never asserted as a duration


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
