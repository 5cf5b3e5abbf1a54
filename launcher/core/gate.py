"""The gate's decision for one pull request: may its launch requests launch, and if not, why.

Pure: the job hands in the changed files, the request contents at the head commit, pools.yaml
at the base commit, the reviews and a team resolver; this returns the decision and everything
the job will say on GitHub. Policy always comes from the base commit, so a pull request cannot
grant itself permissions; anything this cannot decide is an `error`, never a `success`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import NamedTuple

from launcher.core.approvals import Review, Tally, tally
from launcher.core.documents import REQUEST_PATH, load_policy, load_request
from launcher.core.model import Policy, Pool, Tier
from launcher.core.permissions import (
    MembershipUnknown,
    TeamResolver,
    approvers,
    display_principals,
    expand,
    explain,
    tier_of,
)
from launcher.core.problems import Problem
from launcher.core.provenance import History, Pusher
from launcher.core.removal import removal_parties
from launcher.core.text import clip
from launcher.core.times import parse_utc_text, utc_text

DEPLOYMENTS = "deployments/"
REGULAR = "100644"
_MODES = {"120000": "a symbolic link", "160000": "a submodule", "100755": "an executable file"}
POLICY_PATH = "pools.yaml"
CONTEXT = "launcher/approval"
LAUNCH_AT_PREFIX = "launch:at "
LABELS = {
    "pending": "launch:pending-approval",
    "success": "launch:approved",
    "rejected": "launch:rejected",
    "failure": "launch:invalid",
    "auto_rejected": "launch:auto-rejected",  # set by the sweep; cleared if the PR is reopened
}


class State(Enum):
    """Ordered from best to worst: a pull request's state is its worst item's."""

    SUCCESS = "success"
    PENDING = "pending"
    FAILURE = "failure"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return list(State).index(self)


class ItemKind(Enum):
    """What an item of the gate's decision is about."""

    REQUEST = "request"  # a launch request added, changed, renamed or removed
    CONTROL = "control"  # files outside deployments/ (pools.yaml, workflows): admins decide
    INVALID = "invalid"  # a file under deployments/ that is not a loadable request


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: str  # added, modified, removed, renamed, copied, changed
    previous_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class Item:
    """One thing the pull request asks for: a request change, or the control change."""

    kind: ItemKind
    path: str
    change: str  # added, modified, removed, renamed to, renamed from
    state: State
    summary: str
    pool: str | None = None
    tier: Tier | None = None
    tally: Tally | None = None
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    launch_at: datetime | None = None  # the request's scheduled launch time, if any
    approvers: tuple[str, ...] = ()  # @mentions of who approves this item (for notices)


@dataclass(frozen=True)
class Decision:
    state: State
    description: str
    items: tuple[Item, ...]
    label: str | None  # None: leave labels as they are (decision not made)
    request_users: tuple[str, ...] = ()  # approvers to ask (logins), author excluded
    request_teams: tuple[str, ...] = ()  # team slugs to ask, as "org/team"
    error: str | None = None
    pushers: tuple[str, ...] = ()  # who else pushed onto the pull request (shown, not mentioned)

    @property
    def launch_at(self) -> datetime | None:
        """The earliest scheduled launch among the requests still waiting or rejected.

        Past it, the sweep auto-rejects the pull request; the gate shows it as a label so the
        sweep can find due pull requests from the pull request list alone.
        """
        times = [
            item.launch_at
            for item in self.items
            if item.launch_at and item.state in (State.PENDING, State.FAILURE)
        ]
        return min(times) if times else None

    @property
    def annotations(self) -> list[Problem]:
        return [p for item in self.items for p in item.problems]


@dataclass
class GateInput:
    author: str
    head_sha: str
    files: list[ChangedFile]
    reviews: list[Review]
    policy_raw: bytes | None  # pools.yaml at the base commit
    head_contents: Mapping[str, bytes]  # request paths at the head commit
    match_warnings: Mapping[str, list[str]] = field(default_factory=dict)
    history: History = field(default_factory=History)  # pushers, base changes, dismissals
    modes: Mapping[str, str] | None = None  # git modes at the head (None: not read)
    # removed request paths -> their recorded requester (launcher.core.removal); a path not
    # in it has no record; None: records not read, so no removal passes without approval
    requesters: Mapping[str, str] | None = None


