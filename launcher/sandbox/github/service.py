"""The stand-in's behaviour: GitHub's semantics for refs, pull requests, reviews and the rest.

HTTP handlers and the Python seeding API both call these methods, so a push made from
Python and one made through the REST API produce the same commits and the same events.
Every method that changes state announces it as the webhook event GitHub would send.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from launcher.sandbox.github import environments, limits, merge_queue
from launcher.sandbox.github import reviews as pending
from launcher.sandbox.github.activity import ActivityLog, PushCheck, RefUpdate
from launcher.sandbox.github.apps import Apps
from launcher.sandbox.github.environments import Environments
from launcher.sandbox.github.events import EventLog
from launcher.sandbox.github.gitrepo import ZERO_SHA, FileChange, GitRepo, Person
from launcher.sandbox.github.http import ApiError, Router, not_found, validation
from launcher.sandbox.github.merge_queue import MergeQueues
from launcher.sandbox.github.observe import Faults, RateLimits, RequestLog
from launcher.sandbox.github.oidc import Oidc
from launcher.sandbox.github.rules import Rules
from launcher.sandbox.github.shapes import Shapes
from launcher.sandbox.github.state import (
    PERMISSION_ALIASES,
    CheckRun,
    Comment,
    Deployment,
    DeploymentStatus,
    Issue,
    Label,
    Org,
    Pull,
    Repo,
    Review,
    State,
    Status,
    Team,
    User,
    now,
)
from launcher.sandbox.github.timeline import IssueRecord, Timeline

NO_ACCESS = "Resource not accessible by personal access token"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def forbidden(message: str = NO_ACCESS) -> ApiError:
    return ApiError(403, message)


class InFlight:
    """Counts the requests in their modelled round trip at once (`latency`): a test's view of
    how many a client had in flight together."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1

    def reset(self) -> None:
        with self._lock:
            self.most = self.now


