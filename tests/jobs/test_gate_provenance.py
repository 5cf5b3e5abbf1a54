"""The gate decides from GitHub's record (activity log, issue events, git modes), end to end.

Each test plays an attack from issue 17 on the stand-in with the documented ruleset on the
default branch (pull requests required, stale approvals dismissed, `launcher/approval`
required) and checks it is refused: no passing verdict, and the attacker's merge is refused.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from github import GithubException, InputGitTreeElement

from launcher.sandbox import clock
from tests.jobs.conftest import World, request

WEB = "deployments/dev/web.yaml"


@pytest.fixture
def ruled(world: World) -> World:
    """The documented ruleset on main (docs/ruleset.json): pull requests, code-owner review,
    stale approvals dismissed, launcher/approval required from launcher's app."""
    body = json.loads((Path(__file__).parents[2] / "docs" / "ruleset.json").read_text())
    for rule in body["rules"]:
        if rule["type"] == "required_status_checks":
            for check in rule["parameters"]["required_status_checks"]:
                check["integration_id"] = world.app.id
    world.sb.create_ruleset(world.repo_name, body)
    return world


def refused_merge(world: World, login: str, number: int) -> None:
    with pytest.raises(GithubException) as caught:
        world.repo(login).get_pull(number).merge()
    assert caught.value.status == 405
    assert world.repo(login).get_pull(number).merged is False


def later(seconds: int = 2) -> None:
    """GitHub's timestamps have one-second resolution: let the next record be later."""
    clock.CLOCK.advance(dt.timedelta(seconds=seconds))


# --- 1. the opener's tier no longer covers everyone's pushes ----------------------------------


def test_a_push_by_someone_without_permission_refuses_the_opener_s_request(ruled: World) -> None:
    world = ruled
    number = world.open_pr("alice", {WEB: request()})
    world.gate(number)
    assert world.status(number) == ("success", "1 request may launch")
    world.push(number, {"deployments/dev/swarm.yaml": request("swarm", count=900)}, "mallory")
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "failure"
    assert description.startswith("2 problems; first: pushed by mallory: mallory has no permission")
    body = world.comments(number)[0].body
    assert "Pushed to this pull request besides its author: `mallory`" in body
    refused_merge(world, "mallory", number)


def test_a_pull_request_merged_into_the_opener_s_branch_counts_as_its_merger_s_push(
    ruled: World,
) -> None:
    """GitHub records a pull request merged into a branch as `pr_merge`, not `push`: mallory
    merging her own pull request into alice's branch put her request in alice's pull request
    all the same, and it must be judged on mallory's tier, not alice's."""
    world = ruled
    number = world.open_pr("alice", {WEB: request()})
    world.gate(number)
    assert world.status(number) == ("success", "1 request may launch")
    alice_branch = world.branches[number]
    world.sb.push_files(
        world.repo_name,
        "mallory/x",
        {"deployments/dev/swarm.yaml": request("swarm", count=900)},
        "swarm",
        "mallory",
        base=alice_branch,
    )
    into = world.repo("mallory").create_pull(
        title="x", body="", head="mallory/x", base=alice_branch
    )
    world.gate(into.number)  # into another branch than main: launcher decides nothing there
    world.repo("mallory").get_pull(into.number).merge()
    assert any(  # GitHub's record of it: a pr_merge of alice's branch by mallory
        a.activity_type == "pr_merge" and a.actor == "mallory" for a in world.sb.gh.activity.entries
    )
    world.gate(number)
    state, description = world.status(number)
    assert state == "failure"
    assert "pushed by mallory: mallory has no permission" in description
    assert "`mallory`" in world.comments(number)[0].body
    refused_merge(world, "mallory", number)


def test_a_pusher_with_approval_tier_makes_the_opener_s_request_wait(ruled: World) -> None:
    world = ruled
    number = world.open_pr("alice", {WEB: request()})
    world.push(number, {WEB: request(count=6)}, "bob")
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    assert "pushed by bob: bob has create_with_approval" in world.comments(number)[0].body
    refused_merge(world, "bob", number)
    world.review("dave", number)
    world.gate(number)
    assert world.status(number) == ("success", "1 request may launch")


