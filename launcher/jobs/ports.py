"""What the jobs need from GitHub, as a protocol (the GitHub twin of `core/compute.py`).

The jobs (gate, launch, sweep, status, the closed-request records, comments) are written
against `GitHubPort`, never against PyGithub: `launcher.adapters.github.GitHub` implements it
over HTTP, and `launcher.testing.github.FakeGitHub` implements it in memory for fast job tests
(policy-bot's `pulltest` is the model). Every method may raise `GitHubError`; what each one
promises (the bot's own records only, newest first, compare-before-write) is what
`tests/jobs/test_github_contract.py` checks on both implementations, so the fake cannot drift
from the adapter unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from launcher.adapters.github import CheckRun, Comment, Settings
from launcher.adapters.github_commits import CommitFacts
from launcher.adapters.github_verdicts import Verdict
from launcher.core.approvals import Review
from launcher.core.deployments import Deployment
from launcher.core.gate import ChangedFile
from launcher.core.problems import Problem
from launcher.core.provenance import History
from launcher.core.pulls import Pull


class GitHubPort(Protocol):
    """One repository, as the jobs see it. `settings` says who launcher is (its bot login:
    only what that login wrote is launcher's) and how to mark what it publishes."""

    settings: Settings

    # --- pull requests ------------------------------------------------------------------

    def pull(self, number: int) -> Pull: ...

    def open_pulls(self, base: str) -> list[Pull]:
        """Open pull requests into `base`, labels and requested reviewers included."""
        ...

    def close_pull(self, number: int) -> bool:
        """Close it; False when it was closed already."""
        ...

    def changed_files(self, number: int) -> list[ChangedFile]: ...

    def reviews(self, number: int) -> list[Review]:
        """Every review, oldest first, with the commit each was given on."""
        ...

    def history(self, info: Pull) -> History:
        """GitHub's own record of who pushed onto the pull request and its issue events."""
        ...

    def commit_pulls(self, sha: str) -> list[Pull]:
        """Pull requests containing commit `sha`, merged ones included (`merged` set)."""
        ...

    def commit_facts(self, sha: str) -> CommitFacts:
        """A commit's first parent and who GitHub says authored it (the trust anchor)."""
        ...

    def reached(self, sha: str, ref: str) -> bool:
        """Whether commit `sha` is on `ref` (`ref` is it or descends from it)."""
        ...

    # --- repository content ---------------------------------------------------------------

    def html_url(self) -> str: ...

    def default_branch(self) -> str: ...

    def default_head(self) -> tuple[str, str]:
        """(branch, head commit) of the default branch."""
        ...

    def tree(self, sha: str) -> dict[str, str]:
        """Every file at `sha`: path -> git blob SHA."""
        ...

    def modes(self, sha: str) -> dict[str, str]:
        """Git mode of every entry under deployments/ at `sha`."""
        ...

    def blob(self, sha: str) -> bytes: ...

    def read_file(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at `ref`; None when it is not there."""
        ...

    def last_commit(self, path: str, ref: str) -> str | None:
        """The newest commit reachable from `ref` that changed `path`."""
        ...

    def team_members(self, team: str) -> frozenset[str]: ...

    def prefetch(self, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        """Make these reads (this port's own methods with their arguments) now, at once when
        the transport allows: the identical call that follows gets the result. Only an
        optimisation (a read that failed is made again by that call, and fails there)."""
        ...

    @property
    def teams_read(self) -> dict[str, frozenset[str]]: ...

    # --- comments, labels, reviews ----------------------------------------------------------

    def find_comment(self, number: int, marker: str) -> Comment | None:
        """The bot's own comment carrying `marker` (others' copies ignored)."""
        ...

    def find_comments(self, number: int, marker: str) -> list[Comment]:
        """Every comment of the bot's carrying `marker`, oldest first."""
        ...

    def comment(self, number: int, body: str) -> None: ...

    def upsert_comment(
        self, number: int, marker: str, body: str, existing: Comment | None
    ) -> bool: ...

    def delete_comment(self, number: int, comment_id: int) -> None: ...

    def sync_labels(
        self,
        number: int,
        current: tuple[str, ...],
        is_managed: Callable[[str], bool],
        wanted: set[str],
    ) -> bool: ...

    def request_reviews(self, number: int, users: list[str], teams: list[str]) -> bool: ...

    # --- the verdict -------------------------------------------------------------------------

    def verdict(self, sha: str, name: str) -> CheckRun | None:
        """launcher's own latest check run `name` on `sha`."""
        ...

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
    ) -> bool: ...

    def foreign_checks(self, sha: str, name: str) -> tuple[Any, ...]: ...

    def foreign_statuses(self, sha: str, context: str) -> tuple[Verdict, ...]: ...

    # --- deployments: launcher's records -------------------------------------------------

    def deployments(self, task: str) -> list[Deployment]:
        """The bot's deployments for `task`, newest first (anyone else's ignored)."""
        ...

    def recent_deployments(self, task: str, since: datetime) -> list[Deployment]:
        """The bot's deployments for `task` created at or after `since`, newest first."""
        ...

    def deployments_of(self, tasks: Collection[str]) -> dict[str, list[Deployment]]:
        """The bot's deployments of each of `tasks`, newest first, from one listing."""
        ...

    def environment_deployments(self, task: str, environment: str) -> list[Deployment]:
        """The bot's deployments for `task` in one environment (one request), newest first."""
        ...

    def deployment_status(self, deployment_id: int) -> tuple[str, str] | None:
        """The bot's latest (state, description) on a deployment."""
        ...

    def create_deployment(
        self, ref: str, environment: str, payload: dict[str, Any], description: str, task: str
    ) -> int: ...

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
        """Post a status unless the latest one already says the same."""
        ...
