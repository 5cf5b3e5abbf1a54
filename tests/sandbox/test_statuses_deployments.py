"""Commit statuses, check runs and deployments, through PyGithub."""

from __future__ import annotations

import pytest
from github import GithubException

from tests.sandbox.conftest import World


def test_statuses_and_combined_status(world: World) -> None:
    repo = world.repo("bob")
    sha = world.sb.branch_sha("acme/infra", "main")
    commit = repo.get_commit(sha)
    commit.create_status("pending", description="checking", context="launcher/approval")
    commit.create_status("success", target_url="http://ci/1", context="launcher/approval")
    commit.create_status("failure", context="lint")
    statuses = list(commit.get_statuses())
    assert [(s.context, s.state) for s in statuses] == [
        ("lint", "failure"),
        ("launcher/approval", "success"),
        ("launcher/approval", "pending"),
    ]
    assert statuses[0].creator.login == "bob"
    combined = repo.get_commit("main").get_combined_status()
    assert combined.state == "failure" and combined.sha == sha and combined.total_count == 2
    assert {s.context: s.state for s in combined.statuses} == {
        "launcher/approval": "success",
        "lint": "failure",
    }
    with pytest.raises(GithubException) as bad:
        commit.create_status("bogus")
    assert bad.value.status == 422
    with pytest.raises(GithubException) as outsider:
        world.repo("mallory").get_commit(sha).create_status("success", context="x")
    assert outsider.value.status == 403


def test_check_runs_need_an_app(world: World) -> None:
    sha = world.sb.branch_sha("acme/infra", "main")
    with pytest.raises(GithubException) as user:
        world.repo("bob").create_check_run(name="gate", head_sha=sha)
    assert user.value.status == 403
    bot = world.repo("ci")
    run = bot.create_check_run(name="gate", head_sha=sha, status="in_progress")
    assert run.status == "in_progress" and run.conclusion is None
    run.edit(conclusion="success", output={"title": "ok", "summary": "2 approvals"})
    again = bot.get_check_run(run.id)
    assert again.status == "completed" and again.conclusion == "success"
    assert again.output.summary == "2 approvals"
    runs = list(world.repo("alice").get_commit(sha).get_check_runs())
    assert [(r.name, r.conclusion) for r in runs] == [("gate", "success")]


def test_deployments(world: World) -> None:
    repo = world.repo("ci")
    sha = world.sb.branch_sha("acme/infra", "main")
    dep = repo.create_deployment(
        ref="main",
        environment="gpu",
        payload={"request": "deployments/gpu/train.yaml"},
        description="launch train",
        required_contexts=[],
    )
    assert dep.sha == sha and dep.environment == "gpu" and dep.creator.login == "launcher-ci[bot]"
    assert dep.payload == {"request": "deployments/gpu/train.yaml"}
    dep.create_status("in_progress", description="launching")
    dep.create_status("success", environment_url="http://console/i-123")
    states = [s.state for s in dep.get_statuses()]
    assert states == ["success", "in_progress"]
    other = repo.create_deployment(ref=sha, environment="cpu", required_contexts=[])
    assert [d.id for d in repo.get_deployments(environment="gpu")] == [dep.id]
    assert [d.id for d in repo.get_deployments(ref=sha)] == [other.id]  # ref is literal
    assert [d.id for d in repo.get_deployments(sha=sha)] == [other.id, dep.id]
    assert repo.get_deployment(dep.id).description == "launch train"
    status = next(iter(dep.get_statuses()))
    assert dep.get_status(status.id).state == "success"

    # Without required_contexts=[] GitHub insists every status on the ref is green.
    world.repo("bob").get_commit(sha).create_status("failure", context="lint")
    with pytest.raises(GithubException) as blocked:
        repo.create_deployment(ref="main", environment="gpu")
    assert blocked.value.status == 409
    with pytest.raises(GithubException) as unknown:
        repo.create_deployment(ref="nope", required_contexts=[])
    assert unknown.value.status == 422


def test_accounts_teams_collaborators(world: World) -> None:
    gh = world.client("alice")
    me = gh.get_user()
    assert me.login == "alice" and me.email == "alice@example.com"
    assert gh.get_user("bob").login == "bob"
    org = gh.get_organization("acme")
    team = org.get_team_by_slug("approvers")
    assert sorted(m.login for m in team.get_members()) == ["bob", "carol"]
    assert team.has_in_members(gh.get_user("bob"))
    assert not team.has_in_members(gh.get_user("alice"))
    assert team.get_team_membership("bob").state == "active"
    assert [t.slug for t in org.get_teams()] == ["approvers"]
    repo = world.repo("alice")
    assert repo.has_in_collaborators("bob")  # through the team
    assert not repo.has_in_collaborators("mallory")
    assert repo.get_collaborator_permission("bob") == "write"
    assert repo.get_collaborator_permission("mallory") == "read"
    assert sorted(c.login for c in repo.get_collaborators()) == [
        "alice",
        "bob",
        "carol",
        "launcher-ci[bot]",
    ]
    rate = gh.get_rate_limit()
    assert rate.resources.core.limit == 5000
