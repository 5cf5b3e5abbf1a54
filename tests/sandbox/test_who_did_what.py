"""GitHub's own records of who did what: the activity log, issue events and the timeline.

Every collaborator with write access may push to any unprotected branch (someone else's
pull request branch too), dismiss reviews and edit other people's comments; each act must
show up in these records with the account that did it, whatever the commits claim.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from github import GithubException, InputGitAuthor

from launcher.sandbox.github.activity import RefUpdate
from launcher.sandbox.github.http import ApiError
from tests.sandbox.conftest import World
from tests.sandbox.test_http import call

DEPLOYMENT = "deployments/gpu/train.yaml"


def activity(world: World, login: str = "alice", query: str = "") -> list[dict[str, Any]]:
    status, _, body = call(
        world.sb, "GET", f"/repos/acme/infra/activity{query}", world.tokens[login]
    )
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(a["activity_type"], a["ref"], a["actor"]["login"]) for a in entries]


def open_pr(world: World, branch: str = "req/train"):  # type: ignore[no-untyped-def]
    repo = world.repo("alice")
    repo.create_git_ref(f"refs/heads/{branch}", repo.get_branch("main").commit.sha)
    repo.create_file(DEPLOYMENT, "Request train", "count: 2\n", branch=branch)
    return repo.create_pull(title="Launch train", body="please", head=branch, base="main")


def test_activity_log_records_each_movement_with_its_actor(world: World) -> None:
    sb = world.sb
    pr = open_pr(world)
    first = sb.branch_sha("acme/infra", "req/train")

    # bob (write through a team) pushes to alice's pull request branch, with a commit
    # that claims alice wrote it: the activity log names bob.
    bob_repo = world.repo("bob")
    current = bob_repo.get_contents(DEPLOYMENT, ref="req/train")
    alice_sig = InputGitAuthor("alice", "alice@example.com")
    bob_repo.update_file(
        DEPLOYMENT, "bigger", "count: 9\n", current.sha, branch="req/train", author=alice_sig
    )
    second = sb.branch_sha("acme/infra", "req/train")

    # carol force-pushes it back to the first commit.
    world.repo("carol").get_git_ref("heads/req/train").edit(first, force=True)
    # bob merges; alice deletes her branch.
    world.repo("bob").get_pull(pr.number).merge()
    world.repo("alice").get_git_ref("heads/req/train").delete()

    entries = activity(world)
    assert summary(entries) == [
        ("branch_deletion", "refs/heads/req/train", "alice"),
        ("pr_merge", "refs/heads/main", "bob"),
        ("force_push", "refs/heads/req/train", "carol"),
        ("push", "refs/heads/req/train", "bob"),
        ("push", "refs/heads/req/train", "alice"),
        ("branch_creation", "refs/heads/req/train", "alice"),
    ]
    forced = entries[2]
    assert (forced["before"], forced["after"]) == (second, first)
    assert entries[0]["after"] == "0" * 40 and entries[0]["before"] == first
    assert entries[-1]["before"] == "0" * 40
    assert entries[1]["after"] == sb.branch_sha("acme/infra", "main")

    # Filters, as documented.
    assert summary(activity(world, query="?activity_type=force_push")) == [
        ("force_push", "refs/heads/req/train", "carol")
    ]
    assert [a["activity_type"] for a in activity(world, query="?actor=bob")] == [
        "pr_merge",
        "push",
    ]
    by_ref = activity(world, query="?ref=req/train&direction=asc")
    assert by_ref == activity(world, query="?ref=refs/heads/req/train&direction=asc")
    assert [a["activity_type"] for a in by_ref] == [
        "branch_creation",
        "push",
        "push",
        "force_push",
        "branch_deletion",
    ]
    assert len(activity(world, query="?time_period=day")) == 6
    status, _, body = call(
        sb, "GET", "/repos/acme/infra/activity?activity_type=nope", world.tokens["alice"]
    )
    assert status == 422


def test_activity_pages_with_cursors(world: World) -> None:
    sb = world.sb
    for n in range(5):
        sb.push_files("acme/infra", "main", {"n.txt": f"{n}\n"}, f"n{n}", "alice")
    everything = activity(world)
    seen: list[int] = []
    path: str | None = "/repos/acme/infra/activity?per_page=2"
    pages = 0
    while path:
        status, headers, body = call(sb, "GET", path, world.tokens["alice"])
        assert status == 200 and 0 < len(body) <= 2
        seen += [a["id"] for a in body]
        pages += 1
        nxt = re.search(r'<([^>]+)>; rel="next"', headers.get("Link", ""))
        path = None
        if nxt:
            url = urlsplit(nxt.group(1))
            path = f"{url.path}?{url.query}"
    assert seen == [a["id"] for a in everything] and pages == 3
    # "prev" goes back to the page before.
    token = world.tokens["alice"]
    _, headers, _ = call(sb, "GET", "/repos/acme/infra/activity?per_page=2", token)
    cursor = re.search(r"after=([^&>]+)", headers["Link"])
    assert cursor is not None
    path = f"/repos/acme/infra/activity?per_page=2&after={cursor.group(1)}"
    _, headers, second = call(sb, "GET", path, token)
    prev = re.search(r'<([^>]+)>; rel="prev"', headers["Link"])
    assert prev is not None
    url = urlsplit(prev.group(1))
    _, _, first = call(sb, "GET", f"{url.path}?{url.query}", token)
    assert [a["id"] for a in first + second] == seen[:4]


def test_refused_pushes_are_not_recorded(world: World) -> None:
    sb = world.sb
    before = activity(world)
    with pytest.raises(GithubException) as err:
        world.repo("mallory").create_file("x.txt", "nope", "x\n", branch="main")
    assert err.value.status == 403

    # Branch protection plugs in as a push check: it sees every movement first.
    seen: list[RefUpdate] = []

    def protect_main(update: RefUpdate) -> None:
        seen.append(update)
        if update.branch == "main":
            raise ApiError(422, "Changes must be made through a pull request.")

    sb.gh.push_checks.append(protect_main)
    with pytest.raises(GithubException) as refused:
        world.repo("alice").create_file("x.txt", "direct", "x\n", branch="main")
    assert refused.value.status == 422
    world.repo("alice").create_git_ref("refs/heads/topic", sb.branch_sha("acme/infra", "main"))
    assert [(u.branch, u.actor, u.activity_type) for u in seen] == [
        ("main", "alice", "push"),
        ("topic", "alice", "branch_creation"),
    ]
    assert summary(activity(world)) == [
        ("branch_creation", "refs/heads/topic", "alice"),
        *summary(before),
    ]
    assert "x.txt" not in sb.repo("acme/infra").git.tree(sb.branch_sha("acme/infra", "main"))


def test_issue_events_and_timeline_name_who_acted(world: World) -> None:
    sb = world.sb
    world.repo("alice").create_git_ref("refs/heads/release", sb.branch_sha("acme/infra", "main"))
    pr = open_pr(world)
    head = sb.branch_sha("acme/infra", "req/train")
    bob_pr = world.repo("bob").get_pull(pr.number)
    carol_pr = world.repo("carol").get_pull(pr.number)

    pr.add_to_labels("gpu")
    pr.create_review_request(reviewers=["bob"])
    approval = bob_pr.create_review(body="LGTM", event="APPROVE")
    # carol (write) dismisses bob's approval; mallory may not.
    with pytest.raises(GithubException) as outsider:
        world.repo("mallory").get_pull(pr.number).get_review(approval.id).dismiss("no")
    assert outsider.value.status == 403
    carol_pr.get_review(approval.id).dismiss("not enough")
    # bob retargets the pull request at another base.
    main_sha = sb.branch_sha("acme/infra", "main")
    bob_pr.edit(base="release")
    edited = sb.last_event("pull_request", "edited")
    assert edited.payload["changes"]["base"] == {
        "ref": {"from": "main"},
        "sha": {"from": main_sha},
    }
    assert edited.payload["sender"]["login"] == "bob"
    bob_pr.edit(title="Launch train now")
    # alice comments; bob edits her comment (write access may).
    comment = pr.create_issue_comment("count is 2")
    world.repo("bob").get_issue(pr.number).get_comment(comment.id).edit("count is 20")
    assert sb.last_event("issue_comment", "edited").payload["sender"]["login"] == "bob"
    with pytest.raises(GithubException) as no_edit:
        world.repo("mallory").get_issue(pr.number).get_comment(comment.id).edit("mine")
    assert no_edit.value.status == 403
    # carol force-pushes the head branch.
    sb.push_files("acme/infra", "req/train", {"extra.txt": "x\n"}, "extra", "alice")
    world.repo("carol").get_git_ref("heads/req/train").edit(head, force=True)

    events = [
        (e.event, e.actor.login) for e in world.repo("alice").get_issue(pr.number).get_events()
    ]
    assert events == [
        ("labeled", "alice"),
        ("review_requested", "alice"),
        ("review_dismissed", "carol"),
        ("base_ref_changed", "bob"),
        ("renamed", "bob"),
        ("head_ref_force_pushed", "carol"),
    ]
    status, _, raw = call(
        sb, "GET", f"/repos/acme/infra/issues/{pr.number}/events", world.tokens["alice"]
    )
    assert status == 200
    dismissed = raw[2]["dismissed_review"]
    assert dismissed["state"] == "approved" and dismissed["review_id"] == approval.id
    assert dismissed["dismissal_message"] == "not enough"
    assert raw[0]["label"]["name"] == "gpu"
    assert raw[1]["requested_reviewer"]["login"] == "bob"
    assert raw[1]["review_requester"]["login"] == "alice"
    assert raw[4]["rename"] == {"from": "Launch train", "to": "Launch train now"}

    # The repository-wide listing (newest first) carries the issue; each event by id.
    repo_events = list(world.repo("alice").get_issues_events())
    assert [e.event for e in repo_events] == [e for e, _ in reversed(events)]
    one = world.repo("alice").get_issues_event(repo_events[-1].id)
    assert one.event == "labeled" and one.issue.number == pr.number

    timeline = call(
        sb, "GET", f"/repos/acme/infra/issues/{pr.number}/timeline", world.tokens["alice"]
    )[2]
    kinds = [t["event"] for t in timeline]
    # base_ref_changed is an issue event only; committed/reviewed/commented timeline only.
    assert kinds == [
        "committed",
        "labeled",
        "review_requested",
        "reviewed",
        "review_dismissed",
        "renamed",
        "commented",
        "committed",
        "head_ref_force_pushed",
    ]
    assert timeline[0]["sha"] == head
    assert timeline[3]["user"]["login"] == "bob" and timeline[3]["state"] == "dismissed"
    assert timeline[3]["commit_id"] == head
    assert timeline[4]["actor"]["login"] == "carol"
    assert timeline[6]["body"] == "count is 20" and timeline[6]["actor"]["login"] == "alice"
    assert timeline[8]["actor"]["login"] == "carol"
    via_pygithub = [t.event for t in world.repo("alice").get_issue(pr.number).get_timeline()]
    assert via_pygithub == kinds


def test_head_branch_deletion_closes_and_restore_is_recorded(world: World) -> None:
    sb = world.sb
    pr = open_pr(world)
    head = sb.branch_sha("acme/infra", "req/train")
    world.repo("bob").get_git_ref("heads/req/train").delete()
    closed = world.repo("alice").get_pull(pr.number)
    assert closed.state == "closed" and closed.head.sha == head
    assert sb.last_event("pull_request", "closed").payload["sender"]["login"] == "bob"
    world.repo("carol").create_git_ref("refs/heads/req/train", head)
    events = [
        (e.event, e.actor.login) for e in world.repo("alice").get_issue(pr.number).get_events()
    ]
    assert events == [
        ("head_ref_deleted", "bob"),
        ("closed", "bob"),
        ("head_ref_restored", "carol"),
    ]


def test_merge_and_close_events(world: World) -> None:
    pr = open_pr(world)
    pr.edit(state="closed")
    world.repo("bob").get_pull(pr.number).edit(state="open")
    result = world.repo("carol").get_pull(pr.number).merge()
    raw = call(
        world.sb, "GET", f"/repos/acme/infra/issues/{pr.number}/events", world.tokens["alice"]
    )[2]
    assert [(e["event"], e["actor"]["login"], e["commit_id"]) for e in raw] == [
        ("closed", "alice", None),
        ("reopened", "bob", None),
        ("merged", "carol", result.sha),
        ("closed", "carol", result.sha),
    ]


def test_label_and_review_request_removals(world: World) -> None:
    pr = open_pr(world)
    pr.add_to_labels("gpu")
    world.repo("bob").get_issue(pr.number).remove_from_labels("gpu")
    pr.create_review_request(team_reviewers=["approvers"])
    world.repo("carol").get_pull(pr.number).delete_review_request(team_reviewers=["approvers"])
    raw = call(
        world.sb, "GET", f"/repos/acme/infra/issues/{pr.number}/events", world.tokens["alice"]
    )[2]
    assert [(e["event"], e["actor"]["login"]) for e in raw] == [
        ("labeled", "alice"),
        ("unlabeled", "bob"),
        ("review_requested", "alice"),
        ("review_request_removed", "carol"),
    ]
    assert raw[1]["label"] == {"name": "gpu", "color": "ededed"}
    assert raw[2]["requested_team"]["slug"] == "approvers"
    assert raw[3]["review_requester"]["login"] == "carol"


def test_an_apps_label_names_its_bot_and_the_app(world: World) -> None:
    """A label set through an app's installation token is recorded as the app's bot, with
    the app in ``performed_via_github_app``, so a reader can tell the app's labels apart."""
    pr = open_pr(world)
    world.sb.create_app("launcher-app", "acme")
    token = world.sb.installation_token("launcher-app", "acme/infra", {"issues": "write"})
    world.sb.client(token).get_repo("acme/infra").get_issue(pr.number).add_to_labels("gpu")
    pr.add_to_labels("cpu")
    raw = call(
        world.sb, "GET", f"/repos/acme/infra/issues/{pr.number}/events", world.tokens["alice"]
    )[2]
    labeled = [e for e in raw if e["event"] == "labeled"]
    assert [(e["actor"]["login"], e["label"]["name"]) for e in labeled] == [
        ("launcher-app[bot]", "gpu"),
        ("alice", "cpu"),
    ]
    assert labeled[0]["performed_via_github_app"]["slug"] == "launcher-app"
    assert labeled[1]["performed_via_github_app"] is None