def _is_request_area(path: str) -> bool:
    return path.startswith(DEPLOYMENTS)


def _changes(files: Iterable[ChangedFile]) -> list[tuple[str, str]]:
    """(path, change) pairs; a rename is a removal from the old path and an addition."""
    out: list[tuple[str, str]] = []
    for f in files:
        if f.status == "renamed" and f.previous_path:
            out.append((f.previous_path, "renamed from"))
            out.append((f.path, "renamed to"))
        else:
            out.append((f.path, "removed" if f.status == "removed" else f.status))
    return out


def decide(data: GateInput, teams: TeamResolver) -> Decision:
    """Decide; any failure to decide becomes an `error` decision, never a pass."""
    try:
        return _decide(data, teams)
    except MembershipUnknown as exc:
        return _error(f"team membership could not be read ({', '.join(exc.teams)})")


def _error(reason: str) -> Decision:
    return Decision(State.ERROR, clip(f"could not decide: {reason}"), (), None, error=reason)


def _decide(data: GateInput, teams: TeamResolver) -> Decision:
    if data.policy_raw is None:
        return _error(f"{POLICY_PATH} is missing on the base branch")
    policy, policy_problems = load_policy(data.policy_raw, POLICY_PATH)
    if policy is None:
        first = policy_problems[0] if policy_problems else None
        return _error(f"{POLICY_PATH} on the base branch is invalid ({first})")
    judge = _Judge(data, policy, teams)
    items: list[Item] = []
    control_paths: list[str] = []
    for path, change in _changes(data.files):
        if not _is_request_area(path):
            control_paths.append(path)
            continue
        match = REQUEST_PATH.fullmatch(path)
        removing = change in ("removed", "renamed from")
        mode = None if removing or data.modes is None else data.modes.get(path)
        if match is not None and not removing and mode is not None and mode != REGULAR:
            message = (
                f"{path} is {_MODES.get(mode, f'a git entry of mode {mode}')}: only regular "
                "files (mode 100644) are launch requests"
            )
            problem = Problem(path, 1, 1, message)
            items.append(_invalid(path, change, State.FAILURE, message, (problem,)))
        elif match is None and removing:
            control_paths.append(path)  # tidying up a stray file: admins decide
        elif match is None:
            message = (
                f"{path} is not a launch request path: "
                "launch requests live at deployments/<pool>/<name>.yaml"
            )
            problem = Problem(path, 1, 1, message)
            items.append(_invalid(path, change, State.FAILURE, message, (problem,)))
        elif removing:
            items.append(judge.removal(path, change, match["pool"]))
        else:
            items.append(judge.addition(path, change))
    if control_paths:
        items.append(judge.control(control_paths))
    decision = _summarise(items, data, policy)
    return replace(decision, pushers=tuple(p.shown for p in data.history.pushers))


class _Verdict(NamedTuple):
    """A request item's outcome, before the item is built (`_Judge.request_item`)."""

    state: State
    summary: str
    tally: Tally | None = None


