"""The launch job over the in-memory Compute fake (tests/fakes.py) and the GitHub stand-in:
the job needs only the `Compute` protocol, and the fake runs in microseconds."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest

from launcher.adapters.github import GitHub
from launcher.core.compute import LaunchError, LaunchErrorKind
from launcher.core.lifecycle import Category, RequestState
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from tests.fakes import FakeCompute
from tests.jobs.conftest import World
from tests.jobs.test_launch import AMI, NOW, POOLS, WEB, merged, request


@pytest.fixture
def fake_world(world: World) -> World:
    world.sb.push_files(world.repo_name, "main", {"pools.yaml": POOLS}, "launch pools", "pat")
    return world


@pytest.fixture
def compute() -> FakeCompute:
    return FakeCompute(now=lambda: NOW, images={AMI: "x86_64"})


def run(world: World, compute: FakeCompute, now: datetime = NOW) -> LaunchReport:
    return run_launch(GitHub(world.settings()), compute, LaunchOptions(now=now), io.StringIO())


def test_a_request_launches_and_a_second_run_changes_nothing(
    fake_world: World, compute: FakeCompute
) -> None:
    merged(fake_world, "alice", {WEB: request(count=2, max_runtime="8h")})
    report = run(fake_world, compute)
    assert report.exit_code == 0, (report.failed, report.errors)
    running = compute.running("dev/web")
    assert len(running) == 2
    assert {i.expires_at for i in running} == {NOW + timedelta(hours=8)}
    again = run(fake_world, compute)
    assert again.planned == [] and len(compute.running()) == 2
    assert [r.state for r in again.records] == [RequestState.RUNNING]


def test_a_transient_error_is_left_to_the_next_run(fake_world: World, compute: FakeCompute) -> None:
    merged(fake_world, "alice", {WEB: request()})
    compute.fail_next.append(LaunchError(LaunchErrorKind.TRANSIENT, "RequestLimitExceeded", ""))
    first = run(fake_world, compute)
    assert first.errors and not first.failed and compute.running() == []
    assert run(fake_world, compute).exit_code == 0
    assert len(compute.running("dev/web")) == 1


def test_a_refused_launch_is_failed_launch_error(fake_world: World, compute: FakeCompute) -> None:
    merged(fake_world, "alice", {WEB: request()})
    compute.fail_next.append(LaunchError(LaunchErrorKind.REFUSED, "VcpuLimitExceeded", "limit"))
    [(_, error)] = run(fake_world, compute).failed
    assert error.category is Category.LAUNCH_ERROR and "VcpuLimitExceeded" in error.message


def test_a_run_that_crashed_after_launching_is_finished_not_repeated(
    fake_world: World, compute: FakeCompute
) -> None:
    merged(fake_world, "alice", {WEB: request(count=2)})
    fake_world.sb.inject_fault("POST", "/repos/{owner}/{repo}/deployments", status=502)
    assert run(fake_world, compute).errors
    assert run(fake_world, compute, NOW + timedelta(seconds=1)).exit_code == 0
    assert len(compute.running("dev/web")) == 2
    assert compute.calls.count("run_instances") == 1  # the second run recorded, not relaunched
