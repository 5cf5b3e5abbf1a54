"""The bounded queue between the request path and the workers, coalescing bursts.

A burst of events about one pull request (opened, labeled, review requested, reviewed) needs
one decision of its latest state, not one per event: a unit of work already waiting absorbs
new hints; one being decided is marked dirty and goes round once more when it finishes (it
may have read the state before the newest event). At most one worker holds a unit at a time,
so one replica never races itself. The bound counts waiting units: when it is reached the
delivery is refused (503) and stays in GitHub's list of failed deliveries, which the service
redelivers later (`appclient.redeliver_failed`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from launcher.serve.routing import Work


@dataclass
class _Entry:
    work: Work
    since: float  # when the oldest hint not yet answered arrived (monotonic)
    deliveries: list[str] = field(default_factory=list)


class QueueFull(Exception):
    pass


class WorkQueue:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._waiting: OrderedDict[tuple[int, str, int, str], _Entry] = OrderedDict()
        self._busy: dict[tuple[int, str, int, str], _Entry | None] = {}  # None: not dirty
        self._cond = threading.Condition()
        self._closed = False
        self.coalesced = 0

    def put(self, works: tuple[Work, ...], delivery: str = "") -> int:
        """Queue each unit (or merge it into the waiting one); returns how many were new.
        Raises QueueFull, adding nothing, when the new ones would not fit."""
        now = time.monotonic()
        with self._cond:
            new = [w for w in works if w.key not in self._waiting and w.key not in self._busy]
            if len(self._waiting) + len(new) > self.limit:
                raise QueueFull(f"{len(self._waiting)} pull requests waiting")
            for w in works:
                if w.key in self._waiting:
                    self._waiting[w.key].deliveries.append(delivery)
                    self.coalesced += 1
                elif w.key in self._busy:
                    dirty = self._busy[w.key]
                    if dirty is None:
                        self._busy[w.key] = _Entry(w, now, [delivery])
                    else:
                        dirty.deliveries.append(delivery)
                        self.coalesced += 1
                else:
                    self._waiting[w.key] = _Entry(w, now, [delivery])
            self._cond.notify_all()
            return len(new)

    def take(self, timeout: float | None = None) -> tuple[Work, float, list[str]] | None:
        """The next unit (its oldest hint's time and delivery ids); None when closed."""
        with self._cond:
            while not self._waiting and not self._closed:
                if not self._cond.wait(timeout):
                    return None
            if self._closed and not self._waiting:
                return None
            key, entry = self._waiting.popitem(last=False)
            self._busy[key] = None
            return entry.work, entry.since, entry.deliveries

    def done(self, work: Work) -> None:
        """The unit is decided; if hints came meanwhile, it waits again (at the front)."""
        with self._cond:
            dirty = self._busy.pop(work.key, None)
            if dirty is not None:
                self._waiting[work.key] = dirty
                self._waiting.move_to_end(work.key, last=False)
                self._cond.notify_all()

    def depth(self) -> tuple[int, int]:
        """(waiting, being decided)."""
        with self._cond:
            return len(self._waiting), len(self._busy)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
