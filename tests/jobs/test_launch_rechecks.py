"""What the launch job re-checks at launch time, end to end on the GitHub stand-in and moto
(issue 18): a removal of someone else's request merged without a valid verdict ends nothing;
a requester or approver removed from pools.yaml on main launches nothing new; an approval
given after a scheduled request's launch_at does not launch it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from launcher.core.gate import State
from launcher.core.lifecycle import Category, RequestState
from launcher.sandbox.clock import CLOCK
from tests.jobs.conftest import World
from tests.jobs.test_launch import (
    NOW,
    POOLS,
    WEB,
    comment_bodies,
    instances,
    launch,
    merged,
    request,
    statuses,
)


@pytest.fixture(autouse=True)
def _on_the_launch_clock() -> None:
    """Reviews, merges and EC2's LaunchTime on the same clock as the runs' `now`."""
    CLOCK.set(NOW)


def main_sha(world: World) -> str:
    return str(world.repo("alice").get_branch("main").commit.sha)


def merge_sha(world: World, number: int) -> str:
    return str(world.repo("alice").get_pull(number).merge_commit_sha)


def bobs_running_request(world: World) -> int:
    number = merged(world, "bob", {WEB: request(count=2)}, approver="dave")
    assert launch(world).exit_code == 0
    assert len(instances(key="dev/web")) == 2
    return number


# --- removals ---------------------------------------------------------------------------------


def test_the_gate_holds_a_removal_of_someone_elses_request_until_approvers_approve(
    launch_world: World,
) -> None:
    bobs_running_request(launch_world)
    number = launch_world.open_pr("alice", {WEB: None})
    outcome, _ = launch_world.gate(number)
    assert outcome.state is State.PENDING
    assert outcome.description == "waiting for 1 approval from dev approvers"
    assert launch_world.requested(number)[0] == ["dave", "erin"]
    launch_world.review("dave", number)
    outcome, _ = launch_world.gate(number)
    assert outcome.state is State.SUCCESS
    own = launch_world.open_pr("bob", {WEB: None})  # bob is the recorded requester
    assert launch_world.gate(own)[0].state is State.SUCCESS


def test_a_removal_merged_without_a_valid_verdict_keeps_the_instances_until_expiry(
    launch_world: World,
) -> None:
    bobs_running = bobs_running_request(launch_world)
    running = sorted(i["InstanceId"] for i in instances(key="dev/web"))
    number = merged(launch_world, "alice", {WEB: None})  # alice: create, not bob's approver
    sha = merge_sha(launch_world, number)
    for _ in range(2):
        report = launch(launch_world)
        [(key, error)] = report.failed
        assert key == "dev/web" and error.category is Category.NOT_APPROVED
        assert error.message.startswith(
            f"deployments/dev/web.yaml was removed from main in {sha[:7]} by #{number} "
            "(@alice) without a valid verdict: alice is neither its requester (@bob) nor an "
            "approver of pool dev"
        )
    assert sorted(i["InstanceId"] for i in instances(key="dev/web")) == running
    [notice] = [b for b in comment_bodies(launch_world, number) if "removal-not-approved" in b]
    assert "@bob @dave @erin: **not_approved**:" in notice
    assert "keeps instances" in notice and "until 2026-12-08T09:00:00Z" in notice
    assert not any("removal" in b for b in comment_bodies(launch_world, bobs_running))
    # at its expiry (the pool's 7d cap) the instances end as any other's would
    report = launch(launch_world, now=NOW + timedelta(days=7, minutes=1))
    assert report.failed == [] and report.exit_code == 0, (report.failed, report.errors)
    assert instances(key="dev/web") == []
    assert statuses(launch_world, "dev/web")[-1][-1] == ("inactive", "expired: max_runtime reached")


def test_a_removal_the_pools_approvers_approved_ends_the_request(launch_world: World) -> None:
    bobs_running_request(launch_world)
    merged(launch_world, "alice", {WEB: None}, approver="erin")
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    assert instances(key="dev/web") == []


def test_a_removal_pushed_straight_to_main_is_not_approved(launch_world: World) -> None:
    bobs_running_request(launch_world)
    sha = launch_world.sb.push_files(launch_world.repo_name, "main", {WEB: None}, "rm", "alice")
    [(_, error)] = launch(launch_world).failed
    assert error.category is Category.NOT_APPROVED
    assert error.message == (
        f"deployments/dev/web.yaml was removed from main in {sha[:7]} without a merged pull request"
    )
    assert len(instances(key="dev/web")) == 2


# --- permissions revoked on main ----------------------------------------------------------------


def test_a_scheduled_request_whose_approver_was_revoked_does_not_launch(
    launch_world: World,
) -> None:
    number = merged(
        launch_world, "bob", {WEB: request(launch_at="2026-12-01T12:00:00Z")}, approver="dave"
    )
    assert launch(launch_world).exit_code == 0  # SCHEDULED
    revoked = POOLS.replace("dev-owners: [dave, erin]", "dev-owners: [erin]")
    launch_world.sb.push_files(
        launch_world.repo_name, "main", {"pools.yaml": revoked}, "dave leaves", "pat"
    )
    sha = main_sha(launch_world)
    report = launch(launch_world, now=NOW + timedelta(hours=4))
    [(key, error)] = report.failed
    assert error.category is Category.NOT_APPROVED
    assert error.message.startswith(
        f"revoked in pools.yaml on main at {sha[:7]}: #{number} by @bob: @dave approved it but "
        "no longer approves on pool dev"
    )
    assert instances(key="dev/web") == []
    assert any(
        f"revoked in pools.yaml on main at {sha[:7]}" in b
        for b in comment_bodies(launch_world, number)
    )


def test_a_revoked_requester_launches_nothing_new_and_what_runs_keeps_running(
    launch_world: World,
) -> None:
    bobs_running_request(launch_world)
    number = merged(
        launch_world,
        "bob",
        {"deployments/dev/later.yaml": request("later", launch_at="2026-12-01T12:00:00Z")},
        approver="dave",
    )
    assert launch(launch_world).exit_code == 0
    revoked = POOLS.replace("create_with_approval: [bob, carol]", "create_with_approval: [carol]")
    launch_world.sb.push_files(
        launch_world.repo_name, "main", {"pools.yaml": revoked}, "bob leaves", "pat"
    )
    sha = main_sha(launch_world)
    report = launch(launch_world, now=NOW + timedelta(hours=4))
    [(key, error)] = report.failed
    assert key == "dev/later" and error.category is Category.NOT_APPROVED
    assert error.message.startswith(
        f"revoked in pools.yaml on main at {sha[:7]}: #{number} by @bob: bob has no permission "
        "on pool dev"
    )
    assert instances(key="dev/later") == []
    assert len(instances(key="dev/web")) == 2  # what already ran keeps running
    web = [r for r in report.records if r.key == "dev/web"]
    assert web[-1].state is RequestState.RUNNING


# --- approvals after launch_at ------------------------------------------------------------------


def at(when: str) -> None:
    CLOCK.set(datetime.fromisoformat(when).replace(tzinfo=UTC))


def test_an_approval_after_launch_at_is_auto_rejected_and_the_requester_told(
    launch_world: World,
) -> None:
    at("2026-12-01T08:00:00")
    number = launch_world.open_pr("bob", {WEB: request(launch_at="2026-12-01T09:00:00Z")})
    at("2026-12-01T09:30:00")  # the request waited past its launch_at
    launch_world.review("dave", number)
    outcome, _ = launch_world.gate(number)
    assert outcome.state is State.PENDING  # the late approval does not count at the gate
    launch_world.repo("bob").get_pull(number).merge()  # merged anyway (an admin's bypass)
    sha = merge_sha(launch_world, number)
    report = launch(launch_world, now=datetime(2026, 12, 1, 9, 31, tzinfo=UTC))
    [(_, error)] = report.failed
    assert error.category is Category.AUTO_REJECTED
    assert error.message == (
        f"not approved before the scheduled launch time 2026-12-01 09:00 UTC: #{number} by "
        f"@bob, merged in {sha[:7]}, was approved by @dave at 2026-12-01 09:30 UTC, after it. "
        "Propose a new launch_at in a new pull request."
    )
    assert instances(key="dev/web") == []
    [told] = [b for b in comment_bodies(launch_world, number) if "auto_rejected" in b]
    assert "@bob your launch request `dev/web` could not launch: **auto_rejected**" in told
    assert "Propose a new launch_at" in told


def test_approved_in_time_and_merged_after_launch_at_launches_at_merge(
    launch_world: World,
) -> None:
    at("2026-12-01T08:00:00")
    number = launch_world.open_pr("bob", {WEB: request(launch_at="2026-12-01T09:00:00Z")})
    launch_world.review("dave", number)
    at("2026-12-01T10:00:00")
    launch_world.repo("bob").get_pull(number).merge()
    report = launch(launch_world, now=datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    assert report.exit_code == 0, (report.failed, report.errors)
    assert len(instances(key="dev/web")) == 1


def test_create_needs_no_approval_and_launches_on_merge_after_launch_at(
    launch_world: World,
) -> None:
    merged(launch_world, "alice", {WEB: request(launch_at="2026-11-30T09:00:00Z")})
    report = launch(launch_world)
    assert report.exit_code == 0, (report.failed, report.errors)
    assert len(instances(key="dev/web")) == 1
