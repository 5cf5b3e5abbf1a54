"""The gate's independent reads go out together where the adapter's transport allows it
(launcher serve), so a decision costs a few round trips to GitHub rather than one per read;
the verdict is the same as reading one after another, and a read that fails still fails the
decision closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from github.Requester import Requester

from launcher.adapters import github_transport
from launcher.adapters.priority import priority
from launcher.core.gate import State
from tests.jobs.conftest import World, request

ATTRIBUTES = ("_Requester__httpConnectionClass", "_Requester__httpsConnectionClass")


def _transport(monkeypatch: pytest.MonkeyPatch, requests: int) -> Iterator[None]:
    for name in ATTRIBUTES:
        monkeypatch.setattr(Requester, name, getattr(Requester, name))
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(github_transport, "_pool", None)
    monkeypatch.setattr(github_transport, "_in_flight", None)
    assert github_transport.install(requests)
    yield
    pool = github_transport.reader()
    if pool is not None:
        pool.shutdown()


@pytest.fixture
def concurrent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """launcher serve's transport, 8 requests at once (restored afterwards)."""
    yield from _transport(monkeypatch, 8)


@pytest.fixture
def two_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from _transport(monkeypatch, 2)


def approved(world: World) -> int:
    number = world.open_pr("bob", {"deployments/dev/r1.yaml": request("r1")})
    world.review("dave", number)
    return number


def test_sequential_reads_without_the_concurrent_transport(world: World) -> None:
    number = approved(world)
    world.sb.set_latency(0.02)
    world.sb.gh.concurrency.reset()
    outcome, _ = world.gate(number)
    assert outcome.state is State.SUCCESS
    assert world.sb.gh.concurrency.most == 1  # one request at a time


def test_independent_reads_go_out_together_with_the_same_verdict(
    world: World, concurrent: None
) -> None:
    number = approved(world)
    world.sb.set_latency(0.02)
    world.sb.gh.concurrency.reset()
    outcome, _ = world.gate(number)
    assert outcome.state is State.SUCCESS and outcome.description == "1 request may launch"
    assert world.sb.gh.concurrency.most >= 3
    again, _ = world.gate(number)  # and the re-run finds nothing changed, as sequentially
    assert again.skipped and again.state is State.SUCCESS


def test_a_read_that_fails_fails_the_decision_closed(world: World, concurrent: None) -> None:
    number = approved(world)
    world.sb.inject_fault("GET", f"/repos/acme/infra/pulls/{number}/reviews", times=10)
    outcome, _ = world.gate(number)
    assert outcome.state is State.ERROR
    assert "listing reviews" in outcome.description


def test_the_bound_counts_every_request_of_the_process_not_only_the_reads_made_together(
    world: World, two_at_once: None
) -> None:
    """GitHub refuses more than 100 concurrent requests: LAUNCHER_SERVE_GITHUB_CONCURRENCY
    bounds a replica's requests in flight, its workers' own requests (the pull request, the
    writes) and the reads they make together alike, however many decide at once."""
    numbers = [approved(world) for _ in range(4)]
    world.sb.set_latency(0.02)
    world.sb.gh.concurrency.reset()
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda n: world.gate(n)[0], numbers))
    assert [o.state for o in outcomes] == [State.SUCCESS] * 4
    assert world.sb.gh.concurrency.most == 2


def test_the_reads_made_together_rank_as_the_decision_s_unit(
    world: World, concurrent: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """launcher serve gives GitHub's slots to the oldest unit first (adapters.priority): the
    reads a decision makes together, on the reader's threads, rank as the decision does."""
    number = approved(world)
    ranks: list[tuple[str, float | None]] = []
    bound = github_transport._in_flight
    assert bound is not None
    acquire = bound.acquire

    def recording(rank: float | None = None) -> None:
        ranks.append((threading.current_thread().name, priority.get()))
        acquire(rank)

    monkeypatch.setattr(bound, "acquire", recording)
    token = priority.set(123.0)
    try:
        outcome, _ = world.gate(number)
    finally:
        priority.reset(token)
    assert outcome.state is State.SUCCESS
    readers = [rank for name, rank in ranks if name.startswith("github-read")]
    assert len(readers) >= 3  # the reads made together, on the reader's threads
    assert {rank for _, rank in ranks} == {123.0}
