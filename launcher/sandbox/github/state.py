"""In-memory model of the GitHub objects the stand-in serves.

Git content (commits, trees, refs) lives in the bare repository; everything GitHub
keeps beside git (pull requests, reviews, labels, statuses, deployments...) lives
here. All mutation happens under ``State.lock`` so handlers may run in threads.
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from launcher.sandbox import clock
from launcher.sandbox.github.fairlock import FairRLock
from launcher.sandbox.github.gitrepo import GitRepo

PERMISSIONS = ("read", "triage", "write", "maintain", "admin")
# Team/collaborator permission names as the API accepts them.
PERMISSION_ALIASES = {
    "pull": "read",
    "push": "write",
    "read": "read",
    "triage": "triage",
    "write": "write",
    "maintain": "maintain",
    "admin": "admin",
}


def now() -> float:
    """The sandbox clock (launcher.sandbox.clock): every record is stamped from it."""
    return clock.now()


@functools.lru_cache(maxsize=65536)
def iso(ts: float) -> str:
    """GitHub's timestamp format: ``2011-01-26T19:01:12Z`` (remembered: a payload formats
    the same few records' times again and again)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class User:
    id: int
    login: str
    token: str
    name: str | None = None
    email: str | None = None
    type: str = "User"  # "User" | "Organization" | "Bot"
    created_at: float = field(default_factory=now)

    @property
    def commit_email(self) -> str:
        return self.email or f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass
class Team:
    id: int
    org: str
    slug: str
    name: str
    members: dict[str, str] = field(default_factory=dict)  # login -> "member" | "maintainer"
    repos: dict[str, str] = field(default_factory=dict)  # "owner/name" -> permission
    description: str | None = None
    created_at: float = field(default_factory=now)


@dataclass
class Org:
    user: User  # organizations are accounts too (type "Organization")
    members: dict[str, str] = field(default_factory=dict)  # login -> "member" | "admin"
    teams: dict[str, Team] = field(default_factory=dict)


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Review:
    id: int
    pull_number: int
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    body: str
    commit_id: str
    submitted_at: float


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: float
    updated_at: float


@dataclass
class Issue:
    """An issue or the issue half of a pull request (they share numbers)."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    closed_at: float | None = None
    closed_by: str | None = None
    comments: int = 0
    pull: Pull | None = None
    state_reason: str | None = None  # issues only: completed / not_planned / reopened


@dataclass
class Pull:
    number: int
    id: int
    head_ref: str
    base_ref: str
    draft: bool = False
    merged: bool = False
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    # Frozen when the PR is closed/merged (GitHub stops following the branches).
    head_sha_final: str | None = None
    base_sha_final: str | None = None
    requested_users: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    maintainer_can_modify: bool = False


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: float
    updated_at: float


@dataclass
class CheckRun:
    id: int
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: float | None
    completed_at: float | None
    external_id: str
    details_url: str | None
    output: dict[str, Any]
    creator: str


@dataclass
class DeploymentStatus:
    id: int
    deployment_id: int
    state: str
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    creator: str
    created_at: float


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    task: str
    payload: Any
    environment: str
    original_environment: str
    description: str | None
    creator: str
    created_at: float
    transient_environment: bool
    production_environment: bool
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    git: GitRepo
    private: bool = False
    description: str | None = None
    default_branch: str = "main"
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> permission
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha (mirror of refs)
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # lower(name) -> Label
    reviews: dict[int, list[Review]] = field(default_factory=dict)  # pull number -> reviews
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    deployments: dict[int, Deployment] = field(default_factory=dict)
    created_at: float = field(default_factory=now)
    pushed_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1

    def pulls(self) -> list[Issue]:
        return [i for i in self.issues.values() if i.pull is not None]

    def open_pulls_at(self, sha: str) -> list[tuple[Issue, Pull]]:
        """Open pull requests whose head is `sha` (one pass: a check run's shape lists them,
        and every check run written in a burst asks)."""
        return [
            (i, pr)
            for i in self.issues.values()
            if (pr := i.pull) is not None and i.state == "open" and self.head_sha(i) == sha
        ]

    def head_sha(self, issue: Issue) -> str:
        pr = issue.pull
        assert pr is not None
        if pr.head_sha_final:
            return pr.head_sha_final
        return self.branches.get(pr.head_ref) or ""

    def base_sha(self, issue: Issue) -> str:
        pr = issue.pull
        assert pr is not None
        if pr.base_sha_final:
            return pr.base_sha_final
        return self.branches.get(pr.base_ref) or ""


@dataclass
class State:
    """The whole sandboxed GitHub: accounts, organizations and repositories."""

    users: dict[str, User] = field(default_factory=dict)  # lower(login) -> User (orgs too)
    orgs: dict[str, Org] = field(default_factory=dict)  # lower(login) -> Org
    repos: dict[str, Repo] = field(default_factory=dict)  # lower("owner/name") -> Repo
    tokens: dict[str, str] = field(default_factory=dict)  # token -> lower(login)
    lock: FairRLock = field(default_factory=FairRLock)  # handed over in arrival order
    apps: Any = None  # apps.Apps: decides what an app's bot account may do
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def new_id(self) -> int:
        return next(self._ids)

    def user(self, login: str) -> User | None:
        return self.users.get(login.lower())

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def permission(self, repo: Repo, login: str | None) -> str | None:
        """Effective permission of ``login`` on ``repo`` (None: no access beyond public read)."""
        if login is None:
            return None
        key = login.lower()
        best: list[str] = []
        if repo.owner.lower() == key:
            return "admin"
        user = self.users.get(key)
        if user is not None and user.type == "Bot":
            # An app's bot: write where the app is installed (see apps.Apps).
            return self.apps.bot_permission(repo, key) if self.apps else "write"
        if key in repo.collaborators:
            best.append(repo.collaborators[key])
        org = self.orgs.get(repo.owner.lower())
        if org is not None:
            if org.members.get(key) == "admin":
                return "admin"
            for team in org.teams.values():
                if key in team.members and repo.full_name.lower() in team.repos:
                    best.append(team.repos[repo.full_name.lower()])
        if not best:
            return None
        return max(best, key=PERMISSIONS.index)

    def can(self, repo: Repo, login: str | None, needed: str) -> bool:
        perm = self.permission(repo, login)
        return perm is not None and PERMISSIONS.index(perm) >= PERMISSIONS.index(needed)

    def can_read(self, repo: Repo, login: str | None) -> bool:
        return not repo.private or self.permission(repo, login) is not None
