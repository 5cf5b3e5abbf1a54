"""Gather the status overview through the adapters, with a bounded number of API calls.

GitHub, always: the repository and default branch (2 calls), main's tree (1), pools.yaml (1),
open pull requests (1 per 100), launcher's deployments under both tasks (1 per 100 each), and
the latest status of any scheduled deployment whose launch time has passed (rare). EC2: one
DescribeInstances per account and region the pools and records use. With `decide`, the gate's
decision for each waiting pull request (about 4 calls each: files, reviews, pools.yaml at its
base, each request file at its head), plus one call per team when approvers are teams.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from launcher.adapters.github import GitHubError
from launcher.core.anchor import standing_block
from launcher.core.deployments import LAUNCH_TASK, REQUEST_TASK, Deployment
from launcher.core.documents import load_policy
from launcher.core.fleet import FleetInstance, fleet_locations
from launcher.core.gate import POLICY_PATH, Decision
from launcher.core.model import Policy
from launcher.core.pulls import Pull
from launcher.core.status import Overview, build
from launcher.jobs.ports import GitHubPort

if TYPE_CHECKING:
    from launcher.adapters.ec2 import EC2


class StatusError(Exception):
    """The overview cannot be built (GitHub unreachable, pools.yaml unreadable)."""


@dataclass
class Gathered:
    overview: Overview
    policy: Policy
    repo_url: str
    repository: str
    errors: list[str] = field(default_factory=list)


def gather(
    gh: GitHubPort,
    ec2: EC2 | None,
    now: datetime,
    *,
    decide: Callable[[Pull], bool] | bool = False,
    ec2_note: str = "",
    records: bool = True,
) -> Gathered:
    """Read every view and build the overview. `decide` (True, or a predicate on the pull
    request) asks for the gate's decision on waiting pull requests; `ec2` None skips
    EC2 (`ec2_note` says why); `records` False skips the deployment lists (for `pending`)."""
    from launcher.jobs.gate import decide_pull

    try:
        branch, head = gh.default_head()
        repo_url = gh.html_url()
        files = gh.tree(head)
        blob = files.get(POLICY_PATH)
        policy = load_policy(gh.blob(blob))[0] if blob else None
        if policy is None:
            raise StatusError(f"{POLICY_PATH} on {branch} is missing or invalid")
        pulls = gh.open_pulls(branch)
        deployments = [
            d
            for task in ((LAUNCH_TASK, REQUEST_TASK) if records else ())
            for d in gh.deployments(task)
        ]
    except GitHubError as exc:
        raise StatusError(str(exc)) from exc

    notes = [ec2_note] if ec2_note else []
    blocked = standing_block(deployments)  # the launch job's trust-anchor block, if standing
    if blocked:
        notes.insert(0, f"{blocked}: nothing launches or terminates until an admin approves")
    fleet = _fleet(ec2, policy, deployments, notes) if ec2 is not None else None

    errors: list[str] = []
    decisions: dict[int, Decision] = {}
    wanted = decide if callable(decide) else (lambda _n: bool(decide))
    for pull in pulls:
        if not pull.waiting or not wanted(pull):
            continue
        try:
            decisions[pull.number] = decide_pull(gh, pull, gh.reviews(pull.number))
        except GitHubError as exc:
            errors.append(f"#{pull.number}: {exc}")
    overview = build(
        policy,
        now,
        pulls=pulls,
        decisions=decisions,
        deployments=deployments,
        fleet=fleet,
        files=files,
        notes=notes + errors,
    )
    return Gathered(overview, policy, repo_url, gh.settings.repository, errors)


def _fleet(
    ec2: EC2, policy: Policy, deployments: list[Deployment], notes: list[str]
) -> list[FleetInstance] | None:
    """launcher's instances: one DescribeInstances per location of the pools and records."""
    from launcher.adapters.ec2 import EC2Error

    try:
        return [i for i in ec2.fleet(fleet_locations(policy, deployments)) if i.key]
    except EC2Error as exc:
        notes.append(f"EC2 could not be read: {exc}")
        return None


def connect_ec2() -> tuple[EC2 | None, str]:
    """EC2 through the default credential chain, or None and why it is skipped."""
    from launcher.adapters.ec2 import EC2, aws_configured  # boto3 itself is imported lazily

    if not aws_configured():
        return None, "EC2 is not configured (no AWS credentials or AWS_ENDPOINT_URL): skipped"
    # LAUNCHER_AWS_READ_ROLES=true (report.yml, with the read-only role): provider accounts
    # through their read-only roles.
    read_roles = os.environ.get("LAUNCHER_AWS_READ_ROLES") == "true"
    return EC2(max_attempts=2, connect_timeout=3, read_timeout=20, read_roles=read_roles), ""
