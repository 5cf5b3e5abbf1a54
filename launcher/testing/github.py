"""An in-memory GitHub for fast job tests: `FakeGitHub` implements `launcher.jobs.ports.GitHubPort`
over plain objects (commits, pull requests, reviews, comments, check runs, deployments), the way
policy-bot's `pulltest.Context` stands in for its `pull.Context`.

It keeps the semantics the jobs depend on, which `tests/jobs/test_github_contract.py` checks
against the adapter on the HTTP stand-in: only the bot's own comments, check runs and
deployments are launcher's (the author is recorded on each, as GitHub records the app);
deployments are listed newest first; a status equal to the latest is not written again; a
pull request's files and reviews are those of its head commit; a merge makes one commit on the
base branch, named by the pull request's `merge_commit_sha`.

What it does not model (the HTTP stand-in does): authentication, rate limits, pagination, size
limits, rulesets, pushes by others than a pull request's author, commit statuses; nor the
adapter's per-run cache (`GitHub.pull` answers a pull request as that run first read it: one
adapter per run; the fake always answers the current state, as a new run would).

Writes can be made to fail: a name in `failing` (`create_deployment`, `set_deployment_status`,
`comment`, ...) raises GitHubError without writing, as a 502 from GitHub would; `before_write`
sees every write first, so a test can stop a run between any two writes (a crash).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from launcher.adapters.github import (
    CHECK_TEXT_MAX,
    COMMENT_MAX,
    VERDICT_STATES,
    CheckRun,
    Comment,
    GitHubError,
    Settings,
    _fit,
)
from launcher.adapters.github_commits import CommitFacts
from launcher.adapters.github_verdicts import Verdict
from launcher.core.approvals import Review
from launcher.core.deployments import Deployment
from launcher.core.gate import ChangedFile
from launcher.core.permissions import MembershipUnknown
from launcher.core.problems import Problem
from launcher.core.provenance import History
from launcher.core.pulls import Pull
from launcher.jobs.ports import GitHubPort

BOT = "launcher[bot]"
REGULAR = "100644"


def blob_sha(content: bytes) -> str:
    """Git's object id of a blob (what a tree listing names)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass
class _Commit:
    sha: str
    files: dict[str, bytes]
    parent: str | None
    author: str


@dataclass
class _Pull:
    number: int
    author: str
    head_ref: str
    base_ref: str
    base_sha: str
    created_at: datetime
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    requested_users: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)


@dataclass
class _Comment:
    id: int
    number: int
    author: str
    body: str


@dataclass
class _CheckRun:
    id: int
    sha: str
    name: str
    app: str  # the login of the app that wrote it
    state: str
    title: str
    summary: str


@dataclass
class _Deployment:
    id: int
    task: str
    environment: str
    sha: str
    payload: dict[str, Any]
    creator: str
    created_at: datetime
    statuses: list[tuple[str, str, str]] = field(default_factory=list)  # (state, text, creator)


