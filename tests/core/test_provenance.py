"""Who moved a pull request's head branch, from the activity log's entries (pure)."""

from __future__ import annotations

from launcher.core.provenance import Activity, Pusher, needs_commits, pushers

REF = "refs/heads/alice/1"
OURS = ["a" * 40, "b" * 40]


def test_every_kind_of_move_but_a_deletion_counts_as_its_actor_s_push() -> None:
    moves = [
        Activity("push", REF, "a" * 40, "bob"),
        Activity("pr_merge", REF, "b" * 40, "mallory"),  # a pull request merged into it
        Activity("merge_queue_merge", REF, "b" * 40, "carol"),
        Activity("some_move_github_adds_later", REF, "a" * 40, "dan"),
        Activity("branch_deletion", REF, "0" * 40, "erin"),
        Activity("pr_merge", "refs/heads/other", "b" * 40, "frank"),  # another branch
        Activity("pr_merge", REF, "c" * 40, "gus"),  # a commit not in the pull request
        Activity("pr_merge", REF, "a" * 40, "alice"),  # the author herself
    ]
    assert pushers(moves, "alice/1", OURS, "alice") == (
        Pusher("bob"),
        Pusher("mallory"),
        Pusher("carol"),
        Pusher("dan"),
    )


def test_a_pull_request_merged_into_the_branch_means_the_commits_must_be_read() -> None:
    merged = [Activity("pr_merge", REF, "b" * 40, "mallory")]
    assert needs_commits(merged, "alice/1", "alice")
    deleted = [Activity("branch_deletion", REF, "0" * 40, "mallory")]
    assert not needs_commits(deleted, "alice/1", "alice")
    assert not needs_commits([Activity("pr_merge", REF, "b" * 40, "alice")], "alice/1", "alice")
