"""Who gets the next of a bounded number of slots: the oldest unit of work, not the first
request to ask.

`launcher serve` bounds its GitHub requests in flight (`github_transport.install`). With a
plain semaphore the slots go to requests in the order they ask, so every decision under way
advances a little at a time and a burst's decisions finish together, the first delivery's
no sooner than the last's (measured under bench/serve.py: deliveries sent 0.5 s into a burst
got their verdicts with those sent at 1.4 s, 2.3-2.6 s after theirs). Handing a freed slot to
the waiting request of the oldest unit (the earliest `priority`, which a worker sets to when
the unit's first hint arrived) lets the oldest decisions finish first: earliest deadline
first, which bounds the longest wait. Ties, and requests made outside any unit, go in the
order they asked.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import threading
import time
from collections.abc import Iterator

# The current unit's priority (lower: served first), a `time.monotonic()` reading; a request
# made outside any unit (the service's own listings, start-up) ranks as a unit arriving as it
# asks, so none waits for ever behind a stream of units.
priority: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "launcher_priority", default=None
)


class PrioritySemaphore:
    """At most `value` holders; a freed slot goes straight to the waiter with the lowest
    (priority, order of asking), so a newcomer cannot take it in between."""

    def __init__(self, value: int) -> None:
        if value < 1:
            raise ValueError("a semaphore needs at least one slot")
        self._lock = threading.Lock()
        self._value = value
        self._free = value
        self._waiting: list[tuple[float, int, threading.Lock]] = []
        self._order = itertools.count()

    def acquire(self, rank: float | None = None) -> None:
        if rank is None:
            rank = priority.get()
        if rank is None:
            rank = time.monotonic()
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            entry = (rank, next(self._order), turn)
            heapq.heappush(self._waiting, entry)
        try:
            turn.acquire()  # released by the holder that hands its slot over
        except BaseException:
            # interrupted while waiting (a signal's exception in the main thread): leave the
            # queue, or pass on the slot handed over meanwhile, so no slot is lost
            with self._lock:
                handed = entry not in self._waiting
                if not handed:
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
            if handed:
                self.release()
            raise

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                heapq.heappop(self._waiting)[2].release()
            elif self._free < self._value:
                self._free += 1
            else:
                raise ValueError("semaphore released more often than acquired")

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)