@dataclass
class FakeGitHub:
    """One repository in memory. `now` dates pull requests, reviews and deployments."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    repository: str = "acme/repo"
    bot: str = BOT
    teams: dict[str, frozenset[str]] = field(default_factory=dict)  # "@org/slug" -> logins
    failing: set[str] = field(default_factory=set)  # writes that raise GitHubError
    # called with each write's name before it is made: a test's crash (any exception) there
    # leaves everything written so far, and nothing after
    before_write: Callable[[str], None] | None = None
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, _Pull] = field(default_factory=dict)
    review_log: dict[int, list[Review]] = field(default_factory=dict)
    comments: list[_Comment] = field(default_factory=list)
    check_runs: list[_CheckRun] = field(default_factory=list)
    deployment_log: list[_Deployment] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # every write, in order
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _teams_read: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # app mode: launcher's writes are its app's, so nothing is marked as forgeable
        self.settings = Settings(
            self.repository, "", bot_login=self.bot, app_id="1", app_private_key="in memory"
        )
        if "main" not in self.branches:
            self.branches["main"] = self._commit({}, None, "admin")

    # --- building the repository (the test's side) -----------------------------------------

    def _commit(self, files: dict[str, bytes], parent: str | None, author: str) -> str:
        sha = hashlib.sha1(f"{next(self._ids)}".encode(), usedforsecurity=False).hexdigest()
        self.commits[sha] = _Commit(sha, dict(files), parent, author)
        return sha

    def push(self, branch: str, files: dict[str, str | None], author: str, base: str = "") -> str:
        """A commit on `branch` (created from `base` when new) changing `files` (None
        removes one)."""
        start = self.branches.get(branch) or self.branches[base or "main"]
        content = dict(self.commits[start].files)
        for path, text in files.items():
            if text is None:
                content.pop(path, None)
            else:
                content[path] = text.encode()
        self.branches[branch] = self._commit(content, start, author)
        if branch == "main" and any(not p.startswith("deployments/") for p in files):
            # a test's direct push of control files is its setup: the admin anchors on it
            # (LAUNCHER_TRUSTED_COMMIT), as the stand-in's World does
            self.settings.trusted_commit = self.branches[branch]
        return self.branches[branch]

    def open_pull(self, author: str, files: dict[str, str | None]) -> int:
        number = next(self._ids)
        branch = f"{author}/{number}"
        self.push(branch, files, author, base="main")
        self.pulls[number] = _Pull(
            number, author, branch, "main", self.branches["main"], self.now()
        )
        self.review_log[number] = []
        return number

    def review(self, login: str, number: int, state: str = "APPROVED", body: str = "") -> None:
        head = self.branches[self.pulls[number].head_ref]
        self.review_log[number].append(
            Review(next(self._ids), login, state, head, body, self.now())
        )

    def merge(self, number: int) -> str:
        """Merge as one commit on the base branch with the head's files (the base has not
        moved in these tests; a moved base keeps its other files)."""
        p = self.pulls[number]
        head = self.commits[self.branches[p.head_ref]]
        base_sha = self.branches[p.base_ref]
        merged = dict(self.commits[base_sha].files)
        start = self.commits[p.base_sha].files
        for path in set(start) | set(head.files):
            if start.get(path) != head.files.get(path):
                if path in head.files:
                    merged[path] = head.files[path]
                else:
                    merged.pop(path, None)
        sha = self._commit(merged, base_sha, p.author)
        self.branches[p.base_ref] = sha
        p.state, p.merged, p.merge_commit_sha = "closed", True, sha
        return sha

    def merged(self, author: str, files: dict[str, str | None], approver: str = "") -> int:
        """A pull request opened, approved by `approver` when given, and merged."""
        number = self.open_pull(author, files)
        if approver:
            self.review(approver, number)
        self.merge(number)
        return number

    def comment_as(self, login: str, number: int, body: str) -> int:
        """A comment by someone else (or the bot itself, racing)."""
        c = _Comment(next(self._ids), number, login, body)
        self.comments.append(c)
        return c.id

    def deploy_as(self, login: str, environment: str, payload: dict[str, Any], task: str) -> int:
        """A deployment by someone else: never launcher's record."""
        return self._create_deployment(login, "main", environment, payload, task)

    def own_comments(self, number: int) -> list[str]:
        return [c.body for c in self.comments if c.number == number and c.author == self.bot]

    # --- writes go through here, so a test can make them fail --------------------------------

    def _write(self, name: str) -> None:
        if self.before_write is not None:
            self.before_write(name)
        if name in self.failing:
            raise GitHubError(f"{name}: GitHub answered 502: injected")
        self.writes.append(name)

    # --- GitHubPort: pull requests ------------------------------------------------------------

    def _pull_of(self, p: _Pull, *, reviewers: bool = True) -> Pull:
        return Pull(
            number=p.number,
            author=p.author,
            head_sha=self.branches[p.head_ref],
            base_sha=p.base_sha,
            base_ref=p.base_ref,
            state=p.state,
            merged=p.merged,
            created_at=p.created_at,
            html_url=f"https://github.example/{self.repository}/pull/{p.number}",
            labels=tuple(p.labels),
            requested_users=tuple(p.requested_users) if reviewers else (),
            requested_teams=tuple(p.requested_teams) if reviewers else (),
            merge_commit_sha=p.merge_commit_sha,
            head_ref=p.head_ref,
            default_branch="main",
            head_repo=self.repository,
        )

    def _get(self, number: int) -> _Pull:
        if number not in self.pulls:
            raise GitHubError("reading the pull request: GitHub answered 404: Not Found")
        return self.pulls[number]

    def pull(self, number: int) -> Pull:
        return self._pull_of(self._get(number))

    def open_pulls(self, base: str) -> list[Pull]:
        return [
            self._pull_of(p)
            for p in sorted(self.pulls.values(), key=lambda p: -p.number)
            if p.state == "open" and p.base_ref == base
        ]

    def close_pull(self, number: int) -> bool:
        p = self._get(number)
        if p.state == "closed":
            return False
        self._write("close_pull")
        p.state = "closed"
        return True

    def changed_files(self, number: int) -> list[ChangedFile]:
        p = self._get(number)
        base = self.commits[p.base_sha].files
        head = self.commits[self.branches[p.head_ref]].files
        found = []
        for path in sorted(set(base) | set(head)):
            if path not in base:
                found.append(ChangedFile(path, "added"))
            elif path not in head:
                found.append(ChangedFile(path, "removed"))
            elif base[path] != head[path]:
                found.append(ChangedFile(path, "modified"))
        return found

    def reviews(self, number: int) -> list[Review]:
        self._get(number)
        return list(self.review_log[number])

    def history(self, info: Pull) -> History:
        return History()  # only the author pushed; no base change, nothing dismissed

    def commit_pulls(self, sha: str) -> list[Pull]:
        return [
            self._pull_of(p, reviewers=False)
            for p in self.pulls.values()
            if sha in (p.merge_commit_sha, self.branches[p.head_ref])
        ]

    def commit_facts(self, sha: str) -> CommitFacts:
        commit = self._at(sha)
        return CommitFacts(commit.sha, commit.parent, commit.author)

    def reached(self, sha: str, ref: str) -> bool:
        commit: _Commit | None = self._at(ref)
        while commit is not None:
            if commit.sha == sha:
                return True
            commit = self.commits[commit.parent] if commit.parent else None
        return False

    # --- GitHubPort: content ----------------------------------------------------------------

    def html_url(self) -> str:
        return f"https://github.example/{self.repository}"

    def default_branch(self) -> str:
        return "main"

    def default_head(self) -> tuple[str, str]:
        return "main", self.branches["main"]

    def _at(self, ref: str) -> _Commit:
        sha = self.branches.get(ref, ref)
        if sha not in self.commits:
            raise GitHubError(f"reading {ref}: GitHub answered 404: Not Found")
        return self.commits[sha]

    def tree(self, sha: str) -> dict[str, str]:
        return {path: blob_sha(text) for path, text in self._at(sha).files.items()}

    def modes(self, sha: str) -> dict[str, str]:
        return {p: REGULAR for p in self._at(sha).files if p.startswith("deployments/")}

    def blob(self, sha: str) -> bytes:
        for commit in self.commits.values():
            for text in commit.files.values():
                if blob_sha(text) == sha:
                    return text
        raise GitHubError(f"reading a blob: GitHub answered 404: {sha}")

    def read_file(self, path: str, ref: str) -> bytes | None:
        return self._at(ref).files.get(path)

    def last_commit(self, path: str, ref: str) -> str | None:
        commit: _Commit | None = self._at(ref)
        while commit is not None:
            parent = self.commits[commit.parent] if commit.parent else None
            before = parent.files.get(path) if parent else None
            if commit.files.get(path) != before:
                return commit.sha
            commit = parent
        return None

    def prefetch(self, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        """In memory every read is immediate: nothing to do ahead."""

    def team_members(self, team: str) -> frozenset[str]:
        key = team.casefold()
        if key not in {t.casefold() for t in self.teams}:
            raise MembershipUnknown([team], "GitHub answered 404: Not Found")
        members = next(m for t, m in self.teams.items() if t.casefold() == key)
        self._teams_read[key] = frozenset(m.casefold() for m in members)
        return self._teams_read[key]

    @property
    def teams_read(self) -> dict[str, frozenset[str]]:
        return dict(self._teams_read)

    # --- GitHubPort: comments, labels, reviews ----------------------------------------------

    def _mine(self, number: int, marker: str) -> list[_Comment]:
        return sorted(
            (
                c
                for c in self.comments
                if c.number == number
                and c.author.casefold() == self.bot.casefold()
                and marker in c.body
            ),
            key=lambda c: c.id,
        )

    def find_comment(self, number: int, marker: str) -> Comment | None:
        found = self._mine(number, marker)
        return Comment(found[0].id, found[0].author, found[0].body) if found else None

    def find_comments(self, number: int, marker: str) -> list[Comment]:
        return [Comment(c.id, c.author, c.body) for c in self._mine(number, marker)]

    def comment(self, number: int, body: str) -> None:
        self._get(number)
        self._write("comment")
        self.comments.append(_Comment(next(self._ids), number, self.bot, self.settings.mark(body)))

    def upsert_comment(self, number: int, marker: str, body: str, existing: Comment | None) -> bool:
        body = _fit(self.settings.mark(body), COMMENT_MAX)
        if existing is not None:
            if existing.body == body:
                return False
            self._write("edit_comment")
            for c in self.comments:
                if c.id == existing.id:
                    c.body = body
            return True
        self._write("comment")
        self.comments.append(_Comment(next(self._ids), number, self.bot, body))
        return True

    def delete_comment(self, number: int, comment_id: int) -> None:
        if not any(c.id == comment_id for c in self.comments):
            raise GitHubError("deleting a comment: GitHub answered 404: Not Found")
        self._write("delete_comment")
        self.comments = [c for c in self.comments if c.id != comment_id]

    def sync_labels(
        self,
        number: int,
        current: tuple[str, ...],
        is_managed: Callable[[str], bool],
        wanted: set[str],
    ) -> bool:
        p = self._get(number)
        changed = False
        for label in current:
            if is_managed(label) and label not in wanted:
                self._write("remove_label")
                if label in p.labels:  # another run may have removed it: gone, as wanted
                    p.labels.remove(label)
                changed = True
        missing = sorted(wanted - set(current))
        if missing:
            self._write("add_labels")
            p.labels += [label for label in missing if label not in p.labels]
            changed = True
        return changed

    def request_reviews(self, number: int, users: list[str], teams: list[str]) -> bool:
        if not users and not teams:
            return False
        p = self._get(number)
        self._write("request_reviews")
        p.requested_users += [u for u in users if u not in p.requested_users]
        p.requested_teams += [t for t in teams if t not in p.requested_teams]
        return True

    # --- GitHubPort: the verdict --------------------------------------------------------------

    def verdict(self, sha: str, name: str) -> CheckRun | None:
        mine = [
            r
            for r in self.check_runs
            if r.sha == sha and r.name == name and r.app.casefold() == self.bot.casefold()
        ]
        if not mine:
            return None
        run = max(mine, key=lambda r: r.id)
        state = run.state if run.state in VERDICT_STATES else "error"
        return CheckRun(run.id, state, run.title, run.summary)

    def set_verdict(
        self,
        sha: str,
        name: str,
        state: str,
        description: str,
        summary: str = "",
        details_url: str | None = None,
        current: CheckRun | None | bool = False,
        text: str = "",
        annotations: Sequence[Problem] = (),
    ) -> bool:
        title = self.settings.mark(description)
        summary = _fit(self.settings.mark(summary or description), CHECK_TEXT_MAX)
        if current is False:
            current = self.verdict(sha, name)
        if isinstance(current, CheckRun) and (current.state, current.title, current.summary) == (
            state,
            title,
            summary,
        ):
            return False
        self._write("set_verdict")
        run = _CheckRun(next(self._ids), sha, name, self.bot, state, title, summary)
        self.check_runs.append(run)
        return True

    def check_as(self, app: str, sha: str, name: str, state: str, title: str = "") -> None:
        """A check run another app wrote."""
        self.check_runs.append(_CheckRun(next(self._ids), sha, name, app, state, title, title))

    def foreign_checks(self, sha: str, name: str) -> tuple[Any, ...]:
        latest: dict[str, Verdict] = {}
        for run in sorted(self.check_runs, key=lambda r: -r.id):
            app = run.app.removesuffix("[bot]")
            if run.sha != sha or run.name != name or run.app.casefold() == self.bot.casefold():
                continue
            latest.setdefault(app.casefold(), Verdict("check run", app, run.state, run.title))
        return tuple(latest[k] for k in sorted(latest))

    def foreign_statuses(self, sha: str, context: str) -> tuple[Verdict, ...]:
        return ()  # commit statuses are not modelled

    # --- GitHubPort: deployments ----------------------------------------------------------

    def _create_deployment(
        self, creator: str, ref: str, environment: str, payload: dict[str, Any], task: str
    ) -> int:
        sha = self.branches.get(ref, ref)
        d = _Deployment(
            next(self._ids),
            task,
            environment,
            sha,
            json.loads(json.dumps(payload)),  # what GitHub stores is JSON
            creator,
            self.now(),
        )
        self.deployment_log.append(d)
        return d.id

    def _own(self, task: str | None) -> Iterator[Deployment]:
        for d in sorted(self.deployment_log, key=lambda d: -d.id):  # newest first
            if (task is None or d.task == task) and d.creator.casefold() == self.bot.casefold():
                yield Deployment(d.id, d.task, d.environment, d.sha, d.payload, d.created_at)

    def deployments(self, task: str) -> list[Deployment]:
        return list(self._own(task))

    def recent_deployments(self, task: str, since: datetime) -> list[Deployment]:
        return [d for d in self._own(task) if d.created_at is None or d.created_at >= since]

    def deployments_of(self, tasks: Collection[str]) -> dict[str, list[Deployment]]:
        found: dict[str, list[Deployment]] = {task: [] for task in tasks}
        for d in self._own(None):
            if d.task in found:
                found[d.task].append(d)
        return found

    def environment_deployments(self, task: str, environment: str) -> list[Deployment]:
        return [d for d in self._own(task) if d.environment == environment]

    def _deployment(self, deployment_id: int) -> _Deployment:
        for d in self.deployment_log:
            if d.id == deployment_id:
                return d
        raise GitHubError("reading a deployment: GitHub answered 404: Not Found")

    def deployment_status(self, deployment_id: int) -> tuple[str, str] | None:
        for state, text, creator in reversed(self._deployment(deployment_id).statuses):
            if creator.casefold() == self.bot.casefold():
                return state, text
        return None

    def create_deployment(
        self, ref: str, environment: str, payload: dict[str, Any], description: str, task: str
    ) -> int:
        self._write("create_deployment")
        return self._create_deployment(self.bot, ref, environment, payload, task)

    def set_deployment_status(
        self,
        deployment_id: int,
        state: str,
        description: str,
        *,
        log_url: str | None = None,
        environment_url: str | None = None,
        current: tuple[str, str] | None | bool = False,
    ) -> bool:
        description = description[:140]
        if current is False:
            current = self.deployment_status(deployment_id)
        if current == (state, description):
            return False
        d = self._deployment(deployment_id)
        self._write("set_deployment_status")
        d.statuses.append((state, description, self.bot))
        return True


def _conforms(fake: FakeGitHub) -> GitHubPort:
    return fake  # mypy holds the fake to the protocol the adapter implements