def test_an_approver_who_pushed_cannot_approve_what_they_pushed(ruled: World) -> None:
    world = ruled
    number = world.open_pr("bob", {WEB: request()})
    world.push(number, {WEB: request(count=4)}, "dave")
    world.review("dave", number)
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    refused_merge(world, "bob", number)
    world.review("erin", number)
    world.gate(number)
    assert world.status(number)[0] == "success"


def test_a_bot_pusher_holds_no_tier(ruled: World) -> None:
    world = ruled
    world.tokens["helper[bot]"] = world.sb.add_user("helper[bot]", bot=True)
    number = world.open_pr("alice", {WEB: request()})
    world.push(number, {WEB: request(count=3)}, "helper[bot]")
    world.gate(number)
    state, description = world.status(number)
    assert state == "failure" and "a bot or unknown account holds no tier" in description
    refused_merge(world, "alice", number)


def test_pushes_no_longer_in_the_pull_request_do_not_count(world: World) -> None:
    number = world.open_pr("alice", {WEB: request()})
    head = world.sb.branch_sha(world.repo_name, world.branches[number])
    world.push(number, {"deployments/dev/swarm.yaml": request("swarm", count=900)}, "mallory")
    world.repo("alice").get_git_ref(f"heads/{world.branches[number]}").edit(head, force=True)
    world.gate(number)
    assert world.status(number) == ("success", "1 request may launch")
    assert "besides its author" not in world.comments(number)[0].body


def test_an_unreadable_activity_list_is_an_error(world: World) -> None:
    number = world.open_pr("alice", {WEB: request()})
    world.sb.inject_fault("GET", "/repos/{owner}/{repo}/activity", kind="error", times=10)
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "error" and "reading the repository activity" in description


# --- 2. an approval does not survive a change of base -----------------------------------------


def _retargeted(world: World) -> int:
    """bob's one small server, approved by dave into a side branch, then retargeted to main,
    where the diff also holds the side branch's eight-instance request."""
    sb, repo = world.sb, world.repo_name
    big = {"deployments/dev/big.yaml": request("big", count=8)}
    sb.push_files(repo, "side", big, "big", "bob", base="main")
    sb.push_files(repo, "bob/small", {WEB: request()}, "small", "bob", base="side")
    pull = world.repo("bob").create_pull(title="small", body="", head="bob/small", base="side")
    world.branches[pull.number] = "bob/small"
    world.review("dave", pull.number, body="one small server is fine")
    later()
    world.repo("bob").get_pull(pull.number).edit(base="main")
    return int(pull.number)


def test_an_approval_given_before_a_retarget_to_main_does_not_count(ruled: World) -> None:
    world = ruled
    number = _retargeted(world)
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    refused_merge(world, "bob", number)
    later()
    world.review("dave", number, body="both, then")
    world.gate(number)
    assert world.status(number) == ("success", "2 requests may launch")


def test_the_gate_itself_discounts_approvals_from_before_the_base_change(world: World) -> None:
    """Without the ruleset's stale-approval dismissal, the gate's own rule holds."""
    number = _retargeted(world)
    world.gate(number)
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    assert "given before the base changed: @dave" in world.comments(number)[0].body


# --- 3. only an approver or an admin can lift a veto ------------------------------------------


def _dismiss_latest(world: World, number: int, by: str, reviewer: str) -> None:
    pull = world.repo(by).get_pull(number)
    review = [r for r in pull.get_reviews() if r.user.login == reviewer][-1]
    pull.get_review(review.id).dismiss("not needed")


