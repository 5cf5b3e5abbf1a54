"""Validate a set of repository files: pools.yaml plus launch requests, and optionally what a
given author may do with each request.

Pure over bytes: `launcher validate` reads the files and calls `check_policy` once and
`check_request` per file (possibly in worker processes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from launcher.core.documents import load_policy, load_request
from launcher.core.model import LaunchRequest, Policy, Tier
from launcher.core.permissions import (
    StaticTeams,
    TeamResolver,
    display_principals,
    explain,
    tier_bounds,
)
from launcher.core.problems import Problem


@dataclass(frozen=True)
class Verdict:
    """What one author may do in one pool (the same for every request in that pool)."""

    author: str
    pool: str
    tier: Tier | None  # None: could not be told (team membership unknown)
    message: str
    approvers: tuple[str, ...] = ()
    approvals_required: int = 0

    @property
    def permitted(self) -> bool:
        return self.tier is not None and self.tier is not Tier.NONE


@dataclass
class FileReport:
    path: str
    problems: list[Problem] = field(default_factory=list)
    request: LaunchRequest | None = None
    verdict: Verdict | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


@dataclass
class Report:
    files: list[FileReport]
    policy: Policy | None
    match_note: str | None = None  # why the instance match was not tried, if it was not

    @property
    def ok(self) -> bool:
        return all(not f.errors and (f.verdict is None or f.verdict.permitted) for f in self.files)


def verdict_for(
    author: str, request: LaunchRequest, policy: Policy, teams: TeamResolver
) -> Verdict:
    """The author's tier on the request's pool.

    Offline, team membership may be unknown: a tier the author surely holds still counts (an
    unknown team could only raise it), but no known tier at all is "cannot tell", not a pass.
    """
    pool = policy.pools[request.pool]
    tier, unknown = tier_bounds(author, pool, policy, teams)
    if tier is Tier.NONE and unknown:
        return Verdict(
            author,
            pool.name,
            None,
            f"cannot tell what {author} may do on pool {pool.name}: membership of "
            f"{', '.join(unknown)} is not known here (pass --teams FILE, or let the gate check it)",
        )
    message = explain(author, pool, tier, policy)
    if unknown and tier is not Tier.MODIFY:
        message += f" (or more, if a member of {', '.join(unknown)}: not known here)"
    if tier is Tier.CREATE_WITH_APPROVAL:
        approvers = tuple(display_principals(pool.permissions.modify, policy))
        return Verdict(author, pool.name, tier, message, approvers, pool.approvals_required)
    return Verdict(author, pool.name, tier, message)


def check_policy(policy_raw: bytes | None, policy_path: str) -> tuple[Policy | None, FileReport]:
    """Load pools.yaml; a missing file is an error, since requests are judged against it."""
    if policy_raw is None:
        message = f"{policy_path} not found: requests are checked against it"
        return None, FileReport(policy_path, [Problem(policy_path, 1, 1, message)])
    policy, problems = load_policy(policy_raw, policy_path)
    return policy, FileReport(policy_path, problems)


def check_request(
    path: str,
    raw: bytes,
    policy: Policy | None,
    author: str | None = None,
    teams: TeamResolver | None = None,
    verdicts: dict[str, Verdict] | None = None,
) -> FileReport:
    """Check one request against the policy and, with an author, what they may do with it.

    `verdicts` memoises the author's verdict per pool across calls (it depends on nothing else).
    """
    request, problems = load_request(raw, path, policy)
    report = FileReport(path, problems, request)
    if author and request is not None and policy is not None:
        memo = {} if verdicts is None else verdicts
        if request.pool not in memo:
            memo[request.pool] = verdict_for(author, request, policy, teams or StaticTeams())
        report.verdict = memo[request.pool]
    return report
