"""The only module that talks to GitHub (through PyGithub).

It turns API objects into the core's plain data and applies the core's decisions: statuses,
the sticky comment, labels and review requests, each written only when it differs from what is
already there, so that re-running a job changes nothing. Every call may raise GitHubError; the
jobs turn that into "could not decide", never into a pass.
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from launcher.adapters import github_transport
from launcher.core import limits
from launcher.core.approvals import Review
from launcher.core.deployments import Deployment
from launcher.core.gate import ChangedFile
from launcher.core.permissions import MembershipUnknown
from launcher.core.problems import Problem
from launcher.core.pulls import Pull
from launcher.core.times import parse_instant
from launcher.core.yamlsafe import MAX_BYTES

if TYPE_CHECKING:
    from launcher.adapters.github_commits import CommitFacts
    from launcher.adapters.github_verdicts import Verdict
    from launcher.core.provenance import History

DEFAULT_API = "https://api.github.com"
TRIAL_PREFIX = "trial mode (forgeable by any writer): "
TRIAL_ACK_VARIABLE = "LAUNCHER_TRIAL_ACKNOWLEDGED"
VERDICT_STATES = ("success", "pending", "failure", "error")
CHECK_TEXT_MAX = 65535  # characters of a check run's summary
COMMENT_MAX = 65536  # characters of a comment body
CUT_NOTE = "\n\n… (cut: too long for GitHub; the job's log has everything)\n"


def _fit(text: str, limit: int) -> str:
    """`text` cut to GitHub's limit (its start, where launcher keeps its notes, survives)."""
    return text if len(text) <= limit else text[: limit - len(CUT_NOTE)] + CUT_NOTE


MAX_LISTED_FILES = 3000  # GitHub lists at most this many files of a pull request
_P = ParamSpec("_P")
_R = TypeVar("_R")


COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


class ContentCache:
    """Files read at a commit sha, kept up to a total size (oldest out first). A commit's
    content never changes, so a kept file is what GitHub would answer again."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        # Off unless a long-running process turns it on (launcher serve): a job reads each
        # file once anyway, and its request budget is what it reads in a fresh process.
        self.enabled = False
        self._files: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, str]) -> bytes | None:
        if not self.enabled:
            return None
        with self._lock:
            found = self._files.get(key)
            if found is not None:
                self._files.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, str, str], content: bytes) -> None:
        if not self.enabled or len(content) > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._files:
                return
            self._files[key] = content
            self._size += len(content)
            while self._size > self.max_bytes:
                _, dropped = self._files.popitem(last=False)
                self._size -= len(dropped)


AT_COMMIT = ContentCache(16 * 1024 * 1024)


class GitHubError(Exception):
    """A GitHub call failed (after retries): the job cannot rely on what it read. `refused`:
    GitHub answered that the token may not (401, 403 other than a rate limit) or that there
    is nothing there for it (404), which asking again does not change."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str


@dataclass(frozen=True)
class CheckRun:
    """launcher's own latest check run of one name on a commit, as the API returned it."""

    id: int
    state: str  # the verdict it carries: success, pending, failure or error
    title: str
    summary: str


