"""Labels, comments, issue listing and search on pull requests."""

from __future__ import annotations

import pytest
from github import GithubException

from tests.sandbox.conftest import World


def open_pr(world: World, branch: str):  # type: ignore[no-untyped-def]
    world.sb.push_files(
        "acme/infra", branch, {f"deployments/gpu/{branch}.yaml": "n: 1\n"}, "add", "alice"
    )
    return world.repo("alice").create_pull(
        title=f"Launch {branch}", body="", head=branch, base="main"
    )


def test_labels(world: World) -> None:
    pr = open_pr(world, "a")
    bob = world.repo("bob").get_pull(pr.number)
    bob.add_to_labels("launch", "gpu")
    assert [x.name for x in bob.get_labels()] == ["launch", "gpu"]
    assert sorted(x.name for x in world.repo("alice").get_labels()) == ["gpu", "launch"]
    bob.remove_from_labels("gpu")
    assert [x.name for x in bob.get_labels()] == ["launch"]
    bob.set_labels("approved")
    assert [x.name for x in world.repo("alice").get_pull(pr.number).labels] == ["approved"]
    with pytest.raises(GithubException) as missing:
        bob.remove_from_labels("nope")
    assert missing.value.status == 404
    with pytest.raises(GithubException) as outsider:
        world.repo("mallory").get_pull(pr.number).add_to_labels("x")
    assert outsider.value.status == 403
    assert world.repo("alice").get_label("approved").color == "ededed"
    world.repo("bob").create_label("urgent", "ff0000", "now")
    assert world.repo("alice").get_label("urgent").description == "now"
    bob.remove_from_labels("approved")
    issue = world.repo("bob").get_issue(pr.number)
    issue.delete_labels()
    assert list(issue.get_labels()) == []
    actions = [e.action for e in world.sb.events(event="pull_request")]
    assert actions.count("labeled") == 3 and actions.count("unlabeled") == 3


def test_comments(world: World) -> None:
    pr = open_pr(world, "a")
    c1 = pr.create_issue_comment("first")
    c2 = world.repo("mallory").get_pull(pr.number).create_issue_comment("drive-by")
    assert [c.body for c in pr.get_issue_comments()] == ["first", "drive-by"]
    assert c2.user.login == "mallory"
    c1.edit("first, edited")
    assert world.repo("bob").get_issue(pr.number).get_comment(c1.id).body == "first, edited"
    with pytest.raises(GithubException) as not_yours:
        world.repo("mallory").get_issue(pr.number).get_comment(c1.id).edit("mine now")
    assert not_yours.value.status == 403
    c2.delete()
    assert [c.id for c in pr.get_issue_comments()] == [c1.id]
    assert world.repo("alice").get_pull(pr.number).comments == 1
    events = world.sb.events(event="issue_comment")
    assert [e.action for e in events] == ["created", "created", "edited", "deleted"]
    assert events[2].payload["changes"] == {"body": {"from": "first"}}


def test_issue_listing_and_search(world: World) -> None:
    a, b, c = (open_pr(world, n) for n in ("a", "b", "c"))
    for pr, labels in ((a, ["launch", "gpu"]), (b, ["launch"]), (c, ["gpu"])):
        world.repo("bob").get_pull(pr.number).add_to_labels(*labels)
    c.edit(state="closed")
    repo = world.repo("alice")
    assert [i.number for i in repo.get_issues(labels=["launch"])] == [b.number, a.number]
    assert [i.number for i in repo.get_issues(labels=["launch", "gpu"])] == [a.number]
    assert [i.number for i in repo.get_issues(state="closed")] == [c.number]
    assert all(i.pull_request is not None for i in repo.get_issues(state="all"))

    gh = world.client("alice")
    hits = gh.search_issues("repo:acme/infra is:pr is:open label:gpu")
    assert [i.number for i in hits] == [a.number]
    assert hits.totalCount == 1
    closed = gh.search_issues('repo:acme/infra is:pr is:closed label:"gpu"')
    assert [i.number for i in closed] == [c.number]
    everything = gh.search_issues("repo:acme/infra is:pr")
    assert sorted(i.number for i in everything) == [a.number, b.number, c.number]
    with pytest.raises(GithubException) as bad:
        list(gh.search_issues("repo:acme/nope is:pr"))
    assert bad.value.status == 422


def test_editing_an_issue_renames_closes_and_reopens_it(world: World) -> None:
    """PATCH /issues/{n} (PyGithub's Issue.edit), with the events GitHub records."""
    sb = world.sb
    issue = world.repo("alice").create_issue(title="Quota", body="more GPUs")
    issue.edit(title="GPU quota", body="more GPUs, please")
    edited = sb.last_event("issues", "edited").payload
    assert edited["changes"] == {"title": {"from": "Quota"}, "body": {"from": "more GPUs"}}
    closed = world.repo("bob").get_issue(issue.number)
    closed.edit(state="closed", state_reason="not_planned", labels=["wontfix"])
    assert (closed.state, closed.state_reason) == ("closed", "not_planned")
    assert [x.name for x in closed.labels] == ["wontfix"]
    labeled = sb.last_event("issues", "labeled").payload  # an issue's, not a pull request's
    assert (labeled["label"]["name"], labeled["issue"]["number"]) == ("wontfix", issue.number)
    assert sb.last_event("issues", "closed").payload["sender"]["login"] == "bob"
    # mallory (no write access) cannot close alice's issue.
    with pytest.raises(GithubException) as refused:
        world.repo("mallory").get_issue(issue.number).edit(state="open")
    assert refused.value.status == 403
    issue.edit(state="open")
    again = world.repo("alice").get_issue(issue.number)
    assert (again.state, again.state_reason) == ("open", "reopened")
    events = [(e.event, e.actor.login) for e in again.get_events()]
    assert events == [
        ("renamed", "alice"),
        ("closed", "bob"),
        ("labeled", "bob"),
        ("reopened", "alice"),
    ]
    # On a pull request's number it edits the pull request.
    pr = open_pr(world, "b")
    world.repo("bob").get_issue(pr.number).edit(title="Launch b, renamed")
    assert world.repo("alice").get_pull(pr.number).title == "Launch b, renamed"
    assert sb.last_event("pull_request", "edited").payload["changes"] == {
        "title": {"from": "Launch b"}
    }
