"""The merge group's verdict: a group passes only as the sum of passing pull requests."""

from __future__ import annotations

from launcher.core.gate import State
from launcher.core.merge_group import (
    Entry,
    QueuedPull,
    changed_paths,
    decide_group,
    queue_pull_number,
)

BASE = {"pools.yaml": Entry("100644", "p0"), "README.md": Entry("100644", "r0")}
WEB = "deployments/dev/web.yaml"
API = "deployments/dev/api.yaml"


def pull(number: int, files: dict[str, Entry | None], state: State = State.SUCCESS, **kw: object):
    return QueuedPull(number, "bob", state, "why", files, **kw)  # type: ignore[arg-type]


def test_a_group_of_passing_pull_requests_passes_and_says_where_each_file_came_from() -> None:
    head = {**BASE, WEB: Entry("100644", "w1"), API: Entry("100644", "a1")}
    decision = decide_group(
        BASE, head, [pull(1, {WEB: Entry("100644", "w1")}), pull(2, {API: Entry("100644", "a1")})]
    )
    assert decision.state is State.SUCCESS
    assert decision.description == "merge group of 2 pull requests: every change judged"
    assert [(a.path, a.pulls) for a in decision.attributions] == [(API, (2,)), (WEB, (1,))]
    assert decision.pulls == (1, 2)


def test_a_failing_pull_request_fails_the_group_by_number_even_when_its_file_matches() -> None:
    head = {**BASE, WEB: Entry("100644", "w1"), API: Entry("100644", "a1")}
    bad = pull(2, {API: Entry("100644", "a1")}, State.PENDING)
    decision = decide_group(BASE, head, [pull(1, {WEB: Entry("100644", "w1")}), bad])
    assert decision.state is State.FAILURE and decision.failing == (2,)
    assert decision.description.startswith("#2 (bob) does not pass: pending: why")


def test_content_no_pull_request_holds_fails_the_group() -> None:
    # Two pull requests edit one file; the merge combines them into content neither approved.
    head = {**BASE, WEB: Entry("100644", "merged")}
    decision = decide_group(
        BASE, head, [pull(1, {WEB: Entry("100644", "w1")}), pull(2, {WEB: Entry("100644", "w2")})]
    )
    assert decision.state is State.FAILURE and decision.failing == ()
    assert decision.description == (
        f"{WEB}: the group holds it as no queued pull request with a passing verdict does"
    )


def test_a_mode_change_or_a_removal_must_be_a_pull_requests_too() -> None:
    head = {**BASE, WEB: Entry("120000", "w1")}
    decision = decide_group(BASE, head, [pull(1, {WEB: Entry("100644", "w1")})])
    assert decision.state is State.FAILURE
    removed = {"pools.yaml": BASE["pools.yaml"]}
    assert decide_group(BASE, removed, [pull(3, {"README.md": None})]).state is State.SUCCESS
    assert decide_group(BASE, removed, []).state is State.FAILURE


def test_a_pull_request_only_named_in_a_message_counts_only_if_its_content_is_used() -> None:
    head = {**BASE, WEB: Entry("100644", "w1")}
    named = pull(7, {API: Entry("100644", "a1")}, State.FAILURE, in_group=False)
    decision = decide_group(BASE, head, [pull(1, {WEB: Entry("100644", "w1")}), named])
    assert decision.state is State.SUCCESS and decision.pulls == (1,)
    # ... but a file only a failing one holds fails the group, naming it
    decision = decide_group(BASE, {**head, API: Entry("100644", "a1")}, [named])
    assert decision.state is State.FAILURE and decision.failing == (7,)


def test_an_undecidable_pull_request_is_an_error_not_a_pass() -> None:
    head = {**BASE, WEB: Entry("100644", "w1")}
    decision = decide_group(BASE, head, [pull(1, {WEB: Entry("100644", "w1")}, State.ERROR)])
    assert decision.state is State.ERROR


def test_helpers() -> None:
    assert changed_paths(BASE, {"README.md": Entry("100644", "r1")}) == ["README.md", "pools.yaml"]
    assert queue_pull_number("refs/heads/gh-readonly-queue/main/pr-12-" + "a" * 40) == 12
    assert queue_pull_number("refs/heads/feature/pr-12-abc") is None
    assert decide_group(BASE, BASE, []).description == "merge group changes nothing"
