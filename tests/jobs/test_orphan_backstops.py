"""Reaping orphans (`launcher sweep --reap-orphans`) deletes their expiry backstops too, on the
GitHub stand-in and a moto server: a schedule left behind would stay in the account until it
fires. A missing schedule is fine; an end the budget defers keeps its backstop."""

from __future__ import annotations

from datetime import timedelta

from launcher.core.backstop import Backstop, backstop_name
from launcher.core.matching import Location
from launcher.sandbox.moto import BUILTIN_AMIS, launch_tagged
from tests.jobs.conftest import World
from tests.jobs.test_backstop import SCHEDULER_ROLE, schedule, schedules, sweep
from tests.jobs.test_launch import NOW, instances, new_ec2


def orphan_with_backstop(name: str) -> tuple[list[str], str]:
    """Instances tagged for a request nobody recorded, with the schedule a launch gave them."""
    ec2 = new_ec2()
    ids = launch_tagged(ec2.client("us-east-1"), "dev", name, image_id=BUILTIN_AMIS["x86_64"])
    schedule_name = backstop_name(f"dev/{name}", "")
    ec2.set_backstop(
        Backstop(
            location=Location("us-east-1", None),
            name=schedule_name,
            at=NOW + timedelta(days=1),
            instance_ids=tuple(ids),
            role_arn=SCHEDULER_ROLE,
            key=f"dev/{name}",
        )
    )
    return ids, schedule_name


def test_reaping_orphans_deletes_their_backstops(launch_world: World) -> None:
    world = launch_world
    ids, name = orphan_with_backstop("ghost")
    bare = launch_tagged(
        new_ec2().client("us-east-1"), "dev", "bare", image_id=BUILTIN_AMIS["x86_64"]
    )
    assert schedules() == [name]

    reported = sweep(world, NOW)  # reported only: the instances and their backstop stay
    assert len(reported.orphans) == 2 and schedule(name) is not None

    dry = sweep(world, NOW, reap_orphans=True, dry_run=True)
    deleted = f"delete expiry backstop {name} of orphans of dev/ghost in us-east-1"
    assert f"{deleted} (if there is one)" in dry.budget.would
    assert schedule(name) is not None and len(instances(key="dev/ghost")) == 1

    report = sweep(world, NOW, reap_orphans=True)
    assert report.exit_code == 0, report.errors
    assert instances(key="dev/ghost") == [] and instances(key="dev/bare") == []
    assert schedules() == []
    assert report.budget.done == [
        f"terminate orphans of dev/bare in us-east-1: {bare[0]}",  # no schedule: nothing to delete
        f"terminate orphans of dev/ghost in us-east-1: {ids[0]}",
        deleted,
    ]


def test_an_orphan_end_the_budget_defers_keeps_its_backstop(launch_world: World) -> None:
    world = launch_world
    launch_tagged(new_ec2().client("us-east-1"), "dev", "bare", image_id=BUILTIN_AMIS["x86_64"])
    _, name = orphan_with_backstop("ghost")
    report = sweep(world, NOW, reap_orphans=True, max_actions=1)
    assert report.budget.done[0].startswith("terminate orphans of dev/bare")
    assert report.budget.deferred[0].startswith("terminate orphans of dev/ghost")
    assert len(instances(key="dev/ghost")) == 1 and schedule(name) is not None
    again = sweep(world, NOW, reap_orphans=True, max_actions=5)
    assert instances(key="dev/ghost") == [] and schedule(name) is None, again.errors
