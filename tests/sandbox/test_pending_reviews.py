"""Pending reviews (created without ``event``), submitting, deleting and editing reviews."""

from __future__ import annotations

import pytest
from github import GithubException

from tests.sandbox.conftest import World
from tests.sandbox.test_http import call

DEPLOYMENT = "deployments/gpu/train.yaml"


def open_pr(world: World):  # type: ignore[no-untyped-def]
    repo = world.repo("alice")
    repo.create_git_ref("refs/heads/req/train", repo.get_branch("main").commit.sha)
    repo.create_file(DEPLOYMENT, "Request train", "count: 2\n", branch="req/train")
    return repo.create_pull(title="Launch train", body="please", head="req/train", base="main")


def reviews_seen_by(world: World, login: str, number: int) -> list[tuple[str, str]]:
    pr = world.repo(login).get_pull(number)
    return [(r.user.login, r.state) for r in pr.get_reviews()]


def test_pending_review_is_private_until_submitted(world: World) -> None:
    sb = world.sb
    pr = open_pr(world)
    first_head = sb.branch_sha("acme/infra", "req/train")
    bob_pr = world.repo("bob").get_pull(pr.number)
    submitted_before = len(sb.events(event="pull_request_review"))

    draft = bob_pr.create_review(body="looking")
    assert draft.state == "PENDING" and draft.commit_id == first_head
    assert reviews_seen_by(world, "bob", pr.number) == [("bob", "PENDING")]
    assert reviews_seen_by(world, "alice", pr.number) == []
    status, _, _ = call(
        sb, "GET", f"/repos/acme/infra/pulls/{pr.number}/reviews/{draft.id}", world.tokens["alice"]
    )
    assert status == 404
    with pytest.raises(GithubException) as second:
        bob_pr.create_review(body="again")
    assert second.value.status == 422

    # Editing a pending review is silent; so is a push meanwhile for the review.
    draft.edit("looks fine")
    sb.push_files("acme/infra", "req/train", {DEPLOYMENT: "count: 3\n"}, "bump", "alice")
    assert len(sb.events(event="pull_request_review")) == submitted_before

    # Submitting makes it visible, on the commit the review was started on.
    path = f"/repos/acme/infra/pulls/{pr.number}/reviews/{draft.id}/events"
    status, _, body = call(sb, "POST", path, world.tokens["alice"], {"event": "APPROVE"})
    assert status == 404  # not alice's review
    status, _, body = call(sb, "POST", path, world.tokens["bob"], {"event": "APPROVE"})
    assert status == 200 and body["state"] == "APPROVED" and body["body"] == "looks fine"
    assert body["commit_id"] == first_head and body["submitted_at"]
    event = sb.last_event("pull_request_review", "submitted").payload
    assert event["review"]["id"] == draft.id and event["sender"]["login"] == "bob"
    assert reviews_seen_by(world, "alice", pr.number) == [("bob", "APPROVED")]
    status, _, body = call(sb, "POST", path, world.tokens["bob"], {"event": "COMMENT"})
    assert status == 422

    timeline = call(
        sb, "GET", f"/repos/acme/infra/issues/{pr.number}/timeline", world.tokens["alice"]
    )[2]
    assert [(t["event"], t.get("user", {}).get("login")) for t in timeline][-2:] == [
        ("committed", None),
        ("reviewed", "bob"),
    ]


def test_delete_pending_review(world: World) -> None:
    sb = world.sb
    pr = open_pr(world)
    carol_pr = world.repo("carol").get_pull(pr.number)
    draft = carol_pr.create_review(body="hmm")
    base = f"/repos/acme/infra/pulls/{pr.number}/reviews"
    status, _, _ = call(sb, "DELETE", f"{base}/{draft.id}", world.tokens["bob"])
    assert status == 404
    status, _, body = call(sb, "DELETE", f"{base}/{draft.id}", world.tokens["carol"])
    assert status == 200 and body["id"] == draft.id and body["state"] == "PENDING"
    assert reviews_seen_by(world, "carol", pr.number) == []
    done = carol_pr.create_review(body="ok", event="APPROVE")
    status, _, body = call(sb, "DELETE", f"{base}/{done.id}", world.tokens["carol"])
    assert status == 422
    assert reviews_seen_by(world, "alice", pr.number) == [("carol", "APPROVED")]


def test_editing_a_submitted_review_is_announced_with_its_editor(world: World) -> None:
    sb = world.sb
    pr = open_pr(world)
    review = world.repo("bob").get_pull(pr.number).create_review(body="LGTM", event="APPROVE")
    review.edit("LGTM, two is fine")
    edited = sb.last_event("pull_request_review", "edited").payload
    assert edited["changes"] == {"body": {"from": "LGTM"}}
    assert edited["review"]["body"] == "LGTM, two is fine" and edited["sender"]["login"] == "bob"
    # Anyone with write access may edit someone else's review text, and is named for it.
    world.repo("carol").get_pull(pr.number).get_review(review.id).edit("LGTM (edited)")
    edited = sb.last_event("pull_request_review", "edited").payload
    assert edited["sender"]["login"] == "carol"
    assert edited["changes"] == {"body": {"from": "LGTM, two is fine"}}
    with pytest.raises(GithubException) as outsider:
        world.repo("mallory").get_pull(pr.number).get_review(review.id).edit("mine")
    assert outsider.value.status == 403
    assert world.repo("alice").get_pull(pr.number).get_review(review.id).body == "LGTM (edited)"