class GitHub:
    """State + behaviour of one sandboxed GitHub instance."""

    def __init__(self, root: Path, base_url: str = "http://127.0.0.1") -> None:
        self.root = root
        self.state = State()
        self.apps = Apps(self.state)
        self.state.apps = self.apps
        self.rules = Rules(self)
        self.shapes = Shapes(self.state, base_url)
        self.router = Router()
        self.faults = Faults()
        self.request_log = RequestLog()
        self.rate_limits = RateLimits()
        self.events = EventLog()
        # GitHub's own records of who did what (activity log, issue events, timeline).
        self.activity = ActivityLog()
        self.timeline = Timeline()
        # Called with every branch movement before it happens; raise ApiError to refuse.
        self.push_checks: list[PushCheck] = [self._protected_push]
        self.errors: list[BaseException] = []
        self.record_responses = False
        # Seconds every API request takes before it is handled (a model of the round trip to
        # api.github.com from elsewhere; requests still overlap, as on GitHub): 0 on loopback.
        self.latency = 0.0
        self.concurrency = InFlight()  # requests in their round trip at once, at most
        self.responses: list[tuple[str | None, int, Any, str | None]] = []
        self._pr_diff_cache: dict[tuple[str, str, str], tuple[list[FileChange], int]] = {}
        # GitHub Actions' settings (sandbox/github/environments.py, oidc.py)
        self.actions_environments = Environments()
        # Owners on GitHub Free: their private repositories get no rulesets or protection.
        self.free_plan_owners: set[str] = set()
        self.actions_oidc = Oidc()
        self.merge_queues = MergeQueues()  # sandbox/github/merge_queue.py
        self.events.listeners.append(lambda event: merge_queue.on_event(self, event))
        self.events.listeners.append(lambda event: environments.on_event(self, event))

    @property
    def base_url(self) -> str:
        return self.shapes.base

    @base_url.setter
    def base_url(self, value: str) -> None:
        self.shapes.base = value.rstrip("/")

    def record_response(
        self, operation: str | None, status: int, body: Any, fault: str | None
    ) -> None:
        if self.record_responses:
            self.responses.append((operation, status, body, fault))

    def close(self) -> None:
        for repo in self.state.repos.values():
            repo.git.close()

    # -- accounts -----------------------------------------------------------------
    def add_user(
        self,
        login: str,
        token: str | None = None,
        name: str | None = None,
        email: str | None = None,
        bot: bool = False,
    ) -> str:
        with self.state.lock:
            if login.lower() in self.state.users:
                raise ValueError(f"account {login} exists")
            token = token or f"ghp_{login.replace('[', '').replace(']', '')}_{self.state.new_id()}"
            user = User(
                self.state.new_id(),
                login,
                token,
                name=name or login,
                email=email,
                type="Bot" if bot else "User",
            )
            self.state.users[login.lower()] = user
            self.state.tokens[token] = login.lower()
            if bot:
                self.apps.legacy_bot(login, token)
            return token

    def add_org(self, login: str, members: Iterable[str] = (), admins: Iterable[str] = ()) -> Org:
        with self.state.lock:
            if login.lower() in self.state.users:
                raise ValueError(f"account {login} exists")
            user = User(self.state.new_id(), login, "", name=login, type="Organization")
            self.state.users[login.lower()] = user
            org = Org(user)
            for m in members:
                org.members[self._login(m).lower()] = "member"
            for a in admins:
                org.members[self._login(a).lower()] = "admin"
            self.state.orgs[login.lower()] = org
            return org

    def add_team(
        self,
        org: str,
        slug: str,
        members: Iterable[str] = (),
        maintainers: Iterable[str] = (),
        name: str | None = None,
        repos: Mapping[str, str] | None = None,
    ) -> Team:
        with self.state.lock:
            o = self.state.orgs.get(org.lower())
            if o is None:
                raise ValueError(f"no organization {org}")
            team = Team(self.state.new_id(), o.user.login, slug, name or slug)
            for m in members:
                team.members[self._login(m).lower()] = "member"
                o.members.setdefault(m.lower(), "member")
            for m in maintainers:
                team.members[self._login(m).lower()] = "maintainer"
                o.members.setdefault(m.lower(), "member")
            for full_name, perm in (repos or {}).items():
                team.repos[full_name.lower()] = PERMISSION_ALIASES[perm]
            o.teams[slug.lower()] = team
            return team

    def _who(self, login: str) -> str:
        """The account's login as spelled at creation; an unknown name is kept as given
        (records then render it as GitHub's ``ghost``, a deleted account)."""
        user = self.state.user(login)
        return user.login if user else login

    def _login(self, login: str) -> str:
        user = self.state.user(login)
        if user is None:
            raise ValueError(f"no user {login}")
        return user.login

    # -- repositories ------------------------------------------------------------
    def create_repo(
        self,
        owner: str,
        name: str,
        files: Mapping[str, bytes | str] | None = None,
        collaborators: Mapping[str, str] | Iterable[str] = (),
        teams: Mapping[str, str] | None = None,
        private: bool = False,
        default_branch: str = "main",
        description: str | None = None,
        message: str = "Initial commit",
    ) -> Repo:
        with self.state.lock:
            owner_acc = self.state.user(owner)
            if owner_acc is None:
                raise ValueError(f"no account {owner}")
            if self.state.repo(owner, name):
                raise ValueError(f"repository {owner}/{name} exists")
            rid = self.state.new_id()
            git = GitRepo.init(
                self.root / "repos" / owner_acc.login / f"{name}.git", default_branch
            )
            repo = Repo(
                rid,
                owner_acc.login,
                name,
                git,
                private=private,
                description=description,
                default_branch=default_branch,
            )
            if isinstance(collaborators, Mapping):
                items = list(collaborators.items())
            else:
                items = [(c, "write") for c in collaborators]
            for login, perm in items:
                repo.collaborators[self._login(login).lower()] = PERMISSION_ALIASES[perm]
            self.state.repos[repo.full_name.lower()] = repo
            for slug, perm in (teams or {}).items():
                team = self.state.orgs[owner.lower()].teams[slug.lower()]
                team.repos[repo.full_name.lower()] = PERMISSION_ALIASES[perm]
            author_login = owner if owner_acc.type == "User" else None
            person = (
                self._person(author_login)
                if author_login
                else Person("GitHub", "noreply@github.com", int(now()))
            )
            blobs = {p: (c.encode() if isinstance(c, str) else c) for p, c in (files or {}).items()}
            if not blobs:
                blobs = {"README.md": f"# {name}\n".encode()}
            sha = git.commit_files(default_branch, blobs, message, person, None)
            repo.branches[default_branch] = sha
            return repo

    def get_repo(self, owner: str, name: str, user: str | None) -> Repo:
        repo = self.state.repo(owner, name)
        if repo is None or not self.state.can_read(repo, user):
            raise not_found()
        return repo

    def require(self, repo: Repo, user: str | None, needed: str, message: str = NO_ACCESS) -> str:
        if user is None:
            raise ApiError(401, "Requires authentication")
        if not self.state.can(repo, user, needed):
            raise forbidden(message)
        return user

    def _person(self, login: str | None, ts: int | None = None) -> Person:
        ts = ts or int(now())
        user = self.state.user(login) if login else None
        if user is None:
            return Person("GitHub", "noreply@github.com", ts)
        return Person(user.name or user.login, user.commit_email, ts)

    def resolve(self, repo: Repo, ref: str) -> str | None:
        """A commit SHA for a branch name, ``refs/heads/x``, ``heads/x`` or (short) SHA."""
        for name in (ref, ref.removeprefix("refs/heads/"), ref.removeprefix("heads/")):
            if name in repo.branches:
                return repo.branches[name]
        if ref.startswith("refs/pull/") or ref.startswith("pull/"):
            return repo.git.ref(ref if ref.startswith("refs/") else f"refs/{ref}")
        if all(c in "0123456789abcdef" for c in ref.lower()) and 4 <= len(ref) <= 40:
            return repo.git.resolve(ref)
        return None

    # -- pushes -----------------------------------------------------------------------
    def push_files(
        self,
        repo: Repo,
        branch: str,
        files: Mapping[str, bytes | str | None],
        message: str,
        author: str,
        base: str | None = None,
    ) -> str:
        """Commit ``files`` (None deletes) on ``branch`` as ``author`` and announce the push.

        A missing branch is created from ``base`` (default: the default branch).
        """
        with self.state.lock:
            parent = repo.branches.get(branch)
            if parent is None:
                parent = self.resolve(repo, base or repo.default_branch)
            blobs = {p: (c.encode() if isinstance(c, str) else c) for p, c in files.items()}
            scratch = "refs/sandbox/staging"
            sha = repo.git.commit_files(
                branch, blobs, message, self._person(author), parent, ref=scratch
            )
            repo.git.delete_ref(scratch)
            self.update_branch(repo, branch, sha, author)
            return sha

    def set_branch(
        self, repo: Repo, branch: str, sha: str | None, actor: str, force: bool = False
    ) -> None:
        """Point ``branch`` at ``sha`` (None deletes it) like a ``git push``."""
        self.update_branch(repo, branch, sha, actor, force)

    def update_branch(
        self,
        repo: Repo,
        branch: str,
        after: str | None,
        actor: str,
        force: bool = False,
        merge: str | None = None,
    ) -> RefUpdate:
        """Move ``branch`` to ``after`` (None deletes it): the one place branches move.

        Pushes (``push_files``, the contents API), the refs API and merges all come here,
        so every movement passes ``push_checks`` (which may refuse it) and is recorded in
        the activity log with its actor before the webhooks go out.
        """
        with self.state.lock:
            before = repo.branches.get(branch)
            forced = False
            if before and after and before != after:
                commit = repo.git.commit(after)
                # A commit on top of the tip (every push_files) needs no ancestry walk.
                if commit is None or before not in commit.parents:
                    forced = not repo.git.is_ancestor(before, after)
            if forced and not force:
                raise validation("Update is not a fast forward")
            update = RefUpdate(repo, branch, before, after, self._who(actor), forced, merge)
            for check in self.push_checks:
                check(update)
            if after is None:
                repo.git.delete_ref(update.ref)
            else:
                repo.git.update_ref(update.ref, after)
            self.activity.record(update, self.state.new_id(), now())
            self._moved(repo, branch, before, after, actor, forced)
            return update

    def _protected_push(self, update: RefUpdate) -> None:
        """Branch protection and rulesets judge pushes; merges are judged by check_merge."""
        if update.merge is None:
            self.rules.check_push(
                update.repo, update.ref, update.actor, update.before, update.after
            )

    def record(
        self,
        repo: Repo,
        issue: Issue,
        event: str,
        actor: str,
        commit_id: str | None = None,
        subject: str | int | None = None,
        **fields: Any,
    ) -> IssueRecord:
        """Add an issue event / timeline entry (see ``timeline.py`` for which API shows it)."""
        rec = IssueRecord(
            self.state.new_id(),
            repo.id,
            issue.number,
            event,
            self._who(actor),
            now(),
            commit_id,
            subject,
            fields,
        )
        return self.timeline.add(rec)

    def _moved(
        self,
        repo: Repo,
        branch: str,
        before: str | None,
        after: str | None,
        actor: str,
        forced: bool,
    ) -> None:
        if after is None:
            repo.branches.pop(branch, None)
        else:
            repo.branches[branch] = after
        repo.pushed_at = repo.updated_at = now()
        self._emit_push(repo, branch, before, after, actor, forced)
        if after is None:
            # GitHub closes pull requests whose base branch is deleted; they stay readable
            # at the commits they had (head deletion is handled below, with its records).
            for issue in repo.pulls():
                pr = issue.pull
                assert pr is not None
                if issue.state == "open" and pr.base_ref == branch and pr.head_ref != branch:
                    pr.base_sha_final = before
                    self._close(repo, issue, actor)
                    self.record(repo, issue, "closed", actor)
                    self._emit_pr(repo, issue, "closed", actor)
        for issue in repo.pulls():
            pr = issue.pull
            assert pr is not None
            if pr.head_ref != branch:
                continue
            if after is None:
                self._head_deleted(repo, issue, before, actor)
            elif issue.state == "open":
                repo.git.update_ref(f"refs/pull/{issue.number}/head", after)
                issue.updated_at = now()
                if forced:
                    self.record(repo, issue, "head_ref_force_pushed", actor)
                self._record_commits(repo, issue, actor)
                self._emit_pr(
                    repo, issue, "synchronize", actor, before=before or ZERO_SHA, after=after
                )
            elif before is None and pr.head_sha_final == after:
                last = self.timeline.last_event(
                    repo, issue.number, {"head_ref_deleted", "head_ref_restored"}
                )
                if last is not None and last.event == "head_ref_deleted":
                    self.record(repo, issue, "head_ref_restored", actor)
        self.rules.on_moved(repo, branch, actor, after)

    def _head_deleted(self, repo: Repo, issue: Issue, before: str | None, actor: str) -> None:
        """GitHub records ``head_ref_deleted``; an open pull request is closed with it."""
        pr = issue.pull
        assert pr is not None
        if issue.state == "open":
            self.record(repo, issue, "head_ref_deleted", actor)
            self._close(repo, issue, actor)
            pr.head_sha_final = before
            self.record(repo, issue, "closed", actor)
            self._emit_pr(repo, issue, "closed", actor)
        elif pr.head_sha_final == before:
            self.record(repo, issue, "head_ref_deleted", actor)

    def _record_commits(self, repo: Repo, issue: Issue, actor: str) -> None:
        """``committed`` timeline entries for the pull request's commits not yet listed."""
        seen = self.timeline.committed(repo, issue.number)
        for sha in repo.git.rev_list(repo.base_sha(issue), repo.head_sha(issue), limit=250):
            if sha not in seen:
                self.record(repo, issue, "committed", actor, subject=sha)

    # -- pull requests ---------------------------------------------------------------
    def open_pull(
        self,
        repo: Repo,
        actor: str,
        title: str,
        head: str,
        base: str,
        body: str | None = None,
        draft: bool = False,
        maintainer_can_modify: bool = False,
    ) -> Issue:
        with self.state.lock:
            if ":" in head:
                owner, _, head = head.partition(":")
                if owner.lower() != repo.owner.lower():
                    raise validation(resource="PullRequest", field="head", code="invalid")
            if not title:
                raise validation(resource="PullRequest", field="title", code="missing_field")
            limits.check_body(body, "PullRequest")
            if head not in repo.branches:
                raise validation(resource="PullRequest", field="head", code="invalid")
            if base not in repo.branches:
                raise validation(resource="PullRequest", field="base", code="invalid")
            for other in repo.pulls():
                assert other.pull is not None
                if (
                    other.state == "open"
                    and other.pull.head_ref == head
                    and other.pull.base_ref == base
                ):
                    raise validation(
                        resource="PullRequest",
                        code="custom",
                        message=f"A pull request already exists for {repo.owner}:{head}.",
                    )
            if repo.git.is_ancestor(repo.branches[head], repo.branches[base]):
                raise validation(
                    resource="PullRequest",
                    code="custom",
                    message=f"No commits between {base} and {head}",
                )
            number = repo.next_number()
            pull = Pull(
                number,
                self.state.new_id(),
                head,
                base,
                draft=draft,
                maintainer_can_modify=maintainer_can_modify,
            )
            issue = Issue(number, self.state.new_id(), title, body, actor, pull=pull)
            repo.issues[number] = issue
            repo.git.update_ref(f"refs/pull/{number}/head", repo.branches[head])
            self._record_commits(repo, issue, actor)
            self._emit_pr(repo, issue, "opened", actor)
            self.rules.request_code_owners(repo, issue, actor)
            return issue

    def get_pull(self, repo: Repo, number: int) -> Issue:
        issue = repo.issues.get(number)
        if issue is None or issue.pull is None:
            raise not_found()
        return issue

    def pull_diff(self, repo: Repo, issue: Issue) -> tuple[list[FileChange], int]:
        """Files changed by the PR (merge base to head) and its commit count, cached."""
        base, head = repo.base_sha(issue), repo.head_sha(issue)
        if issue.pull and issue.pull.merged and issue.pull.merge_commit_sha:
            # After merging, base.sha is the old base tip; diff against it stays the same.
            pass
        key = (repo.full_name, base, head)
        hit = self._pr_diff_cache.get(key)
        if hit is None:
            mb = repo.git.merge_base(base, head) or base
            hit = (repo.git.diff(mb, head), len(repo.git.rev_list(mb, head)))
            self._pr_diff_cache[key] = hit
        return hit

    def mergeable(self, repo: Repo, issue: Issue) -> bool | None:
        if issue.state != "open":
            return None
        return repo.git.merge_tree(repo.base_sha(issue), repo.head_sha(issue)) is not None

    def pull_json(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        files, commits = self.pull_diff(repo, issue)
        out = self.shapes.pull(repo, issue)
        out.update(
            self.shapes.pull_full_extra(repo, issue, self.mergeable(repo, issue), commits, files)
        )
        out["mergeable_state"] = self.rules.mergeable_state(repo, issue, out["mergeable_state"])
        return out

    def update_pull(self, repo: Repo, issue: Issue, actor: str, fields: Mapping[str, Any]) -> None:
        with self.state.lock:
            pr = issue.pull
            assert pr is not None
            if actor.lower() != issue.user.lower():
                self.require(repo, actor, "triage")
            # Refuse before changing anything, so a refused edit leaves no record behind.
            if "base" in fields and fields["base"] not in repo.branches:
                raise validation(resource="PullRequest", field="base", code="invalid")
            if fields.get("state") not in (None, "open", "closed"):
                raise validation(resource="PullRequest", field="state", code="invalid")
            limits.check_body(fields.get("body"), "PullRequest")
            changes = self._edit_text(repo, issue, actor, fields)
            if "base" in fields and fields["base"] != pr.base_ref:
                changes["base"] = {
                    "ref": {"from": pr.base_ref},
                    "sha": {"from": repo.base_sha(issue)},
                }
                pr.base_ref = fields["base"]
                self.record(repo, issue, "base_ref_changed", actor)
            if "maintainer_can_modify" in fields:
                pr.maintainer_can_modify = bool(fields["maintainer_can_modify"])
            state = fields.get("state")
            issue.updated_at = now()
            if changes:
                self._emit_pr(repo, issue, "edited", actor, changes=changes)
            if "base" in changes:
                self.rules.dismiss_stale(repo, issue, actor)
            if state == "closed" and issue.state == "open":
                self._close(repo, issue, actor)
                self.record(repo, issue, "closed", actor)
                self._emit_pr(repo, issue, "closed", actor)
            elif state == "open" and issue.state == "closed":
                if pr.merged:
                    raise validation(
                        resource="PullRequest",
                        code="custom",
                        message="Cannot reopen a merged pull request",
                    )
                if pr.head_ref not in repo.branches:
                    raise validation(
                        resource="PullRequest",
                        code="custom",
                        message="Cannot reopen: head branch was deleted",
                    )
                issue.state, issue.closed_at, issue.closed_by = "open", None, None
                pr.head_sha_final = pr.base_sha_final = None
                self.record(repo, issue, "reopened", actor)
                self._emit_pr(repo, issue, "reopened", actor)

    def _close(self, repo: Repo, issue: Issue, actor: str) -> None:
        pr = issue.pull
        assert pr is not None
        pr.head_sha_final = repo.head_sha(issue)
        pr.base_sha_final = repo.base_sha(issue)
        issue.state = "closed"
        issue.closed_at = issue.updated_at = now()
        issue.closed_by = actor

    def merge_pull(
        self,
        repo: Repo,
        issue: Issue,
        actor: str,
        sha: str | None = None,
        method: str = "merge",
        title: str | None = None,
        message: str | None = None,
    ) -> str:
        with self.state.lock:
            self.require(repo, actor, "write")
            pr = issue.pull
            assert pr is not None
            if pr.merged or issue.state != "open":
                raise ApiError(405, "Pull Request is not mergeable")
            if method not in ("merge", "squash", "rebase"):
                raise validation(resource="PullRequest", field="merge_method", code="invalid")
            if method == "rebase":
                raise ApiError(405, "Rebase merges are not allowed on this repository.")
            head, base = repo.head_sha(issue), repo.base_sha(issue)
            if sha and sha != head:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            if pr.draft:
                raise ApiError(405, "Pull Request is still a draft")
            tree = repo.git.merge_tree(base, head)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            self.rules.check_merge(repo, issue, actor, method)
            author = self._person(actor)
            if method == "merge":
                subject = (
                    title or f"Merge pull request #{issue.number} from {repo.owner}/{pr.head_ref}"
                )
                text = f"{subject}\n\n{message if message is not None else issue.title}\n"
                parents = [base, head]
            else:
                subject = title or f"{issue.title} (#{issue.number})"
                text = f"{subject}\n\n{message}\n" if message else f"{subject}\n"
                parents = [base]
            merge_sha = repo.git.commit_tree(tree, parents, text, author)
            self.update_branch(repo, pr.base_ref, merge_sha, actor, merge="pr")
            pr.merged, pr.merged_at, pr.merged_by = True, now(), actor
            pr.merge_commit_sha = merge_sha
            self._close(repo, issue, actor)
            pr.head_sha_final, pr.base_sha_final = head, base
            self.record(repo, issue, "merged", actor, commit_id=merge_sha)
            self.record(repo, issue, "closed", actor, commit_id=merge_sha)
            self._emit_pr(repo, issue, "closed", actor)
            return merge_sha

    # -- reviews ------------------------------------------------------------------------
    def submit_review(
        self,
        repo: Repo,
        issue: Issue,
        actor: str,
        event: str | None,
        body: str | None,
        commit_id: str | None = None,
    ) -> Review:
        with self.state.lock:
            # Anyone who can read the repository may review (on a public one, anyone);
            # only reviews from people with write access count towards rules.
            if not self.state.can_read(repo, actor):
                raise not_found()
            state = {
                "APPROVE": "APPROVED",
                "REQUEST_CHANGES": "CHANGES_REQUESTED",
                "COMMENT": "COMMENTED",
                None: "PENDING",
                "": "PENDING",
            }.get(event)
            if state is None:
                raise ApiError(
                    422, "Unprocessable Entity", [f"Event {event} is not a valid review event"]
                )
            own = actor.lower() == issue.user.lower()
            if own and state == "APPROVED":
                raise ApiError(
                    422, "Unprocessable Entity", ["Can not approve your own pull request"]
                )
            if own and state == "CHANGES_REQUESTED":
                raise ApiError(
                    422,
                    "Unprocessable Entity",
                    ["Can not request changes on your own pull request"],
                )
            if state in ("CHANGES_REQUESTED", "COMMENTED") and not (body or "").strip():
                raise ApiError(
                    422, "Unprocessable Entity", [f"Body is required for {event} reviews"]
                )
            limits.check_body(body, "PullRequestReview")
            if commit_id is not None and repo.git.commit(commit_id) is None:
                raise ApiError(422, "Unprocessable Entity", ["Commit not found"])
            if state == "PENDING":
                pending.check_one_pending(repo, issue, actor)
            review = Review(
                self.state.new_id(),
                issue.number,
                self._login(actor),
                state,
                body or "",
                commit_id or repo.head_sha(issue),
                now(),
            )
            repo.reviews.setdefault(issue.number, []).append(review)
            self.rules.on_review(repo, issue, review)
            pr = issue.pull
            assert pr is not None
            if state != "PENDING":
                pr.requested_users = [u for u in pr.requested_users if u.lower() != actor.lower()]
                self.record(repo, issue, "reviewed", actor, subject=review.id)
                self._emit_review(repo, issue, review, "submitted", actor)
            return review

    def get_review(self, repo: Repo, issue: Issue, review_id: int) -> Review:
        for review in repo.reviews.get(issue.number, []):
            if review.id == review_id:
                return review
        raise not_found()

    def dismiss_review(
        self, repo: Repo, issue: Issue, review: Review, actor: str, message: str | None
    ) -> Review:
        with self.state.lock:
            self.require(repo, actor, "write")
            if not message:
                raise validation(
                    resource="PullRequestReview", field="message", code="missing_field"
                )
            if review.state == "PENDING":
                raise ApiError(
                    422, "Unprocessable Entity", ["Can not dismiss a pending pull request review"]
                )
            if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
                raise ApiError(
                    422, "Unprocessable Entity", ["Can not dismiss a commented pull request review"]
                )
            dismissed = {
                "state": review.state.lower(),
                "review_id": review.id,
                "dismissal_message": message,
                "dismissal_commit_id": repo.head_sha(issue),
            }
            review.state = "DISMISSED"
            self.record(repo, issue, "review_dismissed", actor, dismissed_review=dismissed)
            self._emit_review(repo, issue, review, "dismissed", actor)
            return review

    def request_reviewers(
        self,
        repo: Repo,
        issue: Issue,
        actor: str,
        users: list[str],
        teams: list[str],
        remove: bool = False,
    ) -> None:
        with self.state.lock:
            self.require(repo, actor, "triage")
            pr = issue.pull
            assert pr is not None
            org = self.state.orgs.get(repo.owner.lower())
            logins = []
            for u in users:
                user = self.state.user(u)
                if not remove:
                    if user is None or self.state.permission(repo, u) is None:
                        raise validation(
                            "Reviews may only be requested from collaborators. One or more of "
                            "the users or teams you specified is not a collaborator of the "
                            f"{repo.full_name} repository."
                        )
                    if u.lower() == issue.user.lower():
                        raise validation("Review cannot be requested from pull request author.")
                if user is not None:
                    logins.append(user.login)
            slugs = []
            for t in teams:
                if (
                    org is None
                    or t.lower() not in org.teams
                    or repo.full_name.lower() not in org.teams[t.lower()].repos
                ):
                    if remove:
                        continue
                    raise validation(
                        "Reviews may only be requested from collaborators. One or more of the "
                        "users or teams you specified is not a collaborator of the "
                        f"{repo.full_name} repository."
                    )
                slugs.append(t.lower())
            for login in logins:
                present = any(x.lower() == login.lower() for x in pr.requested_users)
                if remove and present:
                    pr.requested_users = [
                        x for x in pr.requested_users if x.lower() != login.lower()
                    ]
                    self.record(
                        repo,
                        issue,
                        "review_request_removed",
                        actor,
                        review_requester=self._who(actor),
                        requested_reviewer=login,
                    )
                    self._emit_pr(
                        repo,
                        issue,
                        "review_request_removed",
                        actor,
                        requested_reviewer=self.shapes.simple_user(login),
                    )
                elif not remove and not present:
                    pr.requested_users.append(login)
                    self.record(
                        repo,
                        issue,
                        "review_requested",
                        actor,
                        review_requester=self._who(actor),
                        requested_reviewer=login,
                    )
                    self._emit_pr(
                        repo,
                        issue,
                        "review_requested",
                        actor,
                        requested_reviewer=self.shapes.simple_user(login),
                    )
            for slug in slugs:
                assert org is not None
                team_json = self.shapes.team(org.teams[slug])
                who = self._who(actor)
                if remove and slug in pr.requested_teams:
                    pr.requested_teams.remove(slug)
                    self.record(
                        repo,
                        issue,
                        "review_request_removed",
                        actor,
                        review_requester=who,
                        requested_team=slug,
                    )
                    self._emit_pr(
                        repo, issue, "review_request_removed", actor, requested_team=team_json
                    )
                elif not remove and slug not in pr.requested_teams:
                    pr.requested_teams.append(slug)
                    self.record(
                        repo,
                        issue,
                        "review_requested",
                        actor,
                        review_requester=who,
                        requested_team=slug,
                    )
                    self._emit_pr(repo, issue, "review_requested", actor, requested_team=team_json)

    # -- comments and labels ----------------------------------------------------------
    def create_issue(
        self,
        repo: Repo,
        actor: str,
        title: str,
        body: str | None,
        labels: Iterable[str] = (),
    ) -> Issue:
        """Open an issue; anyone who can read the repository may (labels need triage)."""
        with self.state.lock:
            if not self.state.can_read(repo, actor):
                raise not_found()
            if not isinstance(title, str) or not title.strip():
                raise validation(resource="Issue", field="title", code="missing_field")
            limits.check_body(body, "Issue")
            issue = Issue(repo.next_number(), self.state.new_id(), title, body, self._login(actor))
            repo.issues[issue.number] = issue
            if self.state.can(repo, actor, "triage"):
                for name in labels:
                    issue.labels.append(self.ensure_label(repo, name).name)
            self._emit("issues", repo, actor, action="opened", issue=self.shapes.issue(repo, issue))
            return issue

    def update_issue(self, repo: Repo, issue: Issue, actor: str, fields: Mapping[str, Any]) -> None:
        """``PATCH /issues/{n}``: title, body, state (a pull request's go through
        `update_pull`), labels (dropped silently without triage, as GitHub does)."""
        with self.state.lock:
            if not self.state.can_read(repo, actor):
                raise not_found()
            if actor.lower() != issue.user.lower():
                self.require(repo, actor, "triage")
            state, reason = fields.get("state"), fields.get("state_reason")
            if state not in (None, "open", "closed"):
                raise validation(resource="Issue", field="state", code="invalid")
            if reason not in (None, "completed", "not_planned", "reopened"):
                raise validation(resource="Issue", field="state_reason", code="invalid")
            if "title" in fields and (
                not isinstance(fields["title"], str) or not fields["title"].strip()
            ):
                raise validation(resource="Issue", field="title", code="missing_field")
            limits.check_body(fields.get("body"), "Issue")
            if issue.pull is not None:
                keep = {k: fields[k] for k in ("title", "body", "state") if k in fields}
                self.update_pull(repo, issue, actor, keep)
            else:
                self._update_plain_issue(repo, issue, actor, fields)
            labels = fields.get("labels")
            if isinstance(labels, list) and self.state.can(repo, actor, "triage"):
                names = [str(x.get("name", "")) if isinstance(x, dict) else x for x in labels]
                self.set_labels(repo, issue, actor, names, [], replace=True)

    def _edit_text(
        self, repo: Repo, issue: Issue, actor: str, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Apply a new title/body (issues and pull requests alike): the webhook's ``changes``,
        and a ``renamed`` record for a new title."""
        changes: dict[str, Any] = {}
        if "title" in fields and fields["title"] != issue.title:
            changes["title"] = {"from": issue.title}
            rename = {"from": issue.title, "to": fields["title"]}
            issue.title = fields["title"]
            self.record(repo, issue, "renamed", actor, rename=rename)
        if "body" in fields and fields["body"] != issue.body:
            changes["body"] = {"from": issue.body or ""}
            issue.body = fields["body"]
        return changes

    def _update_plain_issue(
        self, repo: Repo, issue: Issue, actor: str, fields: Mapping[str, Any]
    ) -> None:
        changes = self._edit_text(repo, issue, actor, fields)
        issue.updated_at = now()
        if changes:
            self._emit(
                "issues", repo, actor, action="edited", changes=changes,
                issue=self.shapes.issue(repo, issue),
            )  # fmt: skip
        state = fields.get("state")
        if state == "closed" and issue.state == "open":
            issue.state, issue.closed_at, issue.closed_by = "closed", now(), actor
            issue.state_reason = fields.get("state_reason") or "completed"
            self.record(repo, issue, "closed", actor, state_reason=issue.state_reason)
            self._emit("issues", repo, actor, action="closed", issue=self.shapes.issue(repo, issue))
        elif state == "open" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "open", None, None
            issue.state_reason = "reopened"
            self.record(repo, issue, "reopened", actor)
            self._emit(
                "issues", repo, actor, action="reopened", issue=self.shapes.issue(repo, issue)
            )

    def get_issue(self, repo: Repo, number: int) -> Issue:
        issue = repo.issues.get(number)
        if issue is None:
            raise not_found()
        return issue

    def add_comment(self, repo: Repo, issue: Issue, actor: str, body: str) -> Comment:
        with self.state.lock:
            if not body:
                raise validation(resource="IssueComment", field="body", code="missing_field")
            limits.check_body(body, "IssueComment")
            ts = now()
            comment = Comment(self.state.new_id(), issue.number, self._login(actor), body, ts, ts)
            repo.comments[comment.id] = comment
            self.record(repo, issue, "commented", actor, subject=comment.id)
            issue.comments += 1
            issue.updated_at = ts
            self._emit_comment(repo, comment, "created", actor)
            return comment

    def get_comment(self, repo: Repo, comment_id: int) -> Comment:
        comment = repo.comments.get(comment_id)
        if comment is None:
            raise not_found()
        return comment

    def edit_comment(self, repo: Repo, comment: Comment, actor: str, body: str) -> None:
        with self.state.lock:
            if actor.lower() != comment.user.lower():
                # GitHub's role table: editing/deleting anyone's comments needs Write.
                self.require(repo, actor, "write")
            if not body:
                raise validation(resource="IssueComment", field="body", code="missing_field")
            limits.check_body(body, "IssueComment")
            old = comment.body
            comment.body, comment.updated_at = body, now()
            self._emit_comment(repo, comment, "edited", actor, changes={"body": {"from": old}})

    def delete_comment(self, repo: Repo, comment: Comment, actor: str) -> None:
        with self.state.lock:
            if actor.lower() != comment.user.lower():
                # GitHub's role table: editing/deleting anyone's comments needs Write.
                self.require(repo, actor, "write")
            self._emit_comment(repo, comment, "deleted", actor)
            self.timeline.drop(repo, "commented", comment.id)
            del repo.comments[comment.id]
            repo.issues[comment.issue_number].comments -= 1

    def ensure_label(
        self, repo: Repo, name: str, color: str = "ededed", description: str | None = None
    ) -> Label:
        label = repo.labels.get(name.lower())
        if label is None:
            label = Label(self.state.new_id(), name, color, description)
            repo.labels[name.lower()] = label
        return label

    def set_labels(
        self,
        repo: Repo,
        issue: Issue,
        actor: str,
        add: list[str],
        remove: list[str],
        replace: bool = False,
    ) -> None:
        with self.state.lock:
            self.require(repo, actor, "triage")
            current = {n.lower(): n for n in issue.labels}
            if replace:
                remove = [n for n in issue.labels if n.lower() not in {a.lower() for a in add}]
            for name in remove:
                if name.lower() in current:
                    del current[name.lower()]
                    label = repo.labels[name.lower()]
                    issue.labels = [n for n in issue.labels if n.lower() != name.lower()]
                    self.record(
                        repo,
                        issue,
                        "unlabeled",
                        actor,
                        label={"name": label.name, "color": label.color},
                    )
                    self._emit_labeled(repo, issue, actor, "unlabeled", label)
            for name in add:
                if not isinstance(name, str) or not name:
                    raise validation(resource="Label", field="name", code="invalid")
                if name.lower() in current:
                    continue
                label = self.ensure_label(repo, name, description="")
                current[name.lower()] = label.name
                issue.labels.append(label.name)
                self.record(
                    repo, issue, "labeled", actor, label={"name": label.name, "color": label.color}
                )
                self._emit_labeled(repo, issue, actor, "labeled", label)
            issue.updated_at = now()

    def _emit_labeled(
        self, repo: Repo, issue: Issue, actor: str, action: str, label: Label
    ) -> None:
        """A pull request's label change is a ``pull_request`` event, an issue's ``issues``."""
        payload = self._label_payload(repo, label)
        if issue.pull is not None:
            self._emit_pr(repo, issue, action, actor, label=payload)
        else:
            issue_json = self.shapes.issue(repo, issue)
            self._emit("issues", repo, actor, action=action, issue=issue_json, label=payload)

    # -- statuses, checks, deployments ------------------------------------------------
    def create_status(
        self,
        repo: Repo,
        actor: str,
        sha: str,
        state: str,
        context: str,
        description: str | None,
        target_url: str | None,
    ) -> Status:
        with self.state.lock:
            self.require(repo, actor, "write")
            if repo.git.commit(sha) is None:
                raise validation(f"No commit found for SHA: {sha}")
            if state not in ("error", "failure", "pending", "success"):
                raise validation(
                    resource="Status",
                    field="state",
                    code="custom",
                    message="state is not included in the list",
                )
            limits.check_description(description, "Status")
            limits.check_statuses_count(
                sum(
                    1 for s in repo.statuses if s.sha == sha and s.context == (context or "default")
                )
            )
            ts = now()
            status = Status(
                self.state.new_id(),
                sha,
                state,
                context or "default",
                description,
                target_url,
                self._login(actor),
                ts,
                ts,
            )
            repo.statuses.append(status)
            self._emit_status(repo, status, actor)
            return status

    def statuses_for(self, repo: Repo, sha: str) -> list[Status]:
        """All statuses for a commit, newest first (GitHub's order)."""
        return [s for s in reversed(repo.statuses) if s.sha == sha]

    def combined_state(self, latest: list[Status]) -> str:
        states = {s.state for s in latest}
        if not latest:
            return "pending"
        if states & {"error", "failure"}:
            return "failure"
        if "pending" in states:
            return "pending"
        return "success"

    def latest_statuses(self, repo: Repo, sha: str) -> list[Status]:
        seen: dict[str, Status] = {}
        for s in self.statuses_for(repo, sha):
            seen.setdefault(s.context, s)
        return list(seen.values())

    def create_check_run(self, repo: Repo, actor: str, body: Mapping[str, Any]) -> CheckRun:
        with self.state.lock:
            self._require_app(repo, actor)
            name, head_sha = body.get("name"), body.get("head_sha")
            if not name:
                raise validation(resource="CheckRun", field="name", code="missing_field")
            if not head_sha or repo.git.commit(head_sha) is None:
                raise validation(resource="CheckRun", field="head_sha", code="invalid")
            limits.check_run_output(body, creating=True)
            run = CheckRun(
                self.state.new_id(),
                head_sha,
                name,
                "queued",
                None,
                now(),
                None,
                str(body.get("external_id") or ""),
                body.get("details_url"),
                {},
                actor,
            )
            self._apply_check(run, body)
            repo.check_runs[run.id] = run
            self._emit(
                "check_run",
                repo,
                actor,
                action="created",
                check_run=self.shapes.check_run(repo, run),
            )
            return run

    def update_check_run(
        self, repo: Repo, actor: str, run: CheckRun, body: Mapping[str, Any]
    ) -> None:
        with self.state.lock:
            self._require_app(repo, actor)
            app = self.apps.of_login(actor)
            if app is not self.apps.of_login(run.creator):
                raise forbidden(
                    f"Invalid app_id `{app.id if app else 0}` - check run can only be "
                    "modified by the GitHub App that created it."
                )
            limits.check_run_output(body)
            was = run.status
            self._apply_check(run, body)
            if run.status == "completed" and was != "completed":
                self._emit(
                    "check_run",
                    repo,
                    actor,
                    action="completed",
                    check_run=self.shapes.check_run(repo, run),
                )

    def _require_app(self, repo: Repo, actor: str) -> None:
        user = self.state.user(actor)
        if user is None or user.type != "Bot":
            raise forbidden("You must authenticate via a GitHub App.")
        self.require(repo, actor, "write")

    @staticmethod
    def _apply_check(run: CheckRun, body: Mapping[str, Any]) -> None:
        for key in ("name", "details_url"):
            if key in body:
                setattr(run, key, body[key])
        if "external_id" in body:
            run.external_id = str(body["external_id"] or "")
        if "output" in body and isinstance(body["output"], dict):
            # GitHub: "each time you update the check run, annotations are appended to the
            # list of annotations that already exist" (50 per request, see limits).
            kept = list((run.output or {}).get("annotations") or [])
            output = dict(body["output"])
            output["annotations"] = kept + list(output.get("annotations") or [])
            run.output = output
        status = body.get("status")
        conclusion = body.get("conclusion")
        valid_status = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
        if status is not None and status not in valid_status:
            raise validation(resource="CheckRun", field="status", code="invalid")
        valid_conclusions = (
            "action_required",
            "cancelled",
            "failure",
            "neutral",
            "success",
            "skipped",
            "stale",
            "timed_out",
        )
        if conclusion is not None and conclusion not in valid_conclusions:
            raise validation(resource="CheckRun", field="conclusion", code="invalid")
        if conclusion is not None:
            run.conclusion, run.status = conclusion, "completed"
        elif status is not None:
            if status == "completed" and run.conclusion is None:
                raise validation(resource="CheckRun", field="conclusion", code="missing_field")
            run.status = status
        if run.status == "completed" and run.completed_at is None:
            run.completed_at = now()

    def create_deployment(self, repo: Repo, actor: str, body: Mapping[str, Any]) -> Deployment:
        with self.state.lock:
            self.require(repo, actor, "write")
            ref = body.get("ref")
            if not ref:
                raise validation(resource="Deployment", field="ref", code="missing_field")
            sha = self.resolve(repo, ref)
            if sha is None:
                raise validation(f"No ref found for: {ref}")
            required = body.get("required_contexts")
            latest = self.latest_statuses(repo, sha)
            contexts = [s.context for s in latest] if required is None else list(required)
            failing = [
                c
                for c in contexts
                if not any(s.context == c and s.state == "success" for s in latest)
            ]
            if failing:
                raise ApiError(
                    409,
                    f"Conflict: Commit status checks failed for {ref}.",
                    [
                        {
                            "contexts": [
                                {
                                    "context": c,
                                    "state": next(
                                        (s.state for s in latest if s.context == c), "missing"
                                    ),
                                }
                                for c in failing
                            ],
                            "resource": "Deployment",
                            "field": "required_contexts",
                            "code": "invalid",
                        }
                    ],
                )
            env = body.get("environment") or "production"
            payload = body.get("payload", {})
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload) if payload else {}
                except ValueError:
                    pass
            dep = Deployment(
                self.state.new_id(),
                sha,
                ref,
                body.get("task") or "deploy",
                payload,
                env,
                env,
                body.get("description"),
                self._login(actor),
                now(),
                bool(body.get("transient_environment", False)),
                bool(body.get("production_environment", env == "production")),
            )
            repo.deployments[dep.id] = dep
            self._emit(
                "deployment",
                repo,
                actor,
                action="created",
                deployment=self._deployment_payload(repo, dep),
                workflow=None,
                workflow_run=None,
            )
            return dep

    def create_deployment_status(
        self, repo: Repo, actor: str, dep: Deployment, body: Mapping[str, Any]
    ) -> DeploymentStatus:
        with self.state.lock:
            self.require(repo, actor, "write")
            state = body.get("state")
            valid = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
            if state not in valid:
                raise validation(resource="DeploymentStatus", field="state", code="invalid")
            limits.check_description(body.get("description"), "DeploymentStatus")
            status = DeploymentStatus(
                self.state.new_id(),
                dep.id,
                state,
                body.get("description") or "",
                body.get("environment") or dep.environment,
                body.get("target_url") or body.get("log_url") or "",
                body.get("log_url") or body.get("target_url") or "",
                body.get("environment_url") or "",
                self._login(actor),
                now(),
            )
            dep.statuses.append(status)
            self._emit(
                "deployment_status",
                repo,
                actor,
                action="created",
                deployment_status=self._deployment_status_payload(repo, status),
                deployment=self._deployment_payload(repo, dep),
            )
            if state == "success" and body.get("auto_inactive", True):
                for other in repo.deployments.values():
                    if (
                        other.id != dep.id
                        and other.environment == dep.environment
                        and other.statuses
                        and other.statuses[-1].state == "success"
                    ):
                        other.statuses.append(
                            DeploymentStatus(
                                self.state.new_id(),
                                other.id,
                                "inactive",
                                "",
                                other.environment,
                                "",
                                "",
                                "",
                                self._login(actor),
                                now(),
                            )
                        )
            return status

    # -- webhook payloads ------------------------------------------------------------
    def _emit(self, event: str, repo: Repo, actor: str, **fields: Any) -> None:
        payload: dict[str, Any] = dict(fields)
        payload["repository"] = self._repo_payload(repo)
        org = self.state.orgs.get(repo.owner.lower())
        if org is not None:
            payload["organization"] = self.shapes.org_simple(org)
        payload["sender"] = self.shapes.simple_user(actor)
        self.events.emit(event, payload)

    def _repo_payload(self, repo: Repo) -> dict[str, Any]:
        out = self.shapes.repo(repo, full=True)
        out.pop("organization", None)
        return out

    def _label_payload(self, repo: Repo, label: Label) -> dict[str, Any]:
        return self.shapes.label(repo, label)

    def _emit_pr(self, repo: Repo, issue: Issue, action: str, actor: str, **extra: Any) -> None:
        pr = self.pull_json(repo, issue)
        self._emit(
            "pull_request",
            repo,
            actor,
            action=action,
            number=issue.number,
            pull_request=pr,
            **extra,
        )

    def _emit_review(
        self, repo: Repo, issue: Issue, review: Review, action: str, actor: str, **extra: Any
    ) -> None:
        pr = self.shapes.pull(repo, issue)
        rv = self.shapes.review(repo, review)
        rv["submitted_at"] = rv.get("submitted_at")
        rv["state"] = rv["state"].lower()
        self._emit(
            "pull_request_review", repo, actor, action=action, review=rv, pull_request=pr, **extra
        )

    def _emit_comment(
        self, repo: Repo, comment: Comment, action: str, actor: str, **extra: Any
    ) -> None:
        issue = repo.issues[comment.issue_number]
        self._emit(
            "issue_comment",
            repo,
            actor,
            action=action,
            issue=self.shapes.issue(repo, issue),
            comment=self.shapes.comment(repo, comment),
            **extra,
        )

    def _emit_status(self, repo: Repo, status: Status, actor: str) -> None:
        c = repo.git.commit(status.sha)
        assert c is not None
        commit = self.shapes.commit(repo, c)
        self._emit(
            "status",
            repo,
            actor,
            id=status.id,
            sha=status.sha,
            name=repo.full_name,
            target_url=status.target_url,
            context=status.context,
            description=status.description,
            state=status.state,
            commit=commit,
            branches=[
                {
                    "name": b,
                    "commit": {
                        "sha": s,
                        "url": f"{self.base_url}/repos/{repo.full_name}/commits/{s}",
                    },
                    "protected": bool(self.rules.sources(repo, b)),
                }
                for b, s in sorted(repo.branches.items())
                if s == status.sha
            ],
            created_at=self.shapes.status(repo, status)["created_at"],
            updated_at=self.shapes.status(repo, status)["updated_at"],
        )

    def _deployment_payload(self, repo: Repo, dep: Deployment) -> dict[str, Any]:
        return self.shapes.deployment(repo, dep)

    def _deployment_status_payload(self, repo: Repo, s: DeploymentStatus) -> dict[str, Any]:
        return self.shapes.deployment_status(repo, s)

    def _emit_push(
        self,
        repo: Repo,
        branch: str,
        before: str | None,
        after: str | None,
        actor: str,
        forced: bool,
    ) -> None:
        api = f"{self.base_url}/{repo.full_name}"
        commits = []
        if after is not None:
            for sha in repo.git.rev_list(before, after, limit=20):
                commits.append(self._push_commit(repo, sha))
        user = self.state.user(actor)
        before_s, after_s = before or ZERO_SHA, after or ZERO_SHA
        self._emit(
            "push",
            repo,
            actor,
            ref=f"refs/heads/{branch}",
            before=before_s,
            after=after_s,
            created=before is None,
            deleted=after is None,
            forced=forced,
            base_ref=None,
            compare=f"{api}/compare/{before_s[:12]}...{after_s[:12]}",
            commits=commits,
            head_commit=self._push_commit(repo, after) if after else None,
            pusher={
                "name": user.login if user else actor,
                "email": user.commit_email if user else None,
            },
        )

    def _push_commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        c = repo.git.commit(sha)
        assert c is not None
        parent = c.parents[0] if c.parents else EMPTY_TREE
        changes = repo.git.diff(parent, sha)

        def who(p: Person) -> dict[str, Any]:
            out: dict[str, Any] = {
                "name": p.name,
                "email": p.email,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(p.timestamp)),
            }
            acc = self.shapes._account_for(p)
            if acc is not None:
                out["username"] = acc["login"]
            return out

        return {
            "id": sha,
            "tree_id": c.tree,
            "distinct": True,
            "message": c.message.rstrip("\n"),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.committer.timestamp)),
            "url": f"{self.base_url}/{repo.full_name}/commit/{sha}",
            "author": who(c.author),
            "committer": who(c.committer),
            "added": [f.filename for f in changes if f.status in ("added", "renamed")],
            "removed": [f.filename for f in changes if f.status == "removed"]
            + [
                f.previous_filename
                for f in changes
                if f.status == "renamed" and f.previous_filename
            ],
            "modified": [f.filename for f in changes if f.status == "modified"],
        }
