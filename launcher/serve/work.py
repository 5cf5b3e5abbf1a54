"""The bounded queue between the request path and the workers, coalescing bursts.

A burst of events about one pull request (opened, labeled, review requested, reviewed) needs
one decision of its latest state, not one per event: a unit of work already waiting absorbs
new hints; one being decided is marked dirty and goes round once more when it finishes (it
may have read the state before the newest event). At most one worker holds a unit at a time,
so one replica never races itself. The bound counts waiting units: when it is reached the
delivery is refused (503) and stays in GitHub's list of failed deliveries, which the service
redelivers later (`appclient.redeliver_failed`).

Confirmations (`launcher.serve.decide`: a decision that wrote is decided once more on a fresh
read, so replicas converge on the latest state's verdict) wait in a second lane: a worker takes
one only once no first decision is waiting or being decided and none has ended for `quiet`
seconds (the burst is over here), or once the confirmation has waited `confirm_after`
seconds. Under a burst every pull request gets its verdict before any is confirmed, instead of
each verdict waiting behind the confirmations queued before it, in the gaps between
deliveries or while the last deliveries are being decided (a confirmation costs GitHub, which every
replica shares, about half a first decision's requests); a new hint about a pull request whose
confirmation waits replaces it (the new decision reads the latest state anyway).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from launcher.serve.routing import Work

CONFIRM_AFTER = 30.0  # seconds a confirmation waits at most behind first decisions
QUIET = 0.5  # seconds after the last first decision ended before confirmations start

_Key = tuple[int, str, int, str]


@dataclass
class _Entry:
    work: Work
    since: float  # when the oldest hint not yet answered arrived (monotonic)
    deliveries: list[str] = field(default_factory=list)
    confirming: bool = False  # a confirmation, not a hint
    attempts: int = 0  # decisions already tried and failed before deciding (a retry)
    ready_at: float = 0.0  # not taken before (monotonic): a retry's backoff


@dataclass(frozen=True)
class Taken:
    work: Work
    since: float
    deliveries: list[str]
    confirming: bool
    attempts: int = 0


class QueueFull(Exception):
    pass


def _merged(waiting: Work, hint: Work) -> Work:
    """The unit a new hint coalesces into: a re-run asked for by either is kept."""
    return replace(waiting, rerun=True) if hint.rerun and not waiting.rerun else waiting


class WorkQueue:
    def __init__(
        self, limit: int, confirm_after: float = CONFIRM_AFTER, quiet: float = QUIET
    ) -> None:
        self.limit = limit
        self.confirm_after = confirm_after
        self.quiet = quiet
        # when the last first decision ended, or +inf while one is being decided (monotonic)
        self._fresh_at = float("-inf")
        self._deciding: set[_Key] = set()  # the units being decided for the first time
        self._waiting: OrderedDict[_Key, _Entry] = OrderedDict()
        self._confirm: OrderedDict[_Key, _Entry] = OrderedDict()
        self._busy: dict[_Key, _Entry | None] = {}  # None: not dirty
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
                    waiting = self._waiting[w.key]
                    waiting.deliveries.append(delivery)
                    waiting.work = _merged(waiting.work, w)
                    self.coalesced += 1
                elif w.key in self._busy:
                    dirty = self._busy[w.key]
                    if dirty is None:
                        self._busy[w.key] = _Entry(w, now, [delivery])
                    else:  # a hint after all: decided as soon as the worker is done
                        dirty.confirming, dirty.attempts, dirty.ready_at = False, 0, 0.0
                        dirty.deliveries.append(delivery)
                        dirty.work = _merged(dirty.work, w)
                        self.coalesced += 1
                else:
                    if self._confirm.pop(w.key, None) is not None:
                        self.coalesced += 1
                    self._waiting[w.key] = _Entry(w, now, [delivery])
            self._cond.notify(len(new))  # a worker per new unit, not all of them
            return len(new)

    def confirm(self, work: Work, attempts: int = 0, delay: float = 0.0) -> None:
        """Decide `work` once more, in the confirmation lane: after a decision that wrote
        (never refused: it is not a new pull request, and dropping it could leave a stale
        verdict), or, with `attempts` and a `delay`, after one that could not start (GitHub
        failing for a moment). Called while `work` is being decided, it waits for `done`."""
        with self._cond:
            if work.key in self._waiting:
                return  # a fresh decision is coming anyway
            now = time.monotonic()
            entry = _Entry(work, now, [], True, attempts, now + delay)
            if work.key in self._busy:
                if self._busy[work.key] is None:
                    self._busy[work.key] = entry
                return
            self._confirm.setdefault(work.key, entry)
            self._cond.notify()

    def _next(self, now: float) -> _Entry | None:
        ready = next((k for k, e in self._confirm.items() if e.ready_at <= now), None)
        if ready is not None:
            oldest = self._confirm[ready]
            quiet = not self._waiting and now - self._fresh_at >= self.quiet
            if quiet or now - oldest.since >= self.confirm_after:
                return self._confirm.pop(ready)
        if self._waiting:
            return self._waiting.popitem(last=False)[1]
        return None

    def _wakes(self, now: float) -> list[float]:
        """Seconds until a waiting confirmation may be taken (its backoff, the quiet period,
        its `confirm_after`)."""
        return [
            max(e.ready_at, min(self._fresh_at + self.quiet, e.since + self.confirm_after)) - now
            for e in self._confirm.values()
        ]

    def take(self, timeout: float | None = None) -> Taken | None:
        """The next unit (its oldest hint's time and delivery ids); None when closed or
        when nothing came within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                entry = self._next(now)
                if entry is not None or self._closed:
                    break
                waits = [max(w, 0.001) for w in self._wakes(now)]
                if deadline is not None:
                    if now >= deadline:
                        return None
                    waits.append(deadline - now)
                self._cond.wait(min(waits) if waits else None)
            if entry is None:
                return None
            self._busy[entry.work.key] = None
            if not entry.confirming:
                self._deciding.add(entry.work.key)
                self._fresh_at = float("inf")
            return Taken(
                entry.work, entry.since, entry.deliveries, entry.confirming, entry.attempts
            )

    def done(self, work: Work) -> None:
        """The unit is decided; if hints came meanwhile, it waits again (at the front)."""
        with self._cond:
            if work.key in self._deciding:
                self._deciding.remove(work.key)
                if not self._deciding:  # the quiet period starts when the last one ends
                    self._fresh_at = time.monotonic()
                    self._cond.notify()
            dirty = self._busy.pop(work.key, None)
            if dirty is None:
                return
            if dirty.confirming:
                self._confirm[work.key] = dirty  # in line with the other confirmations
            else:
                self._waiting[work.key] = dirty
                self._waiting.move_to_end(work.key, last=False)
            self._cond.notify()

    def depth(self) -> tuple[int, int]:
        """(waiting, being decided): confirmations count as waiting."""
        with self._cond:
            return len(self._waiting) + len(self._confirm), len(self._busy)

    def fresh(self) -> int:
        """Units waiting for a first decision (what the queue bound counts)."""
        with self._cond:
            return len(self._waiting)

    def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for every unit (waiting, being decided, confirmations
        and retries) to be done; returns how many are left."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                left = len(self._waiting) + len(self._confirm) + len(self._busy)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
