"""The launch job's trust-anchor check: may main's control files (everything outside
`deployments/`: pools.yaml, CODEOWNERS, anything else) be used, or did some of them reach main
without an admin's approval?

It runs before anything is planned. In the steady state it costs no request: the newest
anchor record is in the deployment listing the run reads anyway, and main's tree is read
anyway, so comparing the two digests is free. Only when main's control files differ from the
anchor's does it read more: for each changed path the commit that last changed it, the merged
pull request that brought it, that pull request's reviews and pushers (the gate's own
decision, `decide_pull`: its control item is an admin's approval on the final head by someone
neither the author nor a pusher), and three trees to check the merge commit holds nothing
the approved head did not. See `launcher.core.anchor` for the rules and docs/security.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from launcher.core.anchor import (
    ANCHOR_ENVIRONMENT,
    AnchorRecord,
    Culprit,
    block_message,
    changed,
    control_files,
    decode_anchor,
    digest,
    merge_faithful,
    shown,
    start,
    unset_message,
    variable_problem,
)
from launcher.core.deployments import Deployment
from launcher.core.gate import ItemKind, State
from launcher.core.pulls import Pull
from launcher.jobs.ports import GitHubPort


class AnchorError(Exception):
    """Could not decide (a pull request's decision could not be made): nothing is done."""


@dataclass
class AnchorCheck:
    blocked: str | None = None  # the block message; None: main's control files are trusted
    recorded: list[str] = field(default_factory=list)  # what the check wrote, one line each


def check_anchor(
    gh: GitHubPort,
    task: str,
    branch: str,
    head: str,
    files: Mapping[str, str],
    listed: Sequence[Deployment],
    variable: str,
    *,
    dry_run: bool = False,
) -> AnchorCheck:
    """Is `head` (main, with `files`) trusted? Records a new anchor when an admin-approved pull
    request moved it, and a block (once per message) when not."""
    records = [
        r
        for d in listed  # newest first
        if d.environment == ANCHOR_ENVIRONMENT and (r := decode_anchor(d.payload)) is not None
    ]
    latest = records[0] if records else None
    begin = start(records, variable)
    result = AnchorCheck()
    problem = variable_problem(variable)
    if begin is None or problem:
        result.blocked = problem or unset_message()
        _record_block(gh, task, head, result, latest, dry_run)
        return result
    now_digest = digest(files)
    if begin.digest is not None and begin.digest == now_digest:
        if latest is not None and latest.kind == "blocked":  # reverted since: lift the block
            _record_anchor(gh, task, head, now_digest, variable, (), result, dry_run)
        return result
    anchor_files = files if begin.commit == head else gh.tree(begin.commit)
    paths = changed(anchor_files, files)
    if not paths:  # the variable's commit (first run), or a record without digest
        # recorded when it saves the next run a tree read, or lifts a block (a revert)
        moved = begin.from_variable and begin.commit != head
        if moved or (latest is not None and latest.kind == "blocked"):
            _record_anchor(gh, task, head, now_digest, variable, (), result, dry_run)
        return result
    culprits, prs = _explain(gh, branch, head, files, paths)
    if culprits:
        bad = tuple(p for c in culprits for p in c.paths)
        result.blocked = block_message(head, bad, culprits)
        _record_block(gh, task, head, result, latest, dry_run)
        return result
    _record_anchor(gh, task, head, now_digest, variable, prs, result, dry_run)
    return result


def _explain(
    gh: GitHubPort, branch: str, head: str, files: Mapping[str, str], paths: Sequence[str]
) -> tuple[list[Culprit], tuple[int, ...]]:
    """Each changed path's newest change and the pull request that brought it: the culprits
    (not admin-approved) and the admin-approved pull requests."""
    by_commit: dict[str, list[str]] = {}
    culprits: list[Culprit] = []
    for path in paths:
        commit = gh.last_commit(path, head)
        if commit is None:  # a removal git log cannot place: name main's head
            culprits.append(Culprit((path,), head, None, "someone", "no commit of main names it"))
            continue
        by_commit.setdefault(commit, []).append(path)
    by_pr: dict[int, tuple[Pull, list[str]]] = {}
    for commit, here in by_commit.items():
        merged = [
            p
            for p in gh.commit_pulls(commit)
            if p.merged and p.base_ref == branch and p.merge_commit_sha
        ]
        if not merged:
            who = gh.commit_facts(commit).author
            culprits.append(Culprit(tuple(here), commit, None, who, "not through a pull request"))
            continue
        pr = max(merged, key=lambda p: p.number)
        by_pr.setdefault(pr.number, (pr, []))[1].extend(here)
    approved = []
    for number, (pr, here) in sorted(by_pr.items()):
        why = _not_admin_approved(gh, pr, files, here)
        if why is None:
            approved.append(number)
        else:
            merge = pr.merge_commit_sha or ""
            culprits.append(Culprit(tuple(sorted(here)), merge, number, pr.author, why))
    return culprits, tuple(approved)


def _not_admin_approved(
    gh: GitHubPort, pr: Pull, files: Mapping[str, str], paths: Sequence[str]
) -> str | None:
    """None when `pr` is admin-approved (the gate's control item passed at its final head) and
    its merge commit is its head merged onto its base; otherwise why not, in words."""
    from launcher.jobs.gate import decide_pull

    decision = decide_pull(gh, pr, gh.reviews(pr.number))
    if decision.state is State.ERROR:
        raise AnchorError(f"could not re-check #{pr.number}: {decision.description}")
    control = next((i for i in decision.items if i.kind is ItemKind.CONTROL), None)
    merge = pr.merge_commit_sha or ""
    if control is None:
        return f"#{pr.number}'s head does not change them: its merge commit {merge[:7]} does"
    if control.state is not State.SUCCESS:
        return f"merged without an admin's approval ({control.summary})"
    facts = gh.commit_facts(merge)
    if facts.parent is None:
        return f"its merge commit {merge[:7]} has no parent"
    pr_paths = [
        p for f in gh.changed_files(pr.number) for p in (f.path, f.previous_path) if p is not None
    ]
    merged_files = gh.tree(merge)
    off = merge_faithful(gh.tree(facts.parent), gh.tree(pr.head_sha), merged_files, pr_paths)
    if off:
        return (
            f"its merge commit {merge[:7]} differs from the approved head "
            f"{pr.head_sha[:7]} in {shown(off)}"
        )
    later = [p for p in paths if control_files(files).get(p) != merged_files.get(p)]
    if later:
        return f"{shown(later)} changed again after #{pr.number} was merged"
    return None


def _record_anchor(
    gh: GitHubPort,
    task: str,
    head: str,
    now_digest: str,
    variable: str,
    prs: tuple[int, ...],
    result: AnchorCheck,
    dry_run: bool,
) -> None:
    record = AnchorRecord("anchor", head, now_digest, variable.strip(), prs)
    via = f" (admin-approved: {', '.join(f'#{n}' for n in prs)})" if prs else ""
    line = f"trust anchor: {head[:7]}{via}"
    if not dry_run:
        gh.create_deployment(head, ANCHOR_ENVIRONMENT, record.encode(), line, task)
    result.recorded.append(line)


def _record_block(
    gh: GitHubPort,
    task: str,
    head: str,
    result: AnchorCheck,
    latest: AnchorRecord | None,
    dry_run: bool,
) -> None:
    """A `blocked` record for `launcher status`, once per message (a re-run writes nothing)."""
    message = result.blocked or ""
    if dry_run or (latest is not None and latest.kind == "blocked" and latest.message == message):
        return
    record = AnchorRecord("blocked", head, message=message)
    gh.create_deployment(head, ANCHOR_ENVIRONMENT, record.encode(), message, task)