class _Judge:
    """Per-pull-request memo: each pool's approvals are counted once, whatever the file count."""

    def __init__(self, data: GateInput, policy: Policy, teams: TeamResolver) -> None:
        self.data = data
        self.policy = policy
        self.teams = teams
        self.tallies: dict[tuple[str, datetime | None], Tally] = {}
        self.history = data.history
        self.pusher_logins = frozenset(
            p.login.casefold() for p in data.history.pushers if p.login is not None
        )

    def _tally(
        self, approving: frozenset[str], required: int, before: datetime | None = None
    ) -> Tally:
        """Approvals from `approving`; dismissals of their rejections count only when made by
        one of them or an admin, never by the author or a pusher."""
        # Admins' teams are read only when a rejection was dismissed: a re-run with nothing
        # dismissed reads no team it does not otherwise need.
        admins = (
            expand(self.policy.admins, self.policy, self.teams)
            if any(
                d.previous_state == "changes_requested" for d in self.history.dismissals.values()
            )
            else frozenset()
        )
        return tally(
            self.data.reviews,
            approvers=approving,
            author=self.data.author,
            head_sha=self.data.head_sha,
            required=required,
            pushers=self.pusher_logins,
            base_changed_at=self.history.base_changed_at,
            dismissals=self.history.dismissals,
            may_dismiss=approving | admins,
            approved_before=before,
        )

    def pool_tally(self, pool_name: str, launch_at: datetime | None = None) -> Tally:
        """The pool's approvals; for a scheduled request only those submitted before its
        launch_at count (a later one comes after the request was auto-rejected)."""
        if (pool_name, launch_at) not in self.tallies:
            pool = self.policy.pools[pool_name]
            approving = approvers(pool, self.policy, self.teams)
            counted = self._tally(approving, pool.approvals_required, launch_at)
            self.tallies[(pool_name, launch_at)] = counted
        return self.tallies[(pool_name, launch_at)]

    def effective_tier(self, pool: Pool) -> tuple[Tier, str]:
        """The lowest tier among the author and every pusher, with who holds it: a pull
        request launches only as far as everyone who put commits on it may."""
        author = self.data.author
        tier = tier_of(author, pool, self.policy, self.teams)
        who = author
        for pusher in self.history.pushers:
            theirs = _pusher_tier(pusher, pool, self.policy, self.teams)
            if _TIER_ORDER.index(theirs) < _TIER_ORDER.index(tier):
                tier, who = theirs, pusher.shown
        return tier, who

    def request_item(
        self,
        path: str,
        change: str,
        pool_name: str,
        tier: Tier,
        verdict: _Verdict,
        *,
        warnings: tuple[str, ...] = (),
        launch_at: datetime | None = None,
    ) -> Item:
        """The item of one request added or removed, whose verdict is already reached."""
        pool = self.policy.pools[pool_name]
        return Item(
            kind=ItemKind.REQUEST,
            path=path,
            change=change,
            state=verdict.state,
            summary=verdict.summary,
            pool=pool_name,
            tier=tier,
            tally=verdict.tally,
            warnings=warnings,
            launch_at=launch_at,
            approvers=tuple(display_principals(pool.permissions.modify, self.policy)),
        )

    def removal(self, path: str, change: str, pool_name: str) -> Item:
        """Removing a request ends what it runs: its recorded requester or the pool's
        approvers may do it alone, anyone else needs the pool's approvals
        (launcher.core.removal, the rule the launch job applies too)."""
        if pool_name not in self.policy.pools:
            summary = f"pool {pool_name!r} is not defined in {POLICY_PATH}: an admin must remove it"
            problem = Problem(path, 1, 1, summary)
            return _invalid(path, change, State.FAILURE, summary, (problem,), pool=pool_name)
        verdict = self.removal_verdict(path, pool_name)
        # The item shows the author's own tier (the verdict weighs everyone behind the removal),
        # read after the verdict so that a team that cannot be read is named as the verdict's.
        tier = tier_of(self.data.author, self.policy.pools[pool_name], self.policy, self.teams)
        return self.request_item(path, change, pool_name, tier, verdict)

    def removal_verdict(self, path: str, pool_name: str) -> _Verdict:
        """The removal rule (launcher.core.removal) applied to this pull request's people."""
        pool = self.policy.pools[pool_name]
        known = self.data.requesters
        requester = "" if known is None else known.get(path)
        parties = removal_parties(
            author=self.data.author,
            pushers=self.history.pushers,
            requester=requester,
            pool=pool,
            policy=self.policy,
            teams=self.teams,
        )
        if parties.may_remove_alone:
            if requester is None:
                summary = "removed: launcher has no record of it (ends nothing)"
            else:
                summary = f"removed by its requester or an approver of pool {pool_name}"
            return _Verdict(State.SUCCESS, summary)
        counted = self.pool_tally(pool_name)
        if counted.rejected_by:
            return _Verdict(State.FAILURE, _rejection(counted.rejected_by[0], counted), counted)
        who = f"@{requester}" if requester else "unknown (no readable record)"
        if counted.missing:
            summary = (
                f"{parties.outsider} is neither its requester ({who}) nor an approver of pool "
                f"{pool_name}: removing it needs {_approvals(counted.missing)} from "
                + ", ".join(display_principals(pool.permissions.modify, self.policy))
            )
            return _Verdict(State.PENDING, summary, counted)
        by = ", ".join(f"@{login}" for login in counted.approved_by)
        return _Verdict(State.SUCCESS, f"removal approved by {by}", counted)

    def addition(self, path: str, change: str) -> Item:
        raw = self.data.head_contents.get(path)
        if raw is None:
            return _invalid(path, change, State.ERROR, f"{path} could not be read at the head")
        request, problems = load_request(raw, path, self.policy)
        if request is None:
            first = problems[0].message if problems else "invalid"
            return _invalid(path, change, State.FAILURE, first, tuple(problems))
        warnings = tuple(self.data.match_warnings.get(path, ()))
        return self.tiered(path, change, request.pool, warnings, request.launch_at)

    def tiered(
        self,
        path: str,
        change: str,
        pool_name: str,
        warnings: tuple[str, ...] = (),
        launch_at: datetime | None = None,
    ) -> Item:
        tier, who_limits = self.effective_tier(self.policy.pools[pool_name])
        verdict = self.tiered_verdict(pool_name, tier, who_limits, launch_at)
        return self.request_item(
            path, change, pool_name, tier, verdict, warnings=warnings, launch_at=launch_at
        )

    def tiered_verdict(
        self, pool_name: str, tier: Tier, who_limits: str, launch_at: datetime | None
    ) -> _Verdict:
        """An added or changed request's verdict from the lowest tier behind the pull request."""
        pool = self.policy.pools[pool_name]
        author = self.data.author
        limited = "" if who_limits == author else f"pushed by {who_limits}: "
        if tier is not Tier.CREATE_WITH_APPROVAL:
            state = State.SUCCESS if tier.may_launch_alone else State.FAILURE
            if who_limits != author and tier is Tier.NONE and who_limits not in _people(self):
                return _Verdict(
                    state,
                    f"{limited}a bot or unknown account holds no tier on pool {pool_name}: "
                    "only people named in pools.yaml may push onto a launch request",
                )
            return _Verdict(state, limited + explain(who_limits, pool, tier, self.policy))
        counted = self.pool_tally(pool_name, launch_at)
        if counted.rejected_by:
            review = counted.rejected_by[0]
            return _Verdict(State.FAILURE, _rejection(review, counted), counted)
        if counted.missing:
            who = ", ".join(display_principals(pool.permissions.modify, self.policy))
            summary = (
                f"{limited}{who_limits} has create_with_approval on pool {pool_name}: needs "
                f"{_approvals(counted.missing)} from {who}"
            )
            if counted.late and launch_at is not None:
                late = late_approvals(counted)
                summary += f" before its launch_at {utc_text(launch_at)} ({late})"
            return _Verdict(State.PENDING, summary, counted)
        by = ", ".join(f"@{login}" for login in counted.approved_by)
        return _Verdict(State.SUCCESS, f"approved by {by}", counted)

    def control(self, paths: list[str]) -> Item:
        """Anything outside deployments/ can change who may launch: admins must approve."""
        admins = expand(self.policy.admins, self.policy, self.teams)
        counted = self._tally(admins, 1)
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        who = ", ".join(display_principals(self.policy.admins, self.policy))
        if counted.rejected_by:
            state, summary = State.FAILURE, _rejection(counted.rejected_by[0], counted)
        elif counted.missing:
            state = State.PENDING
            summary = f"changes {shown}: needs an approving review from an admin ({who})"
        else:
            state = State.SUCCESS
            summary = f"changes {shown}: approved by " + ", ".join(
                f"@{a}" for a in counted.approved_by
            )
        return Item(
            kind=ItemKind.CONTROL,
            path=", ".join(paths),
            change="modified",
            state=state,
            summary=summary,
            tally=counted,
            approvers=tuple(display_principals(self.policy.admins, self.policy)),
        )


