"""What the launch job re-checks beyond the merged verdict: removals, permissions revoked on
main since the merge, approvals that came after a scheduled request's launch_at.

Each check reads GitHub's own record (the commit that changed main, its merged pull request,
that pull request's reviews and pushers) and judges it with the gate's pure rules
(`launcher.core.gate.decide`, `launcher.core.removal`): the launch job never trusts that a
change reached main with a valid verdict, it decides again. The job (launcher.jobs.launch)
turns a refusal into a FAILED record and a comment, or, for a removal, leaves the instances
running until their expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from launcher.core.approvals import Review
from launcher.core.gate import Decision, GateInput, Item, ItemKind, State, decide
from launcher.core.gate_report import untrusted
from launcher.core.lifecycle import LIVE, Category, LastError, Terminate
from launcher.core.model import Policy
from launcher.core.permissions import display_principals
from launcher.core.provenance import landed_through
from launcher.core.pulls import Pull
from launcher.core.removal import recorded_requester
from launcher.core.sweep import late_reason
from launcher.core.times import utc_iso, utc_text
from launcher.jobs.comments import comment_once
from launcher.jobs.launch.common import COMMENT_MARKER, LaunchReport, Transient
from launcher.jobs.ports import GitHubPort

if TYPE_CHECKING:
    from launcher.jobs.launch.views import Lookups

_T = TypeVar("_T")
REMOVAL_OUTCOME = "removal-not-approved"  # the comment marker's outcome for a kept request


class Undecided(Exception):
    """The check could not be made now (an unreadable team, a missing commit): retried."""


@dataclass(frozen=True)
class Refusal:
    category: Category
    message: str


@dataclass
class PullDecisions:
    """Each merged pull request read once per run: its gate input, its reviews, and its
    decision under pools.yaml at its base and under pools.yaml on main now."""

    gh: GitHubPort
    main_policy: bytes
    inputs: dict[int, GateInput]
    reviews: dict[int, list[Review]]
    at_base: dict[int, Decision]
    on_main: dict[int, Decision]

    @classmethod
    def new(cls, gh: GitHubPort, main_policy: bytes) -> PullDecisions:
        return cls(gh, main_policy, {}, {}, {}, {})

    def base(self, pr: Pull, requesters: dict[str, str] | None = None) -> Decision:
        """The decision under pools.yaml at the pull request's base; with `requesters` (a
        removal's recorded requester) decided again from the same reads."""
        from launcher.jobs.gate import pull_input

        if pr.number not in self.at_base:
            reviews = self.gh.reviews(pr.number)
            self.reviews[pr.number] = reviews
            data = pull_input(self.gh, pr, reviews, requesters={})
            self.inputs[pr.number] = data
            self.at_base[pr.number] = decide(data, self.gh)
        if requesters:
            return decide(replace(self.inputs[pr.number], requesters=requesters), self.gh)
        return self.at_base[pr.number]

    def main(self, pr: Pull) -> Decision:
        """The same pull request judged by main's current pools.yaml (no new reads but the
        teams it names): a requester or approver removed since has no say any more."""
        if pr.number not in self.on_main:
            data = replace(self.inputs[pr.number], policy_raw=self.main_policy)
            self.on_main[pr.number] = decide(data, self.gh)
        return self.on_main[pr.number]


def revoked_on_main(
    decisions: PullDecisions, pr: Pull, item: Item, branch: str, head: str
) -> Refusal | None:
    """`not_approved: revoked in pools.yaml on main at <sha>` when the request's item, which
    held under its base's pools.yaml, does not hold under main's: the requester lost the tier,
    or an approver whose approval it needed is no longer one."""
    now = decisions.main(pr)
    if now.state is State.ERROR:
        raise Undecided(f"could not re-check #{pr.number} against {branch}: {now.description}")
    theirs = next((i for i in now.items if i.path == item.path and i.change == item.change), None)
    if theirs is None or theirs.kind is not ItemKind.REQUEST or theirs.state is State.SUCCESS:
        return None  # a request that no longer loads is the launch's no_match, not this
    # approvals only matter while the requester still needs them (a tally was made on main)
    counted = set(theirs.tally.approved_by) if theirs.tally else None
    approved = item.tally.approved_by if item.tally else ()
    lost = [a for a in approved if counted is not None and a not in counted]
    detail = (
        ", ".join(f"@{a}" for a in lost)
        + f" approved it but no longer approve{'s' if len(lost) == 1 else ''} on pool "
        + f"{item.pool} ({theirs.summary})"
        if lost
        else theirs.summary
    )
    return Refusal(
        Category.NOT_APPROVED,
        f"revoked in pools.yaml on {branch} at {head[:7]}: #{pr.number} by @{pr.author}: {detail}",
    )


def late_approval(pr: Pull, item: Item, commit: str) -> Refusal | None:
    """`auto_rejected` for a scheduled request whose needed approvals came after its
    launch_at (the sweep's rule: not approved before the scheduled launch time)."""
    counted = item.tally
    if item.launch_at is None or counted is None or not counted.late or not counted.missing:
        return None
    late = ", ".join(
        f"@{r.user} at {utc_text(r.submitted_at)}" if r.submitted_at else f"@{r.user}"
        for r in counted.late
    )
    return Refusal(
        Category.AUTO_REJECTED,
        f"{late_reason(item.launch_at)}: #{pr.number} by @{pr.author}, merged in {commit[:7]}, "
        f"was approved by {late}, after it. Propose a new launch_at in a new pull request.",
    )


