"""The trust anchor's pure rules (launcher.core.anchor)."""

from __future__ import annotations

from launcher.core.anchor import (
    AnchorRecord,
    Culprit,
    block_message,
    changed,
    decode_anchor,
    digest,
    merge_faithful,
    standing_block,
    start,
)
from launcher.core.deployments import Deployment

BASE = {"pools.yaml": "p1", "README.md": "r1", "deployments/dev/a.yaml": "a1"}


def test_requests_never_count_as_control_files() -> None:
    moved = {**BASE, "deployments/dev/a.yaml": "a2", "deployments/dev/b.yaml": "b1"}
    assert digest(moved) == digest(BASE)
    assert changed(BASE, moved) == ()
    assert changed(BASE, {**BASE, "pools.yaml": "p2", ".github/x.yml": "x"}) == (
        ".github/x.yml",
        "pools.yaml",
    )
    assert changed(BASE, {"deployments/dev/a.yaml": "a1", "pools.yaml": "p1"}) == ("README.md",)


def test_a_merge_commit_must_be_the_head_merged_onto_its_base() -> None:
    parent = {"pools.yaml": "p1", "README.md": "r2"}  # main moved on after the PR was opened
    head = {"pools.yaml": "p2", "README.md": "r1"}  # the PR changed pools.yaml only
    honest = {"pools.yaml": "p2", "README.md": "r2"}
    assert merge_faithful(parent, head, honest, ["pools.yaml"]) == ()
    smuggled = {**honest, ".github/workflows/x.yml": "evil"}
    assert merge_faithful(parent, head, smuggled, ["pools.yaml"]) == (".github/workflows/x.yml",)
    edited = {"pools.yaml": "p3", "README.md": "r2"}  # not what the admin approved
    assert merge_faithful(parent, head, edited, ["pools.yaml"]) == ("pools.yaml",)
    reverted = {"pools.yaml": "p2", "README.md": "r1"}  # undid someone else's change
    assert merge_faithful(parent, head, reverted, ["pools.yaml"]) == ("README.md",)


def test_the_record_wins_until_an_admin_sets_the_variable_to_something_else() -> None:
    anchor = AnchorRecord("anchor", "c2", "d2", variable="c1")
    blocked = AnchorRecord("blocked", "c3", message="blocked: …")
    assert start([], "") is None  # fail closed
    first = start([], "c1")
    assert first is not None and (first.commit, first.digest, first.from_variable) == (
        "c1",
        None,
        True,
    )
    same = start([blocked, anchor], "c1")
    assert same is not None and (same.commit, same.digest) == ("c2", "d2")
    again = start([blocked, anchor], "c9")  # an admin re-anchored by hand
    assert again is not None and again.commit == "c9" and again.from_variable


def test_records_are_read_as_data() -> None:
    record = AnchorRecord("anchor", "c2", "d2", "c1", (4, 7))
    assert decode_anchor(record.encode()) == record
    for payload in (
        {},
        {"launcher_anchor": "x"},
        {"launcher_anchor": {"kind": "trusted", "commit": "c"}},
        {"launcher_anchor": {"kind": "anchor", "commit": 3}},
        {"launcher_anchor": {"kind": "anchor", "commit": "c", "prs": ["4"]}},
        {"launcher_anchor": {"kind": "anchor", "commit": "c", "digest": 1}},
    ):
        assert decode_anchor(payload) is None, payload


def test_the_block_names_commit_paths_pull_request_and_person() -> None:
    pushed = Culprit(("pools.yaml",), "a" * 40, None, "mallory", "not through a pull request")
    merged = Culprit(("x",), "b" * 40, 12, "bob", "merged without an admin's approval")
    text = block_message("c" * 40, ["pools.yaml", "x"], [pushed, merged])
    assert text == (
        "blocked: ccccccc changed pools.yaml, x without an admin's approval "
        "(pools.yaml in aaaaaaa (pushed by mallory): not through a pull request; "
        "x in bbbbbbb (#12 by @bob): merged without an admin's approval)"
    )


def test_status_shows_a_block_only_while_it_is_the_newest_anchor_record() -> None:
    def listed(*records: AnchorRecord) -> list[Deployment]:
        return [
            Deployment(i, "launcher", "launcher-trust-anchor", "c", r.encode())
            for i, r in enumerate(records)
        ]

    blocked = AnchorRecord("blocked", "c3", message="blocked: c3 changed pools.yaml")
    anchor = AnchorRecord("anchor", "c2", "d2")
    assert standing_block(listed(blocked, anchor)) == "blocked: c3 changed pools.yaml"
    assert standing_block(listed(anchor, blocked)) is None
    assert standing_block([]) is None


def test_the_variable_must_name_one_commit() -> None:
    from launcher.core.anchor import variable_problem

    assert variable_problem("") is None  # unset: the "no trust anchor" message instead
    assert variable_problem("a" * 40) is None
    for value in ("main", "refs/heads/main", "abc1234", "A" * 40):
        problem = variable_problem(value)
        assert problem is not None and "not a full commit SHA" in problem, value
