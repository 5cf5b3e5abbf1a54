"""The request -> review -> merge lifecycle, driven through PyGithub over real HTTP."""

from __future__ import annotations

import subprocess

import pytest
from github import GithubException

from tests.sandbox.conftest import World

DEPLOYMENT = "deployments/gpu/train.yaml"


def open_request(world: World, branch: str = "req/train", content: str = "count: 2\n"):  # type: ignore[no-untyped-def]
    repo = world.repo("alice")
    main = repo.get_branch("main")
    repo.create_git_ref(f"refs/heads/{branch}", main.commit.sha)
    repo.create_file(DEPLOYMENT, "Request train", content, branch=branch)
    return repo.create_pull(title="Launch train", body="please", head=branch, base="main")


def test_open_review_push_merge(world: World) -> None:
    pr = open_request(world)
    sb = world.sb
    head1 = sb.branch_sha("acme/infra", "req/train")
    assert pr.head.sha == head1 and pr.base.sha == sb.branch_sha("acme/infra", "main")
    assert pr.state == "open" and pr.merged is False and pr.mergeable is True
    assert pr.user.login == "alice"
    assert [f.filename for f in pr.get_files()] == [DEPLOYMENT]
    assert pr.get_files()[0].status == "added"

    bob_pr = world.repo("bob").get_pull(pr.number)
    approval = bob_pr.create_review(body="LGTM", event="APPROVE")
    assert approval.state == "APPROVED" and approval.commit_id == head1

    # A new push does not drop the approval; it keeps pointing at the old head.
    head2 = sb.push_files("acme/infra", "req/train", {DEPLOYMENT: "count: 3\n"}, "Bump", "alice")
    assert head2 != head1
    pr = world.repo("alice").get_pull(pr.number)
    assert pr.head.sha == head2
    reviews = list(pr.get_reviews())
    assert [(r.user.login, r.state, r.commit_id) for r in reviews] == [("bob", "APPROVED", head1)]
    assert pr.get_review(approval.id).commit_id == head1

    # Changes requested on the new head, then dismissed.
    carol_pr = world.repo("carol").get_pull(pr.number)
    change = carol_pr.create_review(body="too many", event="REQUEST_CHANGES")
    assert change.commit_id == head2
    change.dismiss("stale")
    assert carol_pr.get_review(change.id).state == "DISMISSED"
    comment = carol_pr.create_review(body="fine now", event="COMMENT")
    assert comment.state == "COMMENTED"

    # Merge: a real merge commit on main with both heads as parents.
    main_before = sb.branch_sha("acme/infra", "main")
    result = world.repo("bob").get_pull(pr.number).merge(commit_message="ship it")
    assert result.merged is True
    merged = world.repo("alice").get_pull(pr.number)
    assert merged.merged is True and merged.state == "closed"
    assert merged.merge_commit_sha == result.sha == sb.branch_sha("acme/infra", "main")
    assert merged.merged_by.login == "bob"
    commit = world.repo("alice").get_commit(result.sha)
    assert [p.sha for p in commit.parents] == [main_before, head2]
    assert world.repo("alice").get_contents(DEPLOYMENT, ref="main").decoded_content == b"count: 3\n"
    assert merged.is_merged()

    # The merge commit and the PR's commits lead back to the PR.
    assert [p.number for p in commit.get_pulls()] == [pr.number]
    assert [p.number for p in world.repo("alice").get_commit(head1).get_pulls()] == [pr.number]


def test_close_without_merge(world: World) -> None:
    pr = open_request(world)
    pr.edit(title="Launch train (v2)", body="updated")
    edited = world.sb.last_event("pull_request", "edited").payload
    assert edited["changes"]["title"] == {"from": "Launch train"}
    pr.edit(state="closed")
    closed = world.repo("alice").get_pull(pr.number)
    assert closed.state == "closed" and closed.merged is False and closed.merged_at is None
    assert not closed.is_merged()
    with pytest.raises(GithubException) as err:
        world.repo("bob").get_pull(pr.number).merge()
    assert err.value.status == 405
    closed.edit(state="open")
    assert world.repo("alice").get_pull(pr.number).state == "open"


def test_pull_listing_filters(world: World) -> None:
    first = open_request(world, "req/a")
    second = open_request(world, "req/b")
    second.edit(state="closed")
    repo = world.repo("alice")
    assert [p.number for p in repo.get_pulls()] == [first.number]
    assert [p.number for p in repo.get_pulls(state="closed")] == [second.number]
    assert [p.number for p in repo.get_pulls(state="all")] == [second.number, first.number]
    assert [p.number for p in repo.get_pulls(state="all", head="acme:req/b")] == [second.number]
    assert [p.number for p in repo.get_pulls(base="nope")] == []


