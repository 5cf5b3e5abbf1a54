"""The adapter reads pull requests as GitHub's JSON, decoded in one place (`_pull_of`), over
HTTP against the stand-in: what a decision sees, what it costs in requests, and that an
answer it cannot read is an error, never a guess."""

from __future__ import annotations

from datetime import UTC

import pytest

from launcher.adapters.github import GitHub, GitHubError, Settings
from launcher.sandbox.github import GitHubSandbox


def _world(sb: GitHubSandbox) -> tuple[GitHub, object]:
    token = sb.add_user("ann")
    sb.add_user("bob")
    sb.create_repo("ann", "infra", {"pools.yaml": b"pools: {}\n"}, collaborators=["bob"])
    sb.push_files(
        "ann/infra", "add-a", {"deployments/dev/a.yaml": b"count: 1\n"}, "add a", "ann", base="main"
    )
    client = sb.client(token).get_repo("ann/infra")
    gh = GitHub(Settings(repository="ann/infra", token=token, api_url=sb.url, throttle=False))
    return gh, client


def test_a_pull_request_reads_as_github_recorded_it() -> None:
    with GitHubSandbox() as sb:
        gh, repo = _world(sb)
        made = repo.create_pull(title="add a", body="why", head="add-a", base="main")  # type: ignore[attr-defined]
        made.add_to_labels("launch:pending")
        made.create_review_request(reviewers=["bob"])
        info = gh.pull(made.number)
        assert (info.number, info.author, info.state, info.merged) == (
            made.number,
            "ann",
            "open",
            False,
        )
        assert info.head_sha == sb.branch_sha("ann/infra", "add-a")
        assert info.base_sha == sb.branch_sha("ann/infra", "main")
        assert (info.base_ref, info.head_ref, info.default_branch) == ("main", "add-a", "main")
        assert info.head_repo == "ann/infra"
        assert info.labels == ("launch:pending",) and info.requested_users == ("bob",)
        assert info.created_at.tzinfo is not None and info.created_at.utcoffset() == UTC.utcoffset(
            None
        )
        assert info.merged_at is None


def test_a_merged_pull_request_says_so_and_when() -> None:
    with GitHubSandbox() as sb:
        gh, repo = _world(sb)
        made = repo.create_pull(title="add a", body="why", head="add-a", base="main")  # type: ignore[attr-defined]
        made.merge()
        info = gh.pull(made.number)
        assert info.merged and info.state == "closed" and info.merged_at is not None
        assert info.merge_commit_sha == sb.branch_sha("ann/infra", "main")


def test_a_listing_is_a_snapshot_pull_reads_again_and_closing_refreshes_it() -> None:
    with GitHubSandbox() as sb:
        gh, repo = _world(sb)
        made = repo.create_pull(title="add a", body="why", head="add-a", base="main")  # type: ignore[attr-defined]
        (listed,) = gh.open_pulls("main")
        moved = sb.push_files(
            "ann/infra", "add-a", {"deployments/dev/b.yaml": b"count: 2\n"}, "b", "ann"
        )
        made.add_to_labels("launch:pending")
        info = gh.pull(made.number)  # what a decision or the sweep verifies: the head now
        assert (
            listed.head_sha != moved
            and info.head_sha == moved
            and info.labels == ("launch:pending",)
        )
        sb.reset_requests()
        assert gh.close_pull(made.number) is True
        assert gh.pull(made.number).state == "closed"  # the PATCH's answer, not a stale copy
        assert gh.close_pull(made.number) is False
        assert [r.method for r in sb.requests()] == ["PATCH"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.pop("head"),
        lambda p: p["base"].pop("sha"),
        lambda p: p.update(created_at=None),
        lambda p: p.update(created_at="yesterday"),
        lambda p: p.update(labels=[{"id": 1}]),
        lambda p: p.update(user=None),
    ],
)
def test_an_answer_missing_what_a_decision_needs_is_an_error(damage) -> None:  # type: ignore[no-untyped-def]
    with GitHubSandbox() as sb:
        gh, repo = _world(sb)
        made = repo.create_pull(title="add a", body="why", head="add-a", base="main")  # type: ignore[attr-defined]
        data = dict(made.raw_data)
        data["base"] = dict(data["base"])
        damage(data)
        with pytest.raises(GitHubError, match=f"pull request #{made.number}"):
            gh._pull_of(data, merged=False)  # noqa: SLF001 - the one decoder, given damage
