"""The merge queue's required check: judge a merge group's commit and say so on it.

GitHub's merge queue merges the group's commit (the queued pull requests merged onto the
default branch) once the required checks pass on that commit, so launcher must report
`launcher/approval` there too, or nothing merges. The event (``merge_group``
``checks_requested`` for the service; in Actions, the ``workflow_run`` hand-over of the
unprivileged workflow that ran on it) is a pointer only: the group's commit and branch. All
else is read from the API: the merge base with the default branch (the group is judged from
there, so a group carrying the groups ahead of it is judged whole: GitHub merges those with
it), the trees, the group's commits, the open pull requests, and for each pull request of the
group the gate's own decision with pools.yaml of the group's base. `core.merge_group` decides.

Entry points: `decide_merge_group` (no writes) and `run_merge_group` (writes the check run on
the group's head commit), for the service and for `launcher gate`.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from launcher.adapters.github import GitHub, GitHubError
from launcher.adapters.github_queue import compare, tree_entries
from launcher.core.gate import CONTEXT, ChangedFile, State
from launcher.core.merge_group import (
    QUEUE_PREFIX,
    Entry,
    GroupDecision,
    QueuedPull,
    decide_group,
    queue_pull_number,
)
from launcher.core.permissions import MembershipUnknown
from launcher.core.pulls import Pull
from launcher.core.text import clip

MAX_GROUP_PULLS = 100  # GitHub merges at most 100 pull requests in one group
_NUMBER = re.compile(r"#(\d{1,9})\b")


@dataclass(frozen=True)
class Group:
    """The group a delivery points at: its head commit and queue branch."""

    head_sha: str
    head_ref: str  # refs/heads/gh-readonly-queue/<base>/pr-<N>-<sha>


@dataclass
class GroupOutcome:
    state: State
    description: str
    decision: GroupDecision | None = None
    writes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.state is State.SUCCESS else 1


def group_of(payload: Mapping[str, Any]) -> Group | None:
    """The group named by a ``merge_group`` delivery or by the ``workflow_run`` hand-over of a
    run GitHub started on ``merge_group`` (its `event`, which only GitHub sets); None when the
    payload is neither."""
    group = payload.get("merge_group")
    if isinstance(group, dict):
        sha, ref = group.get("head_sha"), group.get("head_ref")
    else:
        run = payload.get("workflow_run")
        if not isinstance(run, dict) or run.get("event") != "merge_group":
            return None
        sha, branch = run.get("head_sha"), run.get("head_branch")
        ref = f"refs/heads/{branch}" if isinstance(branch, str) else None
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
        return None
    if not isinstance(ref, str):
        return None
    return Group(sha, ref if ref.startswith("refs/") else f"refs/heads/{ref}")


class NotJudged(Exception):
    """Nothing to judge: the group is not the default branch's, or it has merged already."""


