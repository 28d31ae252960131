"""Work whose cost grows with an event's size: on the event loop while it is small, else on a thread kept for it.

The event loop answers every request. A 64 KB event of thousands of properties, addresses
or errors costs tens to hundreds of milliseconds to judge, to map again when its delivery
is claimed, to prepare for a vendor and to encode (bench/stall.py); on the loop, every
beacon in flight would wait that long. Above INLINE_BYTES such work runs on one thread of
its own: the loop takes the GIL back within `sys.getswitchinterval()` whenever it has
something to do, and heavy events queue behind each other, not behind a pool of threads
that would all contend with the loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

INLINE_BYTES = 2 * 1024
"""Events up to this size are worked on the loop. An ordinary beacon is well under it, and the
costliest 2 KB there is (an event of hundreds of invalid emails, every one an error) is judged in
about 5 ms; the costliest 64 KB takes 150 ms and more."""

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _heavy_thread() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadrelay-heavy")
        return _executor


async def by_size(size: int, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, on the loop when `size` (the bytes of the events it works on) is at most INLINE_BYTES,
    else on the heavy thread."""
    if size <= INLINE_BYTES:
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(_heavy_thread(), functools.partial(fn, *args))