@dataclass
class Settings:
    """How to reach GitHub and where the Actions run reports, from the environment Actions
    provides: the one place launcher reads GITHUB_*, LAUNCHER_GITHUB_* and LAUNCHER_APP_*
    variables.

    App mode (LAUNCHER_APP_ID and LAUNCHER_APP_PRIVATE_KEY set): launcher signs a JWT with the
    app's key and mints an installation token for this repository, valid one hour, for this
    job only; everything it writes is written as the app, which nobody else can impersonate.
    Trial mode (only GITHUB_TOKEN): writes are the github-actions app's, which any workflow of
    any writer can also use, so every verdict and comment says so (`TRIAL_PREFIX`).
    """

    repository: str
    token: str
    api_url: str = DEFAULT_API
    bot_login: str = "github-actions[bot]"
    timeout: int = 30
    throttle: bool = True
    retries: int = 3
    backoff: float = 0.5
    max_rate_limit_wait: float = 60  # seconds PyGithub may wait out a rate limit
    step_summary: str | None = None  # the job summary file (GITHUB_STEP_SUMMARY)
    run_url: str | None = None  # the workflow run, linked from deployment statuses
    event_path: str | None = None  # the event that started the job (GITHUB_EVENT_PATH)
    app_id: str = ""
    app_private_key: str = ""
    trial_acknowledged: bool = False  # the repository variable LAUNCHER_TRIAL_ACKNOWLEDGED
    # App mode with an installation token already minted (launcher serve reuses one per
    # installation until it nears expiry, with bot_login set): no JWT, no minting.
    installation_token: str = ""
    trusted_commit: str = ""  # the repository variable LAUNCHER_TRUSTED_COMMIT (core/anchor)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, access: bool = True) -> Settings:
        """The settings of this run. With `access` False (a command that only reports to the
        runner), GITHUB_REPOSITORY and GITHUB_TOKEN may be missing."""
        env = os.environ if env is None else env
        server, repo, run_id = (
            env.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
        )
        settings = cls(
            repository=env.get("GITHUB_REPOSITORY", ""),
            token=env.get("GITHUB_TOKEN", ""),
            app_id=env.get("LAUNCHER_APP_ID", "").strip(),
            app_private_key=env.get("LAUNCHER_APP_PRIVATE_KEY", "").strip(),
            trial_acknowledged=env.get(TRIAL_ACK_VARIABLE, "").strip().lower() == "true",
            trusted_commit=env.get("LAUNCHER_TRUSTED_COMMIT", "").strip(),
            api_url=env.get("GITHUB_API_URL") or DEFAULT_API,
            bot_login=env.get("LAUNCHER_BOT_LOGIN") or "github-actions[bot]",
            timeout=int(env.get("LAUNCHER_GITHUB_TIMEOUT") or 30),
            throttle=env.get("LAUNCHER_GITHUB_THROTTLE", "1") != "0",
            max_rate_limit_wait=float(env.get("LAUNCHER_GITHUB_MAX_WAIT") or 60),
            step_summary=env.get("GITHUB_STEP_SUMMARY") or None,
            run_url=f"{server}/{repo}/actions/runs/{run_id}"
            if server and repo and run_id
            else None,
            event_path=env.get("GITHUB_EVENT_PATH") or None,
        )
        if access:
            settings.check_access()
        return settings

    @property
    def app_mode(self) -> bool:
        """True when launcher authenticates as its GitHub App (both app settings given)."""
        return bool(self.app_id and self.app_private_key)

    @property
    def trial(self) -> bool:
        return not self.app_mode

    def check_access(self) -> None:
        """Raise GitHubError unless the repository and a credential are known. Half an app
        configuration is an error, never a silent fall back to trial mode."""
        if bool(self.app_id) != bool(self.app_private_key):
            given, missing = (
                ("LAUNCHER_APP_ID", "LAUNCHER_APP_PRIVATE_KEY")
                if self.app_id
                else ("LAUNCHER_APP_PRIVATE_KEY", "LAUNCHER_APP_ID")
            )
            raise GitHubError(
                f"{given} is set but {missing} is not: set both for app mode, neither for "
                "trial mode"
            )
        wanted = [("GITHUB_REPOSITORY", self.repository)]
        if not self.app_mode:
            wanted.append(("GITHUB_TOKEN", self.token))
        missing_names = [name for name, value in wanted if not value]
        if missing_names:
            raise GitHubError(
                f"{' and '.join(missing_names)} must be set (GitHub Actions sets them)"
            )

    def aws_refusal(self) -> str | None:
        """Why a job must not use AWS (None: it may). In trial mode anyone with write access
        can forge launcher's verdict, so AWS is used only once an admin has said they know."""
        if self.app_mode or self.trial_acknowledged:
            return None
        return (
            "trial mode: launcher runs with the plain GITHUB_TOKEN, whose verdicts any writer "
            "can forge, so it does not use AWS. Configure the GitHub App (docs/adopting.md), or "
            f"have an admin set the repository variable {TRIAL_ACK_VARIABLE}=true to accept "
            "the risk"
        )

    def mark(self, text: str) -> str:
        """`text` as launcher publishes it: prefixed with the trial-mode warning in trial mode."""
        if self.trial and not text.startswith(TRIAL_PREFIX):
            return TRIAL_PREFIX + text
        return text

    def append_summary(self, markdown: str) -> None:
        """Add to the job's summary page, when running in GitHub Actions (else nothing)."""
        if self.step_summary:
            with open(self.step_summary, "a", encoding="utf-8") as handle:
                handle.write(markdown)