@pytest.mark.parametrize("dismisser", ["bob", "carol"])
def test_a_dismissal_by_the_author_or_a_non_approver_leaves_the_veto(
    ruled: World, dismisser: str
) -> None:
    world = ruled
    number = world.open_pr("bob", {WEB: request(count=8)})
    world.review("erin", number, "REQUEST_CHANGES", "Eight is too many")
    world.review("dave", number)
    _dismiss_latest(world, number, dismisser, "erin")
    world.gate(number)
    state, description = world.status(number)
    assert state == "failure"
    assert description.startswith(f"rejected by @erin: Eight is too many (dismissed by {dismisser}")
    assert f"Dismissed by `{dismisser}`, who may not lift it" in world.comments(number)[0].body
    refused_merge(world, "bob", number)


def test_a_dismissal_by_a_pusher_leaves_the_veto_even_if_they_approve(ruled: World) -> None:
    world = ruled
    number = world.open_pr("bob", {WEB: request(count=8)})
    world.review("erin", number, "REQUEST_CHANGES", "Eight is too many")
    world.push(number, {WEB: request(count=7)}, "dave")
    _dismiss_latest(world, number, "dave", "erin")
    world.gate(number)
    assert world.status(number)[0] == "failure"
    refused_merge(world, "bob", number)


@pytest.mark.parametrize("dismisser", ["dave", "pat"])
def test_a_dismissal_by_an_approver_or_an_admin_lifts_the_veto(
    world: World, dismisser: str
) -> None:
    number = world.open_pr("bob", {WEB: request(count=8)})
    world.review("erin", number, "REQUEST_CHANGES", "Eight is too many")
    world.review("lea", number)
    _dismiss_latest(world, number, dismisser, "erin")
    world.gate(number)
    assert world.status(number) == ("success", "1 request may launch")


# --- 6. only regular files are requests ------------------------------------------------------


def push_tree(world: World, number: int, entries: list[tuple[str, str, str]], actor: str) -> None:
    """Commit `entries` (path, mode, content or submodule commit) on the pull request's branch
    through the git database API, as `actor`."""
    repo = world.repo(actor)
    branch = world.branches[number]
    head = repo.get_branch(branch).commit.sha
    elements: list[Any] = []
    for path, mode, content in entries:
        if mode == "160000":
            elements.append(InputGitTreeElement(path, mode, "commit", sha=content))
        else:
            blob = repo.create_git_blob(content, "utf-8")
            elements.append(InputGitTreeElement(path, mode, "blob", sha=blob.sha))
    tree = repo.create_git_tree(elements, repo.get_git_tree(head))
    commit = repo.create_git_commit("modes", tree, [repo.get_git_commit(head)])
    repo.get_git_ref(f"heads/{branch}").edit(commit.sha)


@pytest.mark.parametrize(
    ("mode", "what"),
    [("120000", "a symbolic link"), ("160000", "a submodule"), ("100755", "an executable file")],
)
def test_a_request_that_is_not_a_regular_file_is_invalid(
    ruled: World, mode: str, what: str
) -> None:
    world = ruled
    number = world.open_pr("alice", {WEB: request()})
    target = {
        "120000": "web.yaml",
        "160000": world.sb.branch_sha(world.repo_name, "main"),
        "100755": request("tool"),
    }[mode]
    push_tree(world, number, [("deployments/dev/tool.yaml", mode, target)], "alice")
    outcome, out = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "failure"
    assert description == (
        f"deployments/dev/tool.yaml is {what}: only regular files (mode 100644) are launch requests"
    )
    assert "::error file=deployments/dev/tool.yaml" in out
    refused_merge(world, "alice", number)


# --- 7. limits ---------------------------------------------------------------------------------