def _invalid(
    path: str,
    change: str,
    state: State,
    summary: str,
    problems: tuple[Problem, ...] = (),
    *,
    pool: str | None = None,
) -> Item:
    return Item(
        kind=ItemKind.INVALID,
        path=path,
        change=change,
        state=state,
        summary=summary,
        pool=pool,
        problems=problems,
    )


def _rejection(review: Review, counted: Tally | None = None) -> str:
    text = f"rejected by @{review.user}: {review.body.strip() or 'no reason given'}"
    dismisser = counted.kept_vetoes.get(review.id) if counted else None
    if dismisser:
        text += (
            f" (dismissed by {dismisser}, who may not lift it: only the pool's approvers or "
            "an admin, other than the author and pushers)"
        )
    return text


_TIER_ORDER = (Tier.NONE, Tier.CREATE_WITH_APPROVAL, Tier.CREATE, Tier.MODIFY)


def _pusher_tier(pusher: Pusher, pool: Pool, policy: Policy, teams: TeamResolver) -> Tier:
    if not pusher.has_tier or pusher.login is None:
        return Tier.NONE
    return tier_of(pusher.login, pool, policy, teams)


def _people(judge: _Judge) -> set[str]:
    """Shown names of the pushers that are people (bots and unknown accounts are not)."""
    return {p.shown for p in judge.history.pushers if p.has_tier}


