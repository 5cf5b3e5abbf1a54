"""A reentrant lock that waiters get in the order they asked for it.

Every stand-in handler takes the state lock. `threading.RLock` is not fair: when dozens of
handler threads wait (a service making its reads at once, many replicas), a thread can lose the
race for the lock again and again while newer ones win, and its request waits seconds for
nothing GitHub does (measured: requests of a few milliseconds answered after 10 s, under
bench/serve.py's burst). Handing the lock over in arrival order bounds each wait by the work
queued ahead of it, as a server's request queue does.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType

_HANDED_OVER = -1  # owner while the lock passes to the next waiter


class FairRLock:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None:
                self._owner, self._depth = me, 1
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        turn.acquire()  # released by the holder handing the lock over to this thread
        with self._mutex:
            self._owner, self._depth = me, 1
        return True

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a lock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner = _HANDED_OVER
                self._waiting.popleft().release()
            else:
                self._owner = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
