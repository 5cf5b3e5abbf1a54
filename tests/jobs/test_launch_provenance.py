"""The launch re-check finds the pull request a request really reached the default branch
through, whatever other pull requests hold the same commit."""

from __future__ import annotations

from tests.jobs.conftest import World
from tests.jobs.test_launch import WEB, instances, launch, request


def test_a_second_merged_pull_request_on_the_same_head_does_not_unapprove_a_request(
    launch_world: World,
) -> None:
    world, sb = launch_world, launch_world.sb
    approved = world.open_pr("bob", {WEB: request()})
    world.review("dave", approved)
    head = sb.branch_sha(world.repo_name, world.branches[approved])
    # mallory (no tier on dev) opens a pull request on the very same commit ...
    world.repo("mallory").create_git_ref("refs/heads/mallory/same", head)
    copy = world.repo("mallory").create_pull(
        title="same", body="", head="mallory/same", base="main"
    )
    assert world.repo("dave").get_pull(approved).merge().merged
    # ... and gets it merged after the approved one: it now holds the commit too, newer.
    assert world.repo("pat").get_pull(copy.number).merge().merged
    pulls = world.repo("pat").get_commit(head).get_pulls()
    assert sorted(p.number for p in pulls if p.merged) == [approved, copy.number]
    report = launch(world)
    assert report.exit_code == 0, report.errors
    (instance,) = instances(key="dev/web")
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert (tags["launcher:pr"], tags["launcher:requested-by"]) == (str(approved), "bob")


def test_a_request_merged_into_the_opener_s_branch_is_judged_on_its_merger_s_tier(
    launch_world: World,
) -> None:
    """mallory merges her pull request into alice's branch (GitHub's `pr_merge`), and alice's
    pull request reaches main without a new verdict (no ruleset here, as an admin's bypass
    would): the launch re-check counts mallory as a pusher and launches neither request."""
    world, sb = launch_world, launch_world.sb
    number = world.open_pr("alice", {WEB: request()})
    sb.push_files(
        world.repo_name,
        "mallory/x",
        {"deployments/dev/swarm.yaml": request("swarm")},
        "swarm",
        "mallory",
        base=world.branches[number],
    )
    into = world.repo("mallory").create_pull(
        title="x", body="", head="mallory/x", base=world.branches[number]
    )
    assert world.repo("mallory").get_pull(into.number).merge().merged
    assert world.repo("alice").get_pull(number).merge().merged
    report = launch(world)
    assert instances(key="dev/swarm") == [] and instances(key="dev/web") == []
    assert report.exit_code != 0
    assert any("mallory" in error.describe() for _, error in report.failed), report.summary()