def test_pull_files_statuses(world: World) -> None:
    sb = world.sb
    sb.push_files(
        "acme/infra", "main", {"old.txt": "a\nb\nc\nd\n", "gone.txt": "x\n"}, "seed", "alice"
    )
    sb.push_files(
        "acme/infra",
        "change",
        {
            "old.txt": None,
            "new.txt": "a\nb\nc\nd\n",
            "gone.txt": None,
            "README.md": "# infra!\n",
            "added.yaml": "k: v\n",
        },
        "change",
        "alice",
    )
    pr = world.repo("alice").create_pull(title="t", body="", head="change", base="main")
    files = {f.filename: f for f in pr.get_files()}
    assert {n: f.status for n, f in files.items()} == {
        "new.txt": "renamed",
        "gone.txt": "removed",
        "README.md": "modified",
        "added.yaml": "added",
    }
    assert files["new.txt"].previous_filename == "old.txt"
    assert files["README.md"].additions == 1 and files["README.md"].deletions == 1
    assert "+# infra!" in files["README.md"].patch
    full = world.repo("alice").get_pull(pr.number)
    assert full.changed_files == 4 and full.commits == 1

    cmp = world.repo("alice").compare("main", "change")
    assert cmp.status == "ahead" and cmp.ahead_by == 1 and cmp.behind_by == 0
    assert {f.filename for f in cmp.files} == set(files)


def test_review_rules(world: World) -> None:
    pr = open_request(world)
    with pytest.raises(GithubException) as own:
        pr.create_review(body="me", event="APPROVE")
    assert own.value.status == 422
    assert own.value.data["errors"] == ["Can not approve your own pull request"]
    with pytest.raises(GithubException) as own_rc:
        pr.create_review(body="me", event="REQUEST_CHANGES")
    assert own_rc.value.status == 422
    # On a public repository anyone may approve or request changes (GitHub records it;
    # rules count only reviewers with write access).
    outsider = world.repo("mallory").get_pull(pr.number).create_review(body="x", event="APPROVE")
    assert outsider.state == "APPROVED" and outsider.user.login == "mallory"
    with pytest.raises(GithubException) as no_merge:
        world.repo("mallory").get_pull(pr.number).merge()
    assert no_merge.value.status == 403
    # The author may comment on their own PR.
    assert pr.create_review(body="note", event="COMMENT").state == "COMMENTED"
    # A commented review cannot be dismissed.
    review = world.repo("bob").get_pull(pr.number).create_review(body="q?", event="COMMENT")
    with pytest.raises(GithubException) as dismiss:
        review.dismiss("no")
    assert dismiss.value.status == 422


def test_requested_reviewers(world: World) -> None:
    pr = open_request(world)
    pr.create_review_request(reviewers=["bob"], team_reviewers=["approvers"])
    users, teams = pr.get_review_requests()
    assert [u.login for u in users] == ["bob"] and [t.slug for t in teams] == ["approvers"]
    pr.delete_review_request(reviewers=["bob"], team_reviewers=["approvers"])
    users, teams = pr.get_review_requests()
    assert list(users) == [] and list(teams) == []
    with pytest.raises(GithubException) as err:
        pr.create_review_request(reviewers=["mallory"])
    assert err.value.status == 422
    # Submitting a review clears the user's pending request.
    pr.create_review_request(reviewers=["carol"])
    world.repo("carol").get_pull(pr.number).create_review(body="ok", event="APPROVE")
    assert [u.login for u in pr.get_review_requests()[0]] == []


def test_contents_and_refs(world: World) -> None:
    repo = world.repo("alice")
    created = repo.create_file("a/b.txt", "add", "one\n", branch="main")
    sha1 = created["content"].sha
    with pytest.raises(GithubException) as stale:
        repo.update_file("a/b.txt", "upd", "two\n", "0" * 40, branch="main")
    assert stale.value.status == 409
    with pytest.raises(GithubException) as missing_sha:
        repo.create_file("a/b.txt", "again", "x\n", branch="main")
    assert missing_sha.value.status == 422
    updated = repo.update_file("a/b.txt", "upd", "two\n", sha1, branch="main")
    assert repo.get_contents("a/b.txt").decoded_content == b"two\n"
    old = repo.get_contents("a/b.txt", ref=created["commit"].sha)
    assert old.decoded_content == b"one\n"
    listing = repo.get_contents("a")
    assert [c.path for c in listing] == ["a/b.txt"]
    repo.delete_file("a/b.txt", "rm", updated["content"].sha, branch="main")
    with pytest.raises(GithubException) as gone:
        repo.get_contents("a/b.txt")
    assert gone.value.status == 404

    ref = repo.get_git_ref("heads/main")
    assert ref.object.sha == world.sb.branch_sha("acme/infra", "main")
    new = repo.create_git_ref("refs/heads/feature/x", ref.object.sha)
    assert repo.get_git_ref("heads/feature/x").object.sha == ref.object.sha
    first_commit = repo.get_commit("main").parents[0].sha
    with pytest.raises(GithubException) as ff:
        new.edit(first_commit)
    assert ff.value.status == 422 and ff.value.data["message"] == "Update is not a fast forward"
    new.edit(first_commit, force=True)
    assert repo.get_branch("feature/x").commit.sha == first_commit
    new.delete()
    with pytest.raises(GithubException):
        repo.get_git_ref("heads/feature/x")
    tree = repo.get_git_tree("main", recursive=True)
    assert {t.path for t in tree.tree} >= {"README.md", "pools.yaml"}


def test_clone_the_bare_repository(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pr = open_request(world)
    url = world.repo("alice").clone_url
    assert url.startswith("file://")
    out = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", url, str(out)], check=True)
    subprocess.run(
        ["git", "-C", str(out), "fetch", "--quiet", "origin", f"pull/{pr.number}/head"], check=True
    )
    head = subprocess.run(
        ["git", "-C", str(out), "rev-parse", "FETCH_HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert head == pr.head.sha
