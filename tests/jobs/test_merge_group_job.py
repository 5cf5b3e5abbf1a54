"""The merge group's verdict as the service calls it: a `merge_group` delivery in, the check
on the group's commit out (no Actions runner), read again from the API."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from launcher.adapters.github import GitHub
from launcher.core.pulls import Pull
from launcher.jobs.merge_group import Group, group_of, run_merge_group, run_merge_group_event
from tests.jobs.conftest import World, request, verdict_of

WEB = "deployments/dev/web.yaml"


def gated(world: World, author: str, files: dict[str, str | None], approver: str = "") -> int:
    number = world.open_pr(author, files)
    if approver:
        world.review(approver, number)
    outcome, _ = world.gate(number)
    assert outcome.state.value == "success", outcome.description
    return number


def test_a_delivery_is_judged_from_the_api_and_a_later_group_covers_the_ones_ahead(
    world: World,
) -> None:
    sb = world.sb
    sb.enable_merge_queue(world.repo_name, required_checks=["launcher/approval"])
    web = gated(world, "alice", {WEB: request()})
    api = gated(world, "bob", {"deployments/dev/api.yaml": request("api")}, approver="dave")
    sb.enqueue_pull(world.repo_name, web, "pat")
    sb.enqueue_pull(world.repo_name, api, "pat")
    first, second = (e.payload for e in sb.events(0, "merge_group", "checks_requested"))
    gh = GitHub(world.settings())
    # The second group carries the first: judged from main, it holds both pull requests.
    group = group_of(second)
    assert group is not None
    outcome = run_merge_group(gh, group, out=io.StringIO())
    assert outcome.decision is not None and outcome.decision.pulls == (web, api)
    assert verdict_of(world.repo("pat"), group.head_sha) == (
        "success",
        "merge group of 2 pull requests: every change judged",
    )
    # Launcher's check passing on the last group merges both (the stand-in's queue requires it).
    assert world.repo("pat").get_pull(web).merged and world.repo("pat").get_pull(api).merged
    # A replayed delivery for a group already merged writes nothing; a `destroyed` one is
    # not a request to judge.
    again = run_merge_group_event(GitHub(world.settings()), second, out=io.StringIO())
    assert again is not None
    assert again.writes == [] and again.description.endswith("is already on main: nothing to judge")
    (destroyed, *_) = (e.payload for e in sb.events(0, "merge_group", "destroyed"))
    assert run_merge_group_event(gh, destroyed) is None and group_of(first) is not None


def test_another_branchs_group_or_a_hand_over_of_another_event_is_not_judged(
    world: World,
) -> None:
    gh = GitHub(world.settings())
    head = world.sb.branch_sha(world.repo_name, "main")
    # a workflow_run of a run GitHub did not start on merge_group names no group
    run = {"workflow_run": {"event": "push", "head_sha": head, "head_branch": "x"}}
    assert group_of(run) is None
    mine = Group(head, "refs/heads/gh-readonly-queue/release/pr-1-" + "0" * 40)
    outcome = run_merge_group(gh, mine, out=io.StringIO())
    assert outcome.writes == [] and outcome.description.endswith(
        "is not a merge group of main: nothing to judge"
    )
    assert verdict_of(world.repo("pat"), head) is None


def test_a_queued_pull_request_whose_head_repository_is_gone_is_refused_as_the_gate_does(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub lists a pull request whose head repository was deleted with `head.repo` null
    (head_repo ""): the gate refuses it as a fork's, and so does its merge group."""
    sb = world.sb
    sb.enable_merge_queue(world.repo_name, required_checks=["launcher/approval"])
    web = gated(world, "alice", {WEB: request()})
    sb.enqueue_pull(world.repo_name, web, "pat")
    (payload,) = (e.payload for e in sb.events(0, "merge_group", "checks_requested"))
    listed = GitHub.open_pulls

    def head_repository_gone(self: GitHub, base: str) -> list[Pull]:
        return [replace(p, head_repo="") if p.number == web else p for p in listed(self, base)]

    monkeypatch.setattr(GitHub, "open_pulls", head_repository_gone)
    group = group_of(payload)
    assert group is not None
    run_merge_group(GitHub(world.settings()), group, out=io.StringIO())
    verdict = verdict_of(world.repo("pat"), group.head_sha)
    assert verdict is not None and verdict[0] == "failure" and f"#{web}" in verdict[1]
    assert not world.repo("pat").get_pull(web).merged