def test_300_request_files_fit_the_comment_and_the_full_list_is_in_the_details(
    world: World, tmp_path: Any
) -> None:
    import io

    from launcher.adapters.github import GitHub
    from launcher.core.limits import COMMENT_LIMIT
    from launcher.jobs.gate import run_gate

    long = "x" * 40
    files = {f"deployments/dev/{long}-{i:03d}.yaml": request(f"{long}-{i:03d}") for i in range(300)}
    number = world.open_pr("bob", files)
    settings = world.settings()
    settings.step_summary = str(tmp_path / "summary.md")
    outcome = run_gate(GitHub(settings), number, out=io.StringIO(), match=False)
    assert outcome.state.value == "pending"  # decided, not an error on the comment's size
    (comment,) = world.comments(number)
    assert len(comment.body) <= COMMENT_LIMIT
    summary_at = comment.body.index("waiting for 1 approval from dev approvers")
    assert summary_at < comment.body.index("| file |")
    assert "more lines not shown (GitHub's size limit)" in comment.body
    details = (tmp_path / "summary.md").read_text()
    assert all(path in details for path in files)


def test_a_refused_review_request_is_a_warning_not_an_error(world: World) -> None:
    world.sb.add_team("acme", "outsiders", members=["frank"])  # no access to acme/infra
    pools = (world.repo("alice").get_contents("pools.yaml").decoded_content.decode()).replace(
        'modify: ["group:dev-owners", "@acme/dev-leads"]', 'modify: ["@acme/outsiders"]'
    )
    world.sb.push_files(world.repo_name, "main", {"pools.yaml": pools}, "outsiders", "pat")
    number = world.open_pr("bob", {WEB: request()})
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 0
    assert world.status(number) == ("pending", "waiting for 1 approval from dev approvers")
    body = world.comments(number)[0].body
    assert "**Warning:** could not request reviews from @\u200bacme/outsiders" in body
    assert "Reviews may only be requested from collaborators" in body


def test_a_head_commit_no_recorded_push_put_there_is_an_error(world: World) -> None:
    """A ref moved outside GitHub's record (here: straight in the bare repository) leaves no
    one to attribute the head commit to: the gate cannot tell who pushed, so it errs."""
    import subprocess

    number = world.open_pr("alice", {WEB: request()})
    repo = world.repo("alice")
    branch = world.branches[number]
    head = repo.get_branch(branch).commit.sha
    blob = repo.create_git_blob(request("swarm", count=900), "utf-8")
    element = InputGitTreeElement("deployments/dev/swarm.yaml", "100644", "blob", sha=blob.sha)
    tree = repo.create_git_tree([element], repo.get_git_tree(head))
    commit = repo.create_git_commit("unrecorded", tree, [repo.get_git_commit(head)])
    git_dir = world.sb.git_dir(world.repo_name)
    for ref in (f"refs/heads/{branch}", f"refs/pull/{number}/head"):
        subprocess.run(
            ["git", "--git-dir", str(git_dir), "update-ref", ref, commit.sha], check=True
        )
    with world.sb.gh.state.lock:  # the stand-in's view of its branches, moved the same way
        world.sb.repo(world.repo_name).branches[branch] = commit.sha
    assert world.repo("alice").get_pull(number).head.sha == commit.sha
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1
    state, description = world.status(number)
    assert state == "error" and "who pushed it cannot be told" in description


def test_annotations_go_on_the_check_run_fifty_per_request(world: World) -> None:
    bad = request().replace("count: 1", "count: [1")
    files = {f"deployments/dev/bad-{i:02d}.yaml": bad for i in range(60)}
    number = world.open_pr("alice", files)
    outcome, _ = world.gate(number)
    assert outcome.exit_code == 1  # a failure verdict, not an error on GitHub's limit
    assert world.status(number)[0] == "failure"
    head = world.repo("alice").get_pull(number).head.sha
    (run,) = [
        r
        for r in world.repo("alice").get_commit(head).get_check_runs(check_name="launcher/approval")
        if r.app.slug == "launcher"
    ]
    assert run.output.annotations_count == 60  # 50 with the run, 10 more in an update
    posted = [
        r for r in world.sb.requests() if r.method in ("POST", "PATCH") and "check-runs" in r.path
    ]
    assert [r.method for r in posted] == ["POST", "PATCH"]
