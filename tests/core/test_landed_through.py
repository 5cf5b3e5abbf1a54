"""Which merged pull request a commit reached the default branch through."""

from __future__ import annotations

from datetime import UTC, datetime

from launcher.core.provenance import landed_through
from launcher.core.pulls import Pull

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def pull(number: int, merge: str | None, minute: int, *, base: str = "main") -> Pull:
    return Pull(
        number=number, author="bob", head_sha="h" * 40, base_sha="b" * 40, base_ref=base,
        state="closed", merged=merge is not None, created_at=T0, html_url="",
        merge_commit_sha=merge, merged_at=T0.replace(minute=minute) if merge else None,
    )  # fmt: skip


def test_a_second_pull_request_on_the_same_head_does_not_displace_the_first() -> None:
    approved, second = pull(1, "m1", 10), pull(2, "m2", 20)
    asked: list[str] = []

    def on_main(sha: str) -> bool:
        asked.append(sha)
        return True

    assert landed_through([second, approved], "main", on_main) == approved
    assert sorted(asked) == ["m1", "m2"]


def test_only_a_merge_commit_on_the_branch_counts() -> None:
    approved, elsewhere = pull(1, "m1", 10), pull(2, "m2", 5)
    assert landed_through([approved, elsewhere], "main", lambda sha: sha == "m1") == approved
    assert landed_through([approved, elsewhere], "main", lambda sha: False) is None


def test_one_candidate_costs_no_lookup_and_others_are_ignored() -> None:
    def never(sha: str) -> bool:
        raise AssertionError("no lookup needed")

    only = pull(3, "m3", 1)
    other_base = pull(4, "m4", 0, base="release")
    unmerged = pull(5, None, 0)
    assert landed_through([only, other_base, unmerged], "main", never) == only
    assert landed_through([unmerged], "main", never) is None