def decide_merge_group(gh: GitHub, group: Group) -> GroupDecision:
    """The verdict on the group's head commit, read from the API, without writing anything.
    Raises NotJudged for a group of another branch (launcher gates only the default branch,
    as it does pull requests) or one already on the default branch (a late or repeated
    delivery: the queue merged it)."""
    from launcher.core.gate import decide
    from launcher.jobs.gate import FORK_REFUSAL, pull_input

    default = gh.default_branch()
    if not group.head_ref.startswith(f"refs/heads/{QUEUE_PREFIX}{default}/"):
        raise NotJudged(f"{group.head_ref} is not a merge group of {default}: nothing to judge")
    comparison = compare(gh, default, group.head_sha)
    if comparison.status in ("behind", "identical"):
        raise NotJudged(f"{group.head_sha[:12]} is already on {default}: nothing to judge")
    base_sha = comparison.merge_base
    base = tree_entries(gh, base_sha)
    head = tree_entries(gh, group.head_sha)
    in_group = {sha for sha, _ in comparison.commits}
    named = {n for _, message in comparison.commits for n in map(int, _NUMBER.findall(message))}
    first = queue_pull_number(group.head_ref)
    if first is not None:
        named.add(first)
    candidates = [p for p in gh.open_pulls(default) if p.head_sha in in_group or p.number in named]
    if len(candidates) > MAX_GROUP_PULLS:
        raise GitHubError(f"{len(candidates)} pull requests in one merge group: too many to judge")
    pulls = []
    for info in candidates:
        carried = info.head_sha in in_group or info.number == first
        # as the gate: "" (the head's repository deleted) is a fork's too
        if info.head_repo is not None and info.head_repo.lower() != gh.settings.repository.lower():
            refused = QueuedPull(info.number, info.author, State.FAILURE, FORK_REFUSAL, {}, carried)
            pulls.append(refused)
            continue
        judged = replace(info, base_sha=base_sha)  # policy: pools.yaml of the group's base
        data = pull_input(gh, judged, gh.reviews(info.number))
        decision = decide(data, gh)
        pulls.append(
            QueuedPull(
                info.number,
                info.author,
                decision.state,
                decision.description,
                _pull_files(gh, info, data.files),  # the files the decision read
                carried,
            )
        )
    return decide_group(base, head, pulls)


def _pull_files(gh: GitHub, info: Pull, changed: Sequence[ChangedFile]) -> dict[str, Entry | None]:
    """Each path the pull request changes, with its entry at the pull request's head (the
    tree its decision read the modes from: read once)."""
    at_head = tree_entries(gh, info.head_sha)
    files: dict[str, Entry | None] = {}
    for f in changed:
        if f.status == "renamed" and f.previous_path:
            files[f.previous_path] = None
        files[f.path] = None if f.status == "removed" else at_head.get(f.path)
    return files


def run_merge_group(gh: GitHub, group: Group, *, out: TextIO = sys.stdout) -> GroupOutcome:
    """Decide and publish `launcher/approval` on the group's head commit (fail closed: any
    error is an `error` check, which the queue takes for a failure)."""
    try:
        decision = decide_merge_group(gh, group)
    except NotJudged as skipped:
        out.write(f"{skipped}\n")
        return GroupOutcome(State.SUCCESS, str(skipped))
    except (GitHubError, MembershipUnknown) as exc:
        decision = GroupDecision(State.ERROR, clip(f"could not decide: {exc}"))
    except Exception as exc:  # a bug must not leave the group without a failing check
        traceback.print_exc()
        reason = f"internal error: {type(exc).__name__}: {exc}"
        decision = GroupDecision(State.ERROR, clip(f"could not decide: {reason}"))
    writes = []
    try:
        if gh.set_verdict(group.head_sha, CONTEXT, decision.state.value, decision.description,
                          decision.summary):  # fmt: skip
            writes.append(f"check {decision.state.value} on {group.head_sha[:12]}")
    except GitHubError as exc:
        out.write(f"could not write the check on the merge group: {exc}\n")
        return GroupOutcome(State.ERROR, str(exc), decision)
    out.write(f"{CONTEXT} on merge group {group.head_ref.removeprefix('refs/heads/')}: "
              f"{decision.state.value}: {decision.description}\n")  # fmt: skip
    gh.settings.append_summary(decision.summary)
    return GroupOutcome(decision.state, decision.description, decision, writes)


def run_merge_group_event(
    gh: GitHub, payload: Mapping[str, Any], *, out: TextIO = sys.stdout
) -> GroupOutcome | None:
    """For a webhook consumer (`launcher serve`): judge the group a ``merge_group``
    ``checks_requested`` delivery (or a ``workflow_run`` hand-over of a run on merge_group)
    names and publish the check; None when the payload names no group (``destroyed``, any
    other event). The delivery is a pointer only: a replay re-reads everything and writes
    nothing new."""
    if payload.get("merge_group") is not None and payload.get("action") != "checks_requested":
        return None
    group = group_of(payload)
    return None if group is None else run_merge_group(gh, group, out=out)
