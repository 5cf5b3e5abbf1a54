"""The expiry backstop end to end: the launch job and the sweep on the GitHub stand-in and a
moto server, each schedule read back over HTTP, and due schedules "fired" against moto EC2
(launcher.sandbox.scheduler: moto stores schedules but never runs them)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from launcher.adapters.github import GitHub
from launcher.core.backstop import backstop_name
from launcher.core.lifecycle import RequestState
from launcher.jobs.sweep import SweepOptions, SweepReport, run_sweep
from launcher.sandbox.moto import MotoServer
from launcher.sandbox.scheduler import fire_due
from tests.jobs.conftest import World
from tests.jobs.test_launch import (
    NOW,
    POOLS,
    WEB,
    instances,
    launch,
    merged,
    new_ec2,
    request,
)

SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/launcher-scheduler"
API = "deployments/dev/api.yaml"
PROVIDER = '{name: dev-use1, region: us-east-1, priority: 1, instance_types: ["t3.*"]}'
BACKSTOP_POOLS = POOLS.replace(PROVIDER, PROVIDER[:-1] + f", scheduler_role: {SCHEDULER_ROLE}}}")
assert BACKSTOP_POOLS != POOLS


@pytest.fixture
def world(launch_world: World) -> World:
    launch_world.sb.push_files(
        launch_world.repo_name, "main", {"pools.yaml": BACKSTOP_POOLS}, "backstop", "pat"
    )
    return launch_world


def scheduler() -> Any:
    return new_ec2()._client("scheduler", "us-east-1", None)


def schedule(name: str) -> dict[str, Any] | None:
    try:
        return scheduler().get_schedule(Name=name)  # type: ignore[no-any-return]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def schedules() -> list[str]:
    return sorted(s["Name"] for s in scheduler().list_schedules()["Schedules"])


def merge_sha(world: World, number: int) -> str:
    return world.repo("alice").get_pull(number).merge_commit_sha  # type: ignore[no-any-return]


def ids(key: str) -> list[str]:
    return sorted(i["InstanceId"] for i in instances(key=key))


def sweep(world: World, now: datetime, **options: Any) -> SweepReport:
    options = SweepOptions(now=now, **options)
    return run_sweep(GitHub(world.settings()), options, io.StringIO(), new_ec2())


def test_a_launch_gets_its_schedule_and_firing_it_ends_exactly_its_instances(
    world: World, moto_server: MotoServer
) -> None:
    web_pr = merged(world, "alice", {WEB: request(count=2, max_runtime="2h")})
    api_pr = merged(world, "alice", {API: request("api")})  # the pool's 7d cap
    report = launch(world)
    assert report.exit_code == 0, report.errors
    web, api = ids("dev/web"), ids("dev/api")
    assert len(web) == 2 and len(api) == 1

    name = backstop_name("dev/web", merge_sha(world, web_pr))
    found = schedule(name)
    assert found is not None
    assert found["ScheduleExpression"] == "at(2026-12-01T11:00:00)"  # launch + 2h
    assert found["ScheduleExpressionTimezone"] == "UTC"
    assert found["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert found["ActionAfterCompletion"] == "DELETE"
    assert found["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:ec2:terminateInstances"
    assert found["Target"]["RoleArn"] == SCHEDULER_ROLE
    assert json.loads(found["Target"]["Input"]) == {"InstanceIds": web}
    api_schedule = schedule(backstop_name("dev/api", merge_sha(world, api_pr)))
    assert api_schedule is not None
    assert api_schedule["ScheduleExpression"] == "at(2026-12-08T09:00:00)"
    assert any(name in line for line in report.done)

    # GitHub Actions never runs again: AWS alone ends dev/web on time, and only dev/web
    assert fire_due(moto_server.url, NOW + timedelta(hours=2) - timedelta(seconds=1)) == []
    [fired] = fire_due(moto_server.url, NOW + timedelta(hours=2))
    assert fired.input == {"InstanceIds": web} and fired.error is None
    assert ids("dev/web") == [] and ids("dev/api") == api
    assert schedule(name) is None

    # the sweep, when it runs again, records the expiry and finds nothing to repair
    later = sweep(world, NOW + timedelta(hours=2, minutes=5))
    assert later.exit_code == 0, later.errors
    assert not [line for line in later.budget.done if "repair" in line]
    # launcher's own view reads the request as EXPIRED (its record, no instance left)
    states = {r.key: r.state for r in launch(world, now=NOW + timedelta(hours=3)).records}
    assert states == {"dev/web": RequestState.EXPIRED, "dev/api": RequestState.RUNNING}


def test_the_schedule_moves_with_max_runtime(world: World, moto_server: MotoServer) -> None:
    first = merged(world, "alice", {WEB: request(max_runtime="8h")})
    launch(world)
    name = backstop_name("dev/web", merge_sha(world, first))
    merged(world, "alice", {WEB: request(max_runtime="2d")})
    report = launch(world, now=NOW + timedelta(hours=1))
    assert report.exit_code == 0, report.errors
    found = schedule(name)
    assert found is not None  # the same launch, the same schedule, moved
    assert found["ScheduleExpression"] == "at(2026-12-03T09:00:00)"
    assert found["ActionAfterCompletion"] == "DELETE"
    assert json.loads(found["Target"]["Input"]) == {"InstanceIds": ids("dev/web")}
    assert schedules() == [name]
    assert fire_due(moto_server.url, NOW + timedelta(hours=8)) == []  # not at the old time
    assert len(ids("dev/web")) == 1

    merged(world, "alice", {WEB: request(max_runtime="1h")})
    launch(world, now=NOW + timedelta(minutes=30))
    found = schedule(name)
    assert found is not None and found["ScheduleExpression"] == "at(2026-12-01T10:00:00)"


def test_the_schedule_disappears_with_the_request(world: World, moto_server: MotoServer) -> None:
    number = merged(world, "alice", {WEB: request(max_runtime="8h")})
    launch(world)
    name = backstop_name("dev/web", merge_sha(world, number))
    assert schedule(name) is not None
    merged(world, "alice", {WEB: None})
    report = launch(world, now=NOW + timedelta(hours=1))
    assert report.exit_code == 0, report.errors
    assert ids("dev/web") == [] and schedules() == []
    assert f"expiry backstop {name} deleted" in report.done


def test_a_replacement_gets_its_own_schedule_and_the_old_one_goes(
    world: World, moto_server: MotoServer
) -> None:
    old = merged(world, "alice", {WEB: request(max_runtime="8h")})
    launch(world)
    new = merged(world, "alice", {WEB: request(count=2, max_runtime="8h")})
    report = launch(world, now=NOW + timedelta(hours=1))
    assert report.exit_code == 0, report.errors
    name = backstop_name("dev/web", merge_sha(world, new))
    assert schedules() == [name]
    assert backstop_name("dev/web", merge_sha(world, old)) != name
    found = schedule(name)
    assert found is not None
    assert json.loads(found["Target"]["Input"]) == {"InstanceIds": ids("dev/web")}
    assert found["ScheduleExpression"] == "at(2026-12-01T18:00:00)"


def test_the_sweep_reports_and_repairs_a_missing_schedule(
    world: World, moto_server: MotoServer
) -> None:
    number = merged(world, "alice", {WEB: request(max_runtime="8h")})
    launch(world)
    name = backstop_name("dev/web", merge_sha(world, number))
    assert schedule(name) is not None
    scheduler().delete_schedule(Name=name)  # lost: deleted by hand, say

    dry = sweep(world, NOW + timedelta(minutes=15), dry_run=True)
    assert [line for line in dry.budget.would if name in line] == [
        f"repair dev/web: expiry backstop {name} created: ends {ids('dev/web')[0]} "
        "at 2026-12-01T17:00:00Z"
    ]
    assert schedule(name) is None

    report = sweep(world, NOW + timedelta(minutes=15))
    assert report.exit_code == 0, report.errors
    assert [line for line in report.budget.done if name in line] == dry.budget.would[-1:]
    found = schedule(name)
    assert found is not None and found["ActionAfterCompletion"] == "DELETE"
    assert found["ScheduleExpression"] == "at(2026-12-01T17:00:00)"
    assert json.loads(found["Target"]["Input"]) == {"InstanceIds": ids("dev/web")}

    again = sweep(world, NOW + timedelta(minutes=30))
    assert not [line for line in again.budget.done if name in line]
