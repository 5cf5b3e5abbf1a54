"""The expiry backstop through the Compute protocol's in-memory fake: what the launch job does
when the backstop cannot be set, and after a crashed launch."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest

from launcher.adapters.github import GitHub
from launcher.core.compute import ComputeError
from launcher.core.lifecycle import RequestState
from launcher.jobs.backstops import NOT_SET
from launcher.jobs.launch import LaunchOptions, LaunchReport, run_launch
from tests.fakes import FakeCompute
from tests.jobs.conftest import World
from tests.jobs.test_backstop import BACKSTOP_POOLS
from tests.jobs.test_launch import AMI, NOW, WEB, merged, request


@pytest.fixture
def fake_world(world: World) -> World:
    world.sb.push_files(
        world.repo_name, "main", {"pools.yaml": BACKSTOP_POOLS}, "launch pools", "pat"
    )
    return world


@pytest.fixture
def clock() -> list[datetime]:
    return [NOW]


@pytest.fixture
def compute(clock: list[datetime]) -> FakeCompute:
    return FakeCompute(now=lambda: clock[0], images={AMI: "x86_64"})


def run(world: World, compute: FakeCompute, now: datetime = NOW) -> LaunchReport:
    return run_launch(GitHub(world.settings()), compute, LaunchOptions(now=now), io.StringIO())


def test_a_backstop_that_cannot_be_set_leaves_the_launch_running_and_fails_the_run(
    fake_world: World, compute: FakeCompute
) -> None:
    merged(fake_world, "alice", {WEB: request(count=2, max_runtime="8h")})
    compute.fail_backstop.append(ComputeError("AccessDeniedException: not authorized"))
    report = run(fake_world, compute)
    assert not report.failed and report.exit_code == 1  # visible: the run fails
    [error] = report.errors
    assert error.startswith(f"dev/web: {NOT_SET}: AccessDeniedException")
    assert len(compute.running("dev/web")) == 2 and compute.backstops == {}  # not terminated
    again = run(fake_world, compute)
    assert [r.state for r in again.records] == [RequestState.RUNNING]


def test_a_crashed_launch_completed_by_the_next_run_gets_its_backstop(
    fake_world: World, compute: FakeCompute, clock: list[datetime]
) -> None:
    merged(fake_world, "alice", {WEB: request(count=2, max_runtime="8h")})
    fake_world.sb.inject_fault("POST", "/repos/{owner}/{repo}/deployments", status=502)
    compute.fail_backstop.append(ComputeError("ServiceUnavailable"))  # the crashed run's
    assert run(fake_world, compute).errors and compute.backstops == {}
    assert run(fake_world, compute, NOW + timedelta(seconds=1)).exit_code == 0
    [backstop] = compute.backstops.values()
    assert backstop.at == NOW + timedelta(hours=8)
    assert backstop.instance_ids == tuple(sorted(i.instance_id for i in compute.running()))

    clock[0] = NOW + timedelta(hours=8)  # GitHub Actions stops here; the provider does not
    assert compute.fire_backstops() == [backstop]
    assert compute.running() == [] and compute.backstops == {}
