"""`launcher sweep` for what runs: scheduled launches when due, expiry with warnings, orphans.

Real components: the GitHub stand-in over HTTP and a moto EC2 server; the launch job records
deployments exactly as on merge.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from launcher.adapters.github import GitHub
from launcher.jobs.sweep import SweepOptions, SweepReport, run_sweep
from launcher.sandbox.moto import BUILTIN_AMIS, launch_tagged
from tests.jobs.conftest import World
from tests.jobs.test_launch import (
    NOW,
    WEB,
    instances,
    launch,
    merged,
    new_ec2,
    request,
    statuses,
)

WRITES = ("POST", "PATCH", "PUT", "DELETE")


def sweep(world: World, now: datetime, **options: Any) -> tuple[SweepReport, str]:
    out = io.StringIO()
    report = run_sweep(GitHub(world.settings()), SweepOptions(now=now, **options), out, new_ec2())
    return report, out.getvalue()


def sweep_comments(world: World, number: int, kind: str) -> list[str]:
    return [c.body for c in world.comments(number) if f"launcher:sweep:{kind}" in c.body]


def test_scheduled_request_launches_when_due_not_before(launch_world: World) -> None:
    world = launch_world
    merged(world, "alice", {WEB: request(launch_at="2026-12-01T11:00:00Z")})
    launch(world)  # on merge: recorded as SCHEDULED
    assert instances(key="dev/web") == []
    assert statuses(world, "dev/web")[-1][-1][0] == "queued"

    report, out = sweep(world, NOW + timedelta(hours=1))
    assert instances(key="dev/web") == [] and report.reconciled == []
    assert "dev/web launches at 2026-12-01 11:00 UTC" in out

    report, _ = sweep(world, NOW + timedelta(hours=2))
    assert report.exit_code == 0, report.errors
    assert len(instances(key="dev/web")) == 1
    assert report.reconciled == ["dev/web: scheduled launch due since 2026-12-01 11:00 UTC"]

    world.sb.reset_requests()
    again, _ = sweep(world, NOW + timedelta(hours=2))
    assert again.budget.done == [] and again.reconciled == []
    written = world.sb.request_counts()
    assert [k for k in written if k.startswith(WRITES) and not k.startswith("POST /app/")] == []
    # both of launcher's tasks it reads (launches, closed pull requests) from one listing
    assert written["GET /repos/{owner}/{repo}/deployments"] == 1
    assert len(instances(key="dev/web")) == 1


def test_expiry_is_warned_once_per_window_then_terminated(launch_world: World) -> None:
    world = launch_world
    number = merged(world, "alice", {WEB: request(max_runtime="8h")})
    launch(world)
    assert len(instances(key="dev/web")) == 1  # expires at NOW + 8h

    sweep(world, NOW + timedelta(hours=1))
    sweep(world, NOW + timedelta(hours=2))
    (first,) = sweep_comments(world, number, "expiry")
    assert (
        "@alice the instances of `dev/web` reach their maximum runtime at 2026-12-01 17:00" in first
    )

    sweep(world, NOW + timedelta(hours=7, minutes=30))
    sweep(world, NOW + timedelta(hours=7, minutes=45))
    assert len(sweep_comments(world, number, "expiry")) == 2  # 24 h, then 1 h: once each

    report, _ = sweep(world, NOW + timedelta(hours=8))
    assert report.exit_code == 0, report.errors
    assert instances(key="dev/web") == []
    assert statuses(world, "dev/web")[-1][-1][0] == "inactive"
    assert "expired" in statuses(world, "dev/web")[-1][-1][1]


def test_a_skipped_sweep_still_ends_what_expired(launch_world: World) -> None:
    world = launch_world
    merged(world, "alice", {WEB: request(max_runtime="1h")})
    launch(world)
    sweep(world, NOW + timedelta(days=3))  # the scheduled runs were skipped for days
    assert instances(key="dev/web") == []


def test_orphans_are_reported_and_reaped_only_when_asked(launch_world: World) -> None:
    world = launch_world
    client = new_ec2().client("us-east-1")
    ids = launch_tagged(client, "dev", "ghost", image_id=BUILTIN_AMIS["x86_64"])
    report, out = sweep(world, NOW)
    assert report.orphans == [f"dev/ghost (commit ): {ids[0]}"]
    assert "Orphaned instances" in out
    assert len(instances(key="dev/ghost")) == 1
    report, _ = sweep(world, NOW, reap_orphans=True)
    assert instances(key="dev/ghost") == []
    assert report.budget.done == [f"terminate orphans of dev/ghost in us-east-1: {ids[0]}"]


def test_dry_run_launches_nothing(launch_world: World) -> None:
    world = launch_world
    merged(world, "alice", {WEB: request(launch_at="2026-12-01T11:00:00Z")})
    launch(world)
    report, _ = sweep(world, NOW + timedelta(hours=3), dry_run=True)
    assert instances(key="dev/web") == []
    assert report.budget.would and report.budget.done == []


def test_a_replaced_version_left_running_by_a_crash_is_ended(launch_world: World) -> None:
    """The replacement ran and was recorded, but terminating the old instances failed: the
    sweep sees instances of an earlier version still up and runs the reconcile, which ends
    them (nothing else would until the next push)."""
    from launcher.sandbox.moto import inject_ec2_error

    world = launch_world
    merged(world, "alice", {WEB: request(count=1)})
    launch(world)
    [old] = instances(key="dev/web")
    merged(world, "alice", {WEB: request(count=2)})
    ec2 = new_ec2()
    with inject_ec2_error(ec2.client("us-east-1"), "TerminateInstances", "InternalError", "x"):
        crashed = launch(world, ec2)
    assert crashed.errors and len(instances(key="dev/web")) == 3
    report, _ = sweep(world, NOW + timedelta(minutes=15))
    assert report.exit_code == 0, report.errors
    assert report.reconciled, "the sweep did not notice the old version still running"
    found = {i["InstanceId"] for i in instances(key="dev/web")}
    assert len(found) == 2 and old["InstanceId"] not in found
    again, _ = sweep(world, NOW + timedelta(minutes=30))
    assert again.reconciled == [] and again.budget.done == []
