"""launcher serve's GitHub requests in flight are bounded; a freed slot goes to the request of
the oldest unit of work, so under a burst the oldest decisions finish first instead of every
decision under way finishing together."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

import pytest

from launcher.adapters.priority import PrioritySemaphore, priority


def _waiters(sem: PrioritySemaphore, ranks: list[float | None]) -> list[int]:
    """Start one thread per rank, each waiting for a slot of `sem` (held elsewhere), in the
    order given; release the held slot and return the order they got it in (their indexes)."""
    order: list[int] = []
    lock = threading.Lock()

    def wait(n: int, rank: float | None) -> None:
        sem.acquire(rank)
        with lock:
            order.append(n)
        sem.release()

    threads = []
    for n, rank in enumerate(ranks):
        thread = threading.Thread(target=wait, args=(n, rank))
        thread.start()
        threads.append(thread)
        _until(lambda n=n: sem.waiting() == n + 1)  # type: ignore[misc]
    sem.release()
    for thread in threads:
        thread.join(10)
    return order


def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError("never happened")


def test_a_freed_slot_goes_to_the_oldest_unit_s_request_not_the_first_to_ask() -> None:
    sem = PrioritySemaphore(1)
    sem.acquire(0.0)
    assert _waiters(sem, [30.0, 10.0, 20.0]) == [1, 2, 0]


def test_requests_of_the_same_unit_go_in_the_order_they_asked() -> None:
    sem = PrioritySemaphore(1)
    sem.acquire(0.0)
    assert _waiters(sem, [5.0, 5.0, 1.0, 5.0]) == [2, 0, 1, 3]


def test_a_request_outside_any_unit_ranks_as_a_unit_arriving_when_it_asks() -> None:
    """The service's own listings are not starved by a stream of units: a unit that arrived
    before the request asked goes first, one arriving after goes behind it."""
    sem = PrioritySemaphore(1)
    sem.acquire(0.0)
    before = time.monotonic()
    after = before + 3600
    assert _waiters(sem, [after, None, before]) == [2, 1, 0]


def test_no_more_holders_than_slots_and_a_slot_is_never_lost() -> None:
    sem = PrioritySemaphore(3)
    holding, most = 0, 0
    lock = threading.Lock()

    def hold(rank: float) -> None:
        nonlocal holding, most
        with sem.slot() if rank < 0 else _ranked(sem, rank):
            with lock:
                holding += 1
                most = max(most, holding)
            time.sleep(0.002)
            with lock:
                holding -= 1

    threads = [threading.Thread(target=hold, args=(float(n % 7 - 3),)) for n in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 3
    for _ in range(3):  # all three slots are free again
        sem.acquire(0.0)
    assert sem.waiting() == 0


class _ranked:
    def __init__(self, sem: PrioritySemaphore, rank: float) -> None:
        self.sem, self.rank = sem, rank

    def __enter__(self) -> None:
        self.sem.acquire(self.rank)

    def __exit__(self, *exc: object) -> None:
        self.sem.release()


def test_the_unit_s_priority_is_read_from_its_context() -> None:
    """A worker sets `priority` to when its unit's first hint arrived; a request made in
    that context (or in a copy of it: the reads made together) ranks by it."""
    sem = PrioritySemaphore(1)
    sem.acquire(0.0)
    order: list[str] = []

    def unit(name: str, since: float) -> None:
        priority.set(since)
        context = contextvars.copy_context()  # what GitHub.prefetch hands its reader threads
        thread = threading.Thread(target=context.run, args=(read, name))
        thread.start()
        thread.join(10)

    def read(name: str) -> None:
        with sem.slot():
            order.append(name)

    young = threading.Thread(target=unit, args=("young", 200.0))
    young.start()
    _until(lambda: sem.waiting() == 1)
    old = threading.Thread(target=unit, args=("old", 100.0))
    old.start()
    _until(lambda: sem.waiting() == 2)
    sem.release()
    young.join(10)
    old.join(10)
    assert order == ["old", "young"]


def test_a_semaphore_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        PrioritySemaphore(0)


def test_a_waiter_interrupted_while_waiting_loses_no_slot() -> None:
    """An exception reaching a waiting thread (a signal's, in the main thread) takes it out
    of the queue; had the slot already been handed to it, it passes the slot on."""
    import signal

    sem = PrioritySemaphore(1)
    sem.acquire(0.0)

    class Interrupted(Exception):
        pass

    def interrupt(*_: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(Interrupted):
            sem.acquire(1.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert sem.waiting() == 0
    sem.release()
    got = threading.Event()
    thread = threading.Thread(target=lambda: (sem.acquire(2.0), got.set()))
    thread.start()
    thread.join(5)
    assert got.is_set()  # the slot freed by the holder was not handed to the interrupted one


def test_releasing_more_often_than_acquiring_is_an_error_not_a_larger_bound() -> None:
    """The bound keeps a replica under GitHub's 100 concurrent requests: a stray release must
    not raise it (as `threading.BoundedSemaphore` refuses too)."""
    sem = PrioritySemaphore(2)
    sem.acquire(0.0)
    sem.release()
    with pytest.raises(ValueError):
        sem.release()