def _wrap(action: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Turn PyGithub and transport exceptions into GitHubError with what was being done."""

    def decorate(method: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(method)
        def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            from github import GithubException, RateLimitExceededException
            from requests import RequestException
            from urllib3.exceptions import HTTPError

            try:
                return method(*args, **kwargs)
            except GithubException as exc:
                message = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
                refused = exc.status in (401, 403, 404) and not isinstance(
                    exc, RateLimitExceededException
                )
                raise GitHubError(
                    f"{action}: GitHub answered {exc.status}: {message}", refused=refused
                ) from exc
            except (RequestException, HTTPError, OSError) as exc:
                raise GitHubError(f"{action}: {type(exc).__name__}: {exc}") from exc

        return call

    return decorate


MAX_PAGES = 30  # 3,000 entries: a longer record is refused rather than half-read
LISTED_PAGES = 1000  # pull request lists: as many as a repository may have open
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def get_all(
    gh: GitHub, url: str, params: dict[str, Any], max_pages: int = MAX_PAGES
) -> list[dict[str, Any]]:
    """Every entry of a paginated list endpoint as GitHub's JSON (100 per request),
    following Link headers: what the reads that need no PyGithub object use. An entry that
    is not an object, or a list longer than `max_pages` pages, is an error: a half-read
    record would look like "nobody else pushed"."""
    requester = gh.repo._requester  # noqa: SLF001 - PyGithub has no wrapper for raw lists
    found: list[dict[str, Any]] = []
    next_url: str | None = url
    query: dict[str, Any] | None = {**params, "per_page": 100}
    for _ in range(max_pages):
        if next_url is None:
            return found
        headers, data = requester.requestJsonAndCheck("GET", next_url, parameters=query)
        if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
            raise GitHubError(f"{url}: expected a list of objects")
        found.extend(data)
        match = _NEXT.search((headers or {}).get("link", "") or "")
        next_url, query = (match.group(1), None) if match else (None, None)
    raise GitHubError(f"{url}: more than {max_pages * 100} entries: too long to read")


def _prefetchable(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """A read `GitHub.prefetch` may make ahead: the first identical call takes its result."""

    @functools.wraps(method)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        adapter = args[0]
        key = (method.__name__, args[1:])
        with adapter._kept_lock:  # type: ignore[attr-defined]
            if key in adapter._kept:  # type: ignore[attr-defined]
                return adapter._kept.pop(key)  # type: ignore[attr-defined]
        return method(*args, **kwargs)

    call.prefetchable = True  # type: ignore[attr-defined]
    return call


def _client_options(settings: Settings) -> dict[str, Any]:
    from github import GithubRetry

    # Only idempotent methods are retried: a retried POST could post a comment twice.
    retry = GithubRetry(
        total=settings.retries,
        backoff_factor=settings.backoff,
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
        max_rate_limit_wait=settings.max_rate_limit_wait,
    )
    kwargs: dict[str, Any] = {"timeout": settings.timeout, "retry": retry}
    if not settings.throttle:
        kwargs.update(seconds_between_requests=0, seconds_between_writes=0)
    return kwargs


@_wrap("authenticating as the GitHub App")
def _installation_token(settings: Settings) -> tuple[str, str]:
    """(token, bot login) of a fresh installation token of launcher's app for this repository:
    the app's JWT (signed with its private key, valid minutes) buys a token that expires
    after one hour, so nothing long-lived is stored anywhere but the key. Two requests."""
    from github import Auth, GithubIntegration

    key = settings.app_private_key.replace("\\n", "\n")  # a key pasted with literal \n
    try:
        auth = Auth.AppAuth(settings.app_id, key)
        auth.token  # noqa: B018 - sign a JWT now: a bad key is a configuration error
    except (ValueError, TypeError) as exc:
        raise GitHubError(f"LAUNCHER_APP_PRIVATE_KEY is not a usable RSA key: {exc}") from exc
    integration = GithubIntegration(
        base_url=settings.api_url, auth=auth, **_client_options(settings)
    )
    owner, _, name = settings.repository.partition("/")
    installation = integration.get_repo_installation(owner, name)
    slug = installation.raw_data.get("app_slug") or ""
    minted = integration.get_access_token(installation.id)
    return str(minted.token), f"{slug}[bot]" if slug else settings.bot_login


def _client(settings: Settings) -> Any:
    from github import Auth, Github

    kwargs = _client_options(settings)
    token = settings.token
    if settings.app_mode and settings.installation_token:
        token = settings.installation_token
    elif settings.app_mode:
        token, settings.bot_login = _installation_token(settings)
    client = Github(
        base_url=settings.api_url,
        auth=Auth.Token(token),
        per_page=100,  # the maximum: one request per 100 files, reviews or comments
        lazy=True,
        **kwargs,
    )
    # PyGithub fixes a client's connection class when it is made: only a client made on
    # launcher serve's transport may be used by several threads at once (GitHub.prefetch)
    client.launcher_shareable = github_transport.reader() is not None  # type: ignore[attr-defined]
    return client


class GitHub:
    """One repository, through PyGithub."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        """`client`: a PyGithub client made for these settings before (launcher serve keeps
        one per installation token, for its HTTP connection); None makes one."""
        self.settings = settings
        self.gh = client if client is not None else _client(settings)
        self.repo = self.gh.get_repo(settings.repository)  # lazy: no request until used
        self._teams: dict[str, frozenset[str]] = {}
        self._kept: dict[tuple[str, tuple[Any, ...]], Any] = {}  # prefetched reads
        self._kept_lock = threading.Lock()
        self._foreign_checks: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._pulls: dict[int, dict[str, Any]] = {}  # pull requests' JSON, as `pull` read it
        self._trees: dict[str, list[dict[str, Any]]] = {}  # trees read, by commit sha
        self._read_at_commit: dict[tuple[str, str, str, str], bytes] = {}

    def prefetch(self, calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        """Make these reads at once, each result kept for the identical call that follows:
        a decision's independent reads then cost one round trip to GitHub instead of one
        each (about 100 ms apiece from outside GitHub). Only where the transport is safe to
        share between threads (`github_transport`: launcher serve); a read that fails is not
        kept, so the call that follows makes it again and fails the usual way."""
        pool = github_transport.reader()
        if pool is None or not getattr(self.gh, "launcher_shareable", False):
            return
        # only this adapter's own reads (a result is kept by name and arguments, and a write
        # must never run ahead); one alone gains nothing from going ahead
        calls = [
            (m, a)
            for m, a in calls
            if getattr(m, "__self__", None) is self and getattr(m, "prefetchable", False)
        ]
        if len(calls) < 2:
            return

        def read(method: Callable[..., Any], args: tuple[Any, ...]) -> None:
            try:
                found = method(*args)
            except Exception:  # noqa: BLE001 - the call that follows reads it again
                return
            with self._kept_lock:
                self._kept[(method.__name__, args)] = found

        # each read in the context of the decision (its unit's priority for GitHub's slots)
        futures = [
            pool.submit(contextvars.copy_context().run, read, method, args)
            for method, args in calls
        ]
        for future in futures:
            future.result()

    # --- reading ------------------------------------------------------------------------

    def _pull_ref(self, number: int) -> Any:
        """The PyGithub pull request as its address only (no request): listing its files or
        reviews, asking for reviewers and closing it need nothing else."""
        from github.PullRequest import PullRequest

        url = f"{self.repo.url}/pulls/{number}"
        return PullRequest(self.repo.requester, {}, {"url": url, "number": number}, False)

    def _pull_data(self, number: int) -> dict[str, Any]:
        """`GET /pulls/{number}` as GitHub answered it, read once per adapter. The JSON
        itself, not a PyGithub object: building one (its head and base repositories, a
        hundred attributes each) was a tenth of launcher serve's CPU per verdict."""
        if number not in self._pulls:
            requester = self.repo._requester  # noqa: SLF001 - as recursive_tree
            _, data = requester.requestJsonAndCheck("GET", f"{self.repo.url}/pulls/{number}")
            if not isinstance(data, dict) or data.get("number") != number:
                raise GitHubError(f"pull request #{number}: GitHub answered another object")
            self._pulls[number] = data
        return self._pulls[number]

    @_wrap("reading the pull request")
    def pull(self, number: int) -> Pull:
        data = self._pull_data(number)
        return self._pull_of(data, merged=bool(data.get("merged")))

    def _pull_of(self, p: dict[str, Any], *, merged: bool, reviewers: bool = True) -> Pull:
        """The core's Pull from a pull request's JSON, read or listed (the one decoder of
        it). `reviewers` False leaves out requested reviewers, which a commit's pull request
        list does not carry. A field missing or of the wrong type raises GitHubError."""
        org = self.settings.repository.split("/")[0]
        try:
            head, base = p["head"], p["base"]
            base_repo = base.get("repo") or {}
            head_repo = head.get("repo") or {}
            return Pull(
                number=int(p["number"]),
                author=str(p["user"]["login"]),
                head_sha=str(head["sha"]),
                base_sha=str(base["sha"]),
                base_ref=str(base["ref"]),
                state=str(p["state"]),
                merged=merged,
                created_at=parse_instant(p["created_at"]),
                html_url=str(p.get("html_url") or ""),
                labels=tuple(str(label["name"]) for label in p.get("labels") or ()),
                requested_users=tuple(str(u["login"]) for u in p.get("requested_reviewers") or ())
                if reviewers
                else (),
                requested_teams=tuple(f"{org}/{t['slug']}" for t in p.get("requested_teams") or ())
                if reviewers
                else (),
                merge_commit_sha=p.get("merge_commit_sha"),
                head_ref=str(head.get("ref") or ""),
                default_branch=str(base_repo.get("default_branch") or ""),
                head_repo=str(head_repo.get("full_name") or ""),
                merged_at=parse_instant(p["merged_at"]) if p.get("merged_at") else None,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise GitHubError(
                f"pull request #{p.get('number', '?')}: GitHub's answer lacks {exc}"
            ) from exc

    @_wrap("listing open pull requests")
    def open_pulls(self, base: str) -> list[Pull]:
        """Open pull requests into `base`, labels, dates and requested reviewers included: one
        request per 100. A listing is a snapshot: `pull` reads the pull request itself again
        (its head, its labels or its state may have moved since), so what a decision or a
        sweep verifies is never the list's copy."""
        return [
            self._pull_of(data, merged=False)
            for data in get_all(
                self, f"{self.repo.url}/pulls", {"state": "open", "base": base}, LISTED_PAGES
            )
        ]

    @_wrap("reading the repository")
    def html_url(self) -> str:
        """The repository's web address (free once `default_head` has read the repository)."""
        return str(self.repo.html_url)

    @_wrap("reading the repository")
    def default_branch(self) -> str:
        return self.repo.default_branch

    @_wrap("closing the pull request")
    def close_pull(self, number: int) -> bool:
        if self._pull_data(number).get("state") == "closed":
            return False
        requester = self.repo._requester  # noqa: SLF001 - the answer refreshes _pull_data
        _, data = requester.requestJsonAndCheck(
            "PATCH", f"{self.repo.url}/pulls/{number}", input={"state": "closed"}
        )
        if isinstance(data, dict) and data.get("number") == number:
            self._pulls[number] = data
        else:
            self._pulls.pop(number, None)
        return True

    @_prefetchable
    @_wrap("listing the pull request's files")
    def changed_files(self, number: int) -> list[ChangedFile]:
        """Every file the pull request changes. GitHub lists at most 3000: a list that long
        may be cut short, and a change past the cut (pools.yaml, say) would go unseen, so it
        is an error."""
        files = [
            ChangedFile(f.filename, f.status, f.previous_filename)
            for f in self._pull_ref(number).get_files()
        ]
        if len(files) >= MAX_LISTED_FILES:
            raise GitHubError(
                f"the pull request changes {MAX_LISTED_FILES} files or more, more than GitHub "
                "lists: split it"
            )
        return files

    @_prefetchable
    @_wrap("listing reviews")
    def reviews(self, number: int) -> list[Review]:
        return [
            Review(
                r.id,
                r.user.login if r.user else "ghost",
                r.state,
                r.commit_id or "",
                r.body or "",
                r.submitted_at,
            )
            for r in self._pull_ref(number).get_reviews()
        ]

    @_prefetchable
    def history(self, info: Pull) -> History:
        """Who pushed onto the pull request and its issue events (github_history.py)."""
        from launcher.adapters.github_history import pull_history

        return pull_history(self, info)

    @_prefetchable
    def modes(self, sha: str) -> dict[str, str]:
        """Git mode of every entry under deployments/ at `sha` (github_history.py)."""
        from launcher.adapters.github_history import tree_modes

        return tree_modes(self, sha)

    @_prefetchable
    def foreign_statuses(self, sha: str, context: str) -> tuple[Verdict, ...]:
        """Commit statuses `context` on `sha` others set (github_verdicts.py)."""
        from launcher.adapters.github_verdicts import foreign_statuses

        return foreign_statuses(self, sha, context)

    @_prefetchable
    @_wrap("reading a file")
    def read_file(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at `ref`, or None if it does not exist there. A file read at a
        commit sha is kept where `AT_COMMIT` is enabled (a commit's content never changes), so
        launcher serve reads the base's pools.yaml once for all pull requests on that base."""
        key = (self.settings.api_url, self.settings.repository.lower(), ref, path)
        kept = AT_COMMIT.get(key)
        if kept is None:
            kept = self._read_at_commit.get(key)
        if kept is not None:
            return kept
        found = self._read_file(path, ref)
        if found is not None and COMMIT_SHA.fullmatch(ref):
            AT_COMMIT.put(key, found)
            self._read_at_commit[key] = found  # this run's own (a merge group's pull requests
            # share their base's pools.yaml), where AT_COMMIT is not enabled
        return found

    def _read_file(self, path: str, ref: str) -> bytes | None:
        from github import GithubException

        try:
            content = self.repo.get_contents(path, ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(content, list):  # a folder
            return None
        if content.size > MAX_BYTES:
            return b"\0" * (MAX_BYTES + 1)  # the loader reports it as too large
        return content.decoded_content

    def team_members(self, team: str) -> frozenset[str]:
        """Members of `@org/slug` (one lookup per team per run); MembershipUnknown on error."""
        key = team.casefold()
        if key not in self._teams:
            org, _, slug = team.lstrip("@").partition("/")
            try:
                members = self._list_team(org, slug)
            except GitHubError as exc:
                raise MembershipUnknown([team], str(exc)) from exc
            self._teams[key] = members
        return self._teams[key]

    @_wrap("reading team members")
    def _list_team(self, org: str, slug: str) -> frozenset[str]:
        team = self.gh.get_organization(org).get_team_by_slug(slug)
        return frozenset(member.login.casefold() for member in team.get_members())

    @property
    def teams_read(self) -> dict[str, frozenset[str]]:
        return dict(self._teams)

    @_prefetchable
    @_wrap("listing comments")
    def find_comment(self, number: int, marker: str) -> Comment | None:
        """The bot's own comment carrying `marker`; others' copies of the marker are ignored."""
        bot = self.settings.bot_login.casefold()
        for comment in self.repo.get_issue(number).get_comments():
            if marker in (comment.body or "") and comment.user.login.casefold() == bot:
                return Comment(comment.id, comment.user.login, comment.body)
        return None

    @_prefetchable
    @_wrap("reading check runs")
    def verdict(self, sha: str, name: str) -> CheckRun | None:
        """launcher's own latest check run `name` on `sha` (one request). Check runs of any
        other app, and commit statuses, are not launcher's and are ignored: in app mode only
        launcher's app can have written what this returns."""
        slug = self.settings.bot_login.removesuffix("[bot]").casefold()
        runs = list(self.repo.get_commit(sha).get_check_runs(check_name=name, filter="all"))
        mine = [r for r in runs if r.app is not None and str(r.app.slug).casefold() == slug]
        self._foreign_checks[(sha, name)] = _foreign_checks(runs, slug)
        if mine:
            run = max(mine, key=lambda r: r.id)  # the latest: the one GitHub's rules judge
            state = run.external_id if run.external_id in VERDICT_STATES else "error"
            output = run.output
            return CheckRun(run.id, state, output.title or "", output.summary or "")
        return None

    @_wrap("writing the check run")
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
        """Publish the verdict as a new check run `name` on `sha`, written by launcher (the app
        in app mode), unless launcher's latest one already says the same (`current` False: read
        it; otherwise the caller's reading). `pending` is a check run in progress, which a
        required check waits for; `error` and `failure` both conclude `failure` (the state is
        kept in external_id). A new run each time: GitHub judges a required check by the
        latest run of that name from the required app."""
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
        kwargs: dict[str, Any] = {
            "name": name,
            "head_sha": sha,
            "external_id": state,
            "output": {"title": title, "summary": summary},
        }
        if text:  # the full list (issue 17): the details below the summary
            kwargs["output"]["text"] = _fit(text, CHECK_TEXT_MAX)
        batches = list(limits.batches(list(annotations)))  # GitHub takes 50 per request
        if batches:
            kwargs["output"]["annotations"] = _annotations(batches[0])
        if details_url:
            kwargs["details_url"] = details_url
        if state == "pending":
            kwargs["status"] = "in_progress"
        else:
            kwargs["status"] = "completed"
            kwargs["conclusion"] = "success" if state == "success" else "failure"
        run = self.repo.create_check_run(**kwargs)
        for batch in batches[1:]:
            run.edit(output={**kwargs["output"], "annotations": _annotations(batch)})
        return True

    def foreign_checks(self, sha: str, name: str) -> tuple[Any, ...]:
        """Other apps' latest check runs `name` on `sha`, from the list `verdict` read (no
        request of its own): never launcher's verdict, reported by the gate."""
        return self._foreign_checks.get((sha, name), ())

    @_wrap("writing the comment")
    def upsert_comment(self, number: int, marker: str, body: str, existing: Comment | None) -> bool:
        body = _fit(self.settings.mark(body), COMMENT_MAX)
        if existing is not None:
            if existing.body == body:
                return False
            self.repo.get_issue(number).get_comment(existing.id).edit(body)
            return True
        self.repo.get_issue(number).create_comment(body)
        return True

    @_wrap("setting labels")
    def sync_labels(
        self,
        number: int,
        current: tuple[str, ...],
        is_managed: Callable[[str], bool],
        wanted: set[str],
    ) -> bool:
        """Make the managed labels exactly `wanted`; labels launcher does not manage stay.
        A label another run removed since `current` was read (GitHub answers 404) is gone,
        as wanted: two runs at once both finish."""
        from github import GithubException

        issue = self.repo.get_issue(number)
        changed = False
        for label in current:
            if is_managed(label) and label not in wanted:
                try:
                    issue.remove_from_labels(label)
                except GithubException as exc:
                    if exc.status != 404:
                        raise
                changed = True
        missing = sorted(wanted - set(current))
        if missing:
            issue.add_to_labels(*missing)
            changed = True
        return changed

    @_wrap("requesting reviews")
    def request_reviews(self, number: int, users: list[str], teams: list[str]) -> bool:
        if not users and not teams:
            return False
        slugs = [team.split("/", 1)[-1] for team in teams]
        self._pull_ref(number).create_review_request(reviewers=users, team_reviewers=slugs)
        return True

    @_wrap("commenting")
    def comment(self, number: int, body: str) -> None:
        self.repo.get_issue(number).create_comment(self.settings.mark(body))

    @_wrap("listing comments")
    def find_comments(self, number: int, marker: str) -> list[Comment]:
        """Every comment of the bot's carrying `marker`, oldest first (a race may leave two)."""
        bot = self.settings.bot_login.casefold()
        return [
            Comment(c.id, c.user.login, c.body)
            for c in self.repo.get_issue(number).get_comments()
            if marker in (c.body or "") and c.user.login.casefold() == bot
        ]

    @_wrap("deleting a comment")
    def delete_comment(self, number: int, comment_id: int) -> None:
        self.repo.get_issue(number).get_comment(comment_id).delete()

    # --- deployments (launch job) -----------------------------------------------------------

    @_wrap("reading the default branch")
    def default_head(self) -> tuple[str, str]:
        """(branch name, head commit) of the default branch, as it is now."""
        branch = self.repo.get_branch(self.repo.default_branch)
        return branch.name, branch.commit.sha

    def recursive_tree(self, sha: str) -> list[dict[str, Any]]:
        """The entries of `GET git/trees/{sha}?recursive=1` as GitHub lists them, read once
        per adapter for a commit sha (a commit's tree never changes): the files of a commit,
        the modes of a pull request's requests and a merge group's entries come from the same
        tree. A truncated listing is an error: an entry missing from it would be taken for
        removed. Other errors propagate to the caller's wrapper."""
        from urllib.parse import quote

        kept = self._trees.get(sha)
        if kept is not None:
            return kept
        requester = self.repo._requester  # noqa: SLF001 - PyGithub's tree drops links' modes
        _, data = requester.requestJsonAndCheck(
            "GET", f"{self.repo.url}/git/trees/{quote(sha)}", parameters={"recursive": "1"}
        )
        if not isinstance(data, dict) or data.get("truncated"):
            raise GitHubError(f"the tree of {sha} is too large to list in one call")
        entries = [e for e in data.get("tree") or [] if isinstance(e, dict) and "path" in e]
        if COMMIT_SHA.fullmatch(sha):
            self._trees[sha] = entries
        return entries

    @_wrap("reading the tree")
    def tree(self, sha: str) -> dict[str, str]:
        """Every file at commit `sha`: path -> blob SHA (one call)."""
        return {
            str(e["path"]): str(e.get("sha", ""))
            for e in self.recursive_tree(sha)
            if e.get("type") == "blob"
        }

    @_wrap("reading a blob")
    def blob(self, sha: str) -> bytes:
        """A blob's bytes; one over the loader's limit comes back oversized, for it to refuse."""
        import base64

        blob = self.repo.get_git_blob(sha)
        if blob.size > MAX_BYTES:
            return b"\0" * (MAX_BYTES + 1)
        return (
            base64.b64decode(blob.content) if blob.encoding == "base64" else blob.content.encode()
        )

    @_wrap("listing commits")
    def last_commit(self, path: str, ref: str) -> str | None:
        """The newest commit reachable from `ref` that changed `path` (git log -1 -- path)."""
        for commit in self.repo.get_commits(sha=ref, path=path):
            return str(commit.sha)
        return None

    @_wrap("finding the pull requests of a commit")
    def commit_pulls(self, sha: str) -> list[Pull]:
        """Pull requests containing commit `sha` (merged ones included), as listed: `merged`
        comes from merged_at, so no pull request is fetched again."""
        return [
            self._pull_of(p, merged=p.get("merged_at") is not None, reviewers=False)
            for p in get_all(self, f"{self.repo.url}/commits/{sha}/pulls", {}, LISTED_PAGES)
        ]

    def commit_facts(self, sha: str) -> CommitFacts:
        from launcher.adapters.github_commits import commit_facts

        return commit_facts(self, sha)

    def reached(self, sha: str, ref: str) -> bool:
        from launcher.adapters.github_queue import reached

        return reached(self, sha, ref)

    @_wrap("listing deployments")
    def deployments(self, task: str) -> list[Deployment]:
        """The bot's deployments for `task` with their creation time, newest first (100 per
        page, no status reads). Deployments made by anyone else are ignored, so nobody can
        fake launcher's record."""
        return list(self._own_deployments(task))

    @_wrap("listing deployments")
    def recent_deployments(self, task: str, since: datetime) -> list[Deployment]:
        """The bot's deployments for `task` created at or after `since`, newest first: the
        listing (newest first) stops at the first older one, so usually one page."""
        return list(self._own_deployments(task, since))

    @_wrap("listing deployments")
    def deployments_of(self, tasks: Collection[str]) -> dict[str, list[Deployment]]:
        """The bot's deployments of each of `tasks`, newest first, from one listing of the
        repository's deployments (no task filter: GitHub filters on one task at most), so a
        job that needs several of launcher's tasks pays one list page per 100 deployments
        instead of one listing per task."""
        found: dict[str, list[Deployment]] = {task: [] for task in tasks}
        for d in self._own_deployments(None):
            if d.task in found:
                found[d.task].append(d)
        return found

    @_wrap("listing deployments")
    def environment_deployments(self, task: str, environment: str) -> list[Deployment]:
        """The bot's deployments for `task` in one environment (one request), newest first."""
        return list(self._own_deployments(task, environment=environment))

    def _own_deployments(
        self, task: str | None, since: datetime | None = None, environment: str | None = None
    ) -> Iterator[Deployment]:
        """The one reading of launcher's deployments: the bot's only (anyone may create a
        deployment), payload decoded leniently (a non-JSON payload reads as empty). `task`
        None lists every task's."""
        bot = self.settings.bot_login.casefold()
        filters = {"task": task} if task else {}
        if environment is not None:
            filters["environment"] = environment
        for d in self.repo.get_deployments(**filters):
            created = d.created_at if d.created_at.tzinfo else d.created_at.replace(tzinfo=UTC)
            if since is not None and created < since:
                return
            if d.creator is None or d.creator.login.casefold() != bot:
                continue
            payload = d.payload
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload) if payload else {}
                except ValueError:
                    payload = {}
            payload = payload if isinstance(payload, dict) else {}
            yield Deployment(d.id, task or d.task, d.environment, d.sha, payload, created)

    @_wrap("reading deployment statuses")
    def deployment_status(self, deployment_id: int) -> tuple[str, str] | None:
        """The bot's latest (state, description) on a deployment; usually one call."""
        bot = self.settings.bot_login.casefold()
        for status in self.repo.get_deployment(deployment_id).get_statuses():  # newest first
            if status.creator is not None and status.creator.login.casefold() == bot:
                return status.state, status.description or ""
        return None

    @_wrap("creating a deployment")
    def create_deployment(
        self, ref: str, environment: str, payload: dict[str, Any], description: str, task: str
    ) -> int:
        """A deployment of `ref` to `environment`. No required contexts (the launch job has
        re-checked the approval itself), no auto-merge, a transient non-production environment
        (its instances end)."""
        deployment = self.repo.create_deployment(
            ref=ref,
            task=task,
            auto_merge=False,
            required_contexts=[],
            payload=payload,
            environment=environment,
            description=description[:140],
            transient_environment=True,
            production_environment=False,
        )
        return int(deployment.id)

    @_wrap("setting a deployment status")
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
        """Post a status unless the latest one already says the same (`current` False: read
        it; otherwise the caller's reading). auto_inactive is off: launcher marks older
        deployments inactive itself, once their instances are gone."""
        description = description[:140]
        if current is False:
            current = self.deployment_status(deployment_id)
        if current == (state, description):
            return False
        kwargs: dict[str, Any] = {"description": description, "auto_inactive": False}
        if log_url:
            kwargs["target_url"] = log_url  # GitHub's alias of log_url
        if environment_url:
            kwargs["environment_url"] = environment_url
        self.repo.get_deployment(deployment_id).create_status(state, **kwargs)
        return True


def _foreign_checks(runs: list[Any], slug: str) -> tuple[Any, ...]:
    """Each other app's latest run, as the gate's foreign verdicts."""
    from launcher.adapters.github_verdicts import Verdict

    latest: dict[str, Any] = {}
    for run in sorted(runs, key=lambda r: r.id, reverse=True):
        app = str(run.app.slug) if run.app is not None else "an unknown app"
        if app.casefold() == slug or app.casefold() in latest:
            continue
        state = run.conclusion or run.status or ""
        latest[app.casefold()] = Verdict("check run", app, str(state), run.output.title or "")
    return tuple(latest[k] for k in sorted(latest))


def _annotations(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    return [
        {
            "path": p.path,
            "start_line": max(1, p.line),
            "end_line": max(1, p.line),
            "annotation_level": "failure",
            "message": p.message[:64000],
        }
        for p in problems
    ]