@dataclass(frozen=True)
class RemovalVerdict:
    allowed: bool
    commit: str  # the commit that removed the request from main
    pr: Pull | None  # its merged pull request, if any
    message: str  # why it is refused (empty when allowed)


def check_removal(
    gh: GitHubPort,
    decisions: PullDecisions,
    *,
    path: str,
    requester: str | None,
    branch: str,
    head: str,
    absent_at: str = "",
) -> RemovalVerdict:
    """Judge how `path` left main by the removal rule (launcher.core.removal): the commit that
    removed it must come from a merged pull request whose item for that removal passes at its
    head, with the requester launcher recorded (the records this run acts on). `absent_at`: a
    commit of main without the file, for a request added back since (its removal is the last
    change to the file there)."""
    commit = gh.last_commit(path, absent_at or head)
    if commit is None:
        raise Undecided(f"no commit on {branch} removed {path}")
    # the pull request whose merge commit reached main, not the newest holding the commit:
    # anyone can open one (core.provenance)
    pr = landed_through(gh.commit_pulls(commit), branch, lambda sha: gh.reached(sha, head))
    if pr is None:
        return RemovalVerdict(
            False,
            commit,
            None,
            f"{path} was removed from {branch} in {commit[:7]} without a merged pull request",
        )
    commit = pr.merge_commit_sha or commit  # what main shows: the pull request's merge
    decision = decisions.base(pr, {path: requester} if requester is not None else {})
    if decision.state is State.ERROR:
        raise Undecided(f"could not re-check #{pr.number}: {decision.description}")
    item = next(
        (i for i in decision.items if i.path == path and i.change in ("removed", "renamed from")),
        None,
    )
    where = f"{path} was removed from {branch} in {commit[:7]} by #{pr.number} (@{pr.author})"
    if item is None:
        return RemovalVerdict(False, commit, pr, f"{where}, which did not ask for it")
    if item.state is State.SUCCESS:
        return RemovalVerdict(True, commit, pr, "")
    return RemovalVerdict(False, commit, pr, f"{where} without a valid verdict: {item.summary}")


def undecided_is_transient(check: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a check; what it cannot decide now is the run's Transient (retried next run)."""
    try:
        return check(*args, **kwargs)
    except Undecided as exc:
        raise Transient(str(exc)) from exc


def removal_allowed(
    lookups: Lookups,
    policy: Policy,
    report: LaunchReport,
    action: Terminate,
    ids: list[str],
    *,
    tell: bool = True,
) -> bool:
    """The removal rule at launch time: a removal merged without a valid verdict ends nothing.
    It is reported `not_approved` (the run exits 1) on every run until the instances expire,
    and the requester and the pool's approvers are told once, on the removing pull request
    (or the request's own when none removed it). With `tell` False (a request that came back
    since: the refused removal never took effect) only the answer is given."""
    records = sorted(action.records, key=lambda r: r.deployment_id, reverse=True)
    live = [r for r in records if r.state in LIVE]
    tagged = next((i.requested_by for f in action.fleets for i in f.instances), None)
    # whose instances these are: a live record's requester; for instances no live record
    # names (launched, never recorded: a crash), the requested-by tag launcher wrote on them;
    # else the newest record's
    requester = recorded_requester(r.requested_by for r in live)
    if requester is None:
        requester = tagged or recorded_requester(r.requested_by for r in records)
    path = records[0].path if records and records[0].path else f"deployments/{action.key}.yaml"
    verdict = undecided_is_transient(
        check_removal,
        lookups.gh,
        lookups.checks,
        path=path,
        requester=requester or "",
        branch=lookups.branch,
        head=lookups.head,
        absent_at=action.absent_at,
    )
    if verdict.allowed or not tell:
        return verdict.allowed
    report.failed.append((action.key, LastError(Category.NOT_APPROVED, verdict.message)))
    pr = verdict.pr.number if verdict.pr else next((r.pr for r in records if r.pr), None)
    if pr is not None:
        pool = policy.pools.get(action.key.split("/", 1)[0])
        approvers = display_principals(pool.permissions.modify, policy) if pool else []
        until = [utc_iso(r.expires_at) for r in records if r.expires_at]
        body = removal_notice(requester, approvers, verdict.message, ids, until)
        version = records[0].version.id if records else "-"
        marker = COMMENT_MARKER.format(key=action.key, version=version, outcome=REMOVAL_OUTCOME)
        comment_once(lookups.gh, pr, marker, body)
    return False


def removal_notice(
    requester: str | None,
    approvers: Iterable[str],
    message: str,
    ids: list[str],
    until: list[str],
) -> str:
    """The comment telling the requester and the pool's approvers that a removal was not
    applied (the message names the commit, the pull request and who removed it)."""
    who = " ".join([*([f"@{requester}"] if requester else []), *approvers])
    kept = f"instances {', '.join(ids)}" if ids else "its schedule"
    expiry = f" until {until[0]}" if until else " until its expiry"
    return (
        f"{who}: **not_approved**: {untrusted(message)}.\n\nlauncher keeps {kept} running"
        f"{expiry}. To end it sooner, restore the file and remove it again in a pull "
        "request its requester opens or the pool's approvers approve."
    )
