"""tests.support.waiting: long work is waited for as long as it moves, and a wait fails once it stops."""

from __future__ import annotations

import itertools

import pytest

from tests.support import waiting
from tests.support.clock import FakeClock


class Time:
    """Stands in for the `time` module in tests.support.waiting: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.monotonic = FakeClock(0.0)

    def sleep(self, seconds: float) -> None:
        self.monotonic.advance(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = Time()
    monkeypatch.setattr(waiting, "time", fake)
    return fake.monotonic


def test_work_that_keeps_moving_is_waited_for_however_long_it_takes(clock: FakeClock) -> None:
    ticks = itertools.count()

    def delivered() -> int:  # one more every 40 polls (2 s): 500 take 1000 s, far beyond any ceiling
        return next(ticks) // 40

    assert waiting.wait_while_moving(delivered, lambda n: n >= 500, "the deliveries", stall_s=10) == 500
    assert clock() > 900


def test_work_that_stops_fails_after_the_stall_naming_where_it_stopped(clock: FakeClock) -> None:
    counts = iter(range(3))

    def delivered() -> int:
        return next(counts, 2)  # 0, 1, 2, and then no more

    with pytest.raises(AssertionError, match=r"gave up waiting for the deliveries: no progress in 10 s, stuck at 2"):
        waiting.wait_while_moving(delivered, lambda n: n >= 500, "the deliveries", stall_s=10)
    assert clock() < 11


def test_wait_until_has_its_ceiling_and_wait_for_count_says_what_it_found(clock: FakeClock) -> None:
    with pytest.raises(AssertionError, match="gave up waiting for the answer"):
        waiting.wait_until(lambda: False, "the answer", timeout=5)
    with pytest.raises(AssertionError, match="expected 2 stored events, found 1"):
        waiting.wait_for_count(lambda: ["one"], 2, "stored events", timeout=5)
    assert waiting.wait_for_count(lambda: ["one", "two"], 2, "stored events") == ["one", "two"]
