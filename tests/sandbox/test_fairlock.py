"""The stand-in's state lock: reentrant, and handed to waiters in the order they came."""

from __future__ import annotations

import threading
import time

import pytest

from launcher.sandbox.github.fairlock import FairRLock


def test_reentrant_and_only_released_by_its_holder() -> None:
    lock = FairRLock()
    with lock, lock:  # the same thread again: no deadlock
        pass
    lock.acquire()
    errors: list[Exception] = []

    def other() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert errors  # another thread cannot release it
    lock.release()


def test_waiters_get_the_lock_in_arrival_order() -> None:
    lock = FairRLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for n in range(20):
        thread = threading.Thread(
            target=lambda n=n: [lock.acquire(), order.append(n), lock.release()]
        )
        thread.start()
        threads.append(thread)
        while len(lock._waiting) < n + 1:  # each queued before the next starts
            time.sleep(0.001)
    lock.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == list(range(20))


@pytest.mark.parametrize("threads", [8])
def test_mutual_exclusion_under_contention(threads: int) -> None:
    lock = FairRLock()
    inside = 0
    most = 0

    def work() -> None:
        nonlocal inside, most
        for _ in range(200):
            with lock:
                inside += 1
                most = max(most, inside)
                inside -= 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert most == 1