def late_approvals(counted: Tally) -> str:
    """`approved by @dave at 2026-12-01 10:00 UTC, too late`: who approved after launch_at."""
    parts = [
        f"@{r.user} at {utc_text(r.submitted_at)}" if r.submitted_at else f"@{r.user}"
        for r in counted.late
    ]
    return "approved by " + ", ".join(parts) + ", too late"


def _approvals(n: int) -> str:
    return "1 more approving review" if n == 1 else f"{n} more approving reviews"


def _summarise(items: list[Item], data: GateInput, policy: Policy) -> Decision:
    if not items:
        return Decision(
            State.SUCCESS, "no launch requests or control files changed", (), LABELS["success"]
        )
    state = max((item.state for item in items), key=lambda s: s.rank)
    if state is State.ERROR:
        reason = next(i.summary for i in items if i.state is State.ERROR)
        return _error(reason)
    worst = [item for item in items if item.state is state]
    if state is State.SUCCESS:
        n = sum(1 for i in items if i.kind is ItemKind.REQUEST)
        description = f"{n} request{'s' if n != 1 else ''} may launch" if n else "approved"
        label = LABELS["success"]
    elif state is State.PENDING:
        description = _waiting(worst, policy)
        label = LABELS["pending"]
    else:
        description = worst[0].summary
        rejected = any(i.tally and i.tally.rejected_by for i in worst)
        label = LABELS["rejected" if rejected else "failure"]
        if len(worst) > 1:
            description = f"{len(worst)} problems; first: {description}"
    users, team_slugs = _to_ask(items, data, policy)
    return Decision(state, clip(description), tuple(items), label, users, team_slugs)


def _waiting(pending: list[Item], policy: Policy) -> str:
    needs: dict[str, int] = {}
    for item in pending:
        name = "admins" if item.kind is ItemKind.CONTROL else f"{item.pool} approvers"
        needs[name] = item.tally.missing if item.tally else 1
    parts = [f"{n} approval{'s' if n != 1 else ''} from {who}" for who, n in needs.items()]
    return "waiting for " + ", ".join(parts)


def _to_ask(
    items: list[Item], data: GateInput, policy: Policy
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Approvers of every pending pool (and admins for control changes), never the author."""
    principals: list[str] = []
    for item in items:
        if item.state is not State.PENDING:
            continue
        if item.kind is ItemKind.CONTROL:
            principals.extend(policy.admins)
        elif item.pool:
            principals.extend(policy.pools[item.pool].permissions.modify)
    users: list[str] = []
    team_slugs: list[str] = []
    for mention in display_principals(principals, policy):
        if "/" in mention:  # @org/team
            if mention[1:] not in team_slugs:
                team_slugs.append(mention[1:])
        elif mention[1:].casefold() != data.author.casefold() and mention[1:] not in users:
            users.append(mention[1:])
    return tuple(users), tuple(team_slugs)


def launch_at_label(when: datetime) -> str:
    """`launch:at 2026-12-01 09:00 UTC`: the label the sweep reads to find due pull requests."""
    return LAUNCH_AT_PREFIX + utc_text(when)


def parse_launch_at_label(label: str) -> datetime | None:
    if not label.startswith(LAUNCH_AT_PREFIX):
        return None
    return parse_utc_text(label.removeprefix(LAUNCH_AT_PREFIX))
