"""``GitHubSandbox``: start/stop the stand-in and seed it from Python."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from launcher.sandbox.github import (
    api_accounts,
    api_activity,
    api_apps,
    api_checks,
    api_clock,
    api_git,
    api_gitdata,
    api_issues,
    api_pulls,
    api_reviews,
    api_rules,
    checks_rerequest,
    environments,
    installations,
    merge_queue,
    oidc,
    webhooks,
)
from launcher.sandbox.github.apps import App, Installation
from launcher.sandbox.github.environments import Environment
from launcher.sandbox.github.events import Event
from launcher.sandbox.github.http import HttpServer
from launcher.sandbox.github.observe import Fault, LoggedRequest
from launcher.sandbox.github.service import GitHub
from launcher.sandbox.github.state import Issue, Org, Repo, Team, now


class GitHubSandbox:
    """A local GitHub REST API stand-in backed by real bare git repositories.

    >>> with GitHubSandbox() as gh:                        # doctest: +SKIP
    ...     token = gh.add_user("alice")
    ...     gh.create_repo("alice", "infra", {"README.md": b"hi"})
    ...     Github(base_url=gh.url, auth=Auth.Token(token)).get_repo("alice/infra")
    """

    def __init__(
        self,
        state_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        record_responses: bool = False,
    ) -> None:
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="github-sandbox-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.gh = GitHub(self.state_dir)
        self.gh.record_responses = record_responses
        for module in (
            api_accounts,
            api_git,
            api_gitdata,
            api_pulls,
            api_reviews,
            api_issues,
            api_activity,
            api_checks,
            api_apps,
            api_rules,
        ):
            module.register(self.gh.router)
        for extra in (environments, oidc, checks_rerequest):  # Actions' settings, re-runs
            extra.register(self.gh.router)
        api_accounts.register_sandbox(self.gh.router, self)
        oidc.register_sandbox(self.gh.router)
        merge_queue.register_sandbox(self.gh.router)
        api_clock.register_sandbox(self.gh.router)
        self.webhooks = webhooks.Webhooks(self.gh)  # deliveries to apps' webhook URLs
        webhooks.register(self.gh.router, self.webhooks)
        self._host, self._port = host, port
        self._server: HttpServer | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> GitHubSandbox:
        if self._server is None:
            self._server = HttpServer(self.gh, self._host, self._port)
            self.gh.base_url = f"http://{self._host}:{self._server.port}"
            self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.webhooks.stop()
        self.gh.close()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> GitHubSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for ``Github(base_url=...)``."""
        return self.gh.base_url

    def client(self, token: str, retry: Any = None, **kwargs: Any) -> Any:
        """A PyGithub client for ``token`` pointed at the sandbox.

        PyGithub throttles by default (0.25 s between requests, 1 s between writes);
        against a local stand-in that only slows tests, so both are 0 here.
        """
        from github import Auth, Github

        kwargs.setdefault("seconds_between_requests", 0)
        kwargs.setdefault("seconds_between_writes", 0)
        return Github(base_url=self.url, auth=Auth.Token(token), retry=retry, **kwargs)

    # -- seeding ---------------------------------------------------------------------
    def add_user(
        self,
        login: str,
        token: str | None = None,
        name: str | None = None,
        email: str | None = None,
        bot: bool = False,
    ) -> str:
        """Create an account; return its token. ``bot=True`` acts like an app installation."""
        return self.gh.add_user(login, token, name, email, bot)

    def add_org(self, login: str, members: Iterable[str] = (), admins: Iterable[str] = ()) -> Org:
        return self.gh.add_org(login, members, admins)

    def add_team(
        self,
        org: str,
        slug: str,
        members: Iterable[str] = (),
        maintainers: Iterable[str] = (),
        name: str | None = None,
        repos: Mapping[str, str] | None = None,
    ) -> Team:
        """``repos`` maps ``"owner/name"`` to a permission (pull/triage/push/maintain/admin)."""
        return self.gh.add_team(org, slug, members, maintainers, name, repos)

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
    ) -> Repo:
        """Create a repository whose default branch holds ``files`` in one commit.

        ``collaborators`` is a list of logins (write access) or login -> permission.
        """
        return self.gh.create_repo(
            owner, name, files, collaborators, teams, private, default_branch, description
        )

    # -- GitHub Apps --------------------------------------------------------------------
    def create_app(
        self,
        slug: str,
        owner: str,
        permissions: Mapping[str, str] | None = None,
        events: Iterable[str] = (),
        name: str | None = None,
    ) -> App:
        """Register a GitHub App owned by ``owner``; its bot account is ``<slug>[bot]``.
        ``app.private_key_pem()`` is its key; permissions default to contents, pull
        requests, issues, statuses, checks and deployments write."""
        return self.gh.apps.create(
            slug, owner, dict(permissions) if permissions is not None else None, list(events), name
        )

    def install_app(
        self,
        app: App | str,
        account: str,
        repositories: Iterable[str] | None = None,
        permissions: Mapping[str, str] | None = None,
        sender: str | None = None,
    ) -> Installation:
        """Install ``app`` on ``account``: all its repositories, or only ``repositories``
        (``installation`` ``created`` goes to the app's webhook, as GitHub sends it)."""
        a = app if isinstance(app, App) else self.gh.apps.get(app)
        return installations.install(
            self.gh,
            a,
            account,
            list(repositories) if repositories is not None else None,
            dict(permissions) if permissions is not None else None,
            sender,
        )

    # Installation changes, each announced to the app as GitHub does (installations.py).
    def uninstall_app(self, inst: Installation, sender: str | None = None) -> None:
        """Uninstall: the installation's tokens stop working (``installation`` deleted)."""
        installations.uninstall(self.gh, inst, sender)

    def suspend_installation(self, inst: Installation, sender: str | None = None) -> None:
        """Block the app from the account (403 to its tokens; ``installation`` suspend)."""
        installations.suspend(self.gh, inst, sender)

    def unsuspend_installation(self, inst: Installation, sender: str | None = None) -> None:
        installations.unsuspend(self.gh, inst, sender)

    def accept_installation_permissions(
        self, inst: Installation, permissions: Mapping[str, str], sender: str | None = None
    ) -> None:
        """The account accepts new permissions (``installation`` new_permissions_accepted)."""
        installations.accept_permissions(self.gh, inst, dict(permissions), sender)

    def add_installation_repositories(
        self, inst: Installation, repositories: Iterable[str], sender: str | None = None
    ) -> list[Repo]:
        """Add repositories to a selected-repositories installation
        (``installation_repositories`` added)."""
        return installations.add_repositories(self.gh, inst, repositories, sender)

    def remove_installation_repositories(
        self, inst: Installation, repositories: Iterable[str], sender: str | None = None
    ) -> list[Repo]:
        """Remove repositories from an installation (``installation_repositories`` removed)."""
        return installations.remove_repositories(self.gh, inst, repositories, sender)

    def app_jwt(
        self, app: App | str, iat: int | None = None, exp: int | None = None, key: Any = None
    ) -> str:
        """A JWT for ``app`` signed with its key (or ``key``), as the app would make it."""
        a = app if isinstance(app, App) else self.gh.apps.get(app)
        return self.gh.apps.jwt(a, iat, exp, key)

    def installation_token(
        self,
        app: App | str | int,
        repo: str | None = None,
        permissions: Mapping[str, str] | None = None,
        ttl: float = 3600,
    ) -> str:
        """Mint an installation token of ``app`` limited to ``repo`` and ``permissions``
        (installing the app on the repository's owner first if needed). ``"github-actions"``
        is created on first use: ``installation_token("github-actions", "acme/infra",
        {"contents": "read", "statuses": "write"})`` is a workflow's GITHUB_TOKEN."""
        apps = self.gh.apps
        with self.gh.state.lock:
            if app == "github-actions":
                apps.github_actions()
            a = app if isinstance(app, App) else apps.get(app)
            token = apps.installation_token(
                a.id,
                self.repo(repo) if repo else None,
                dict(permissions) if permissions is not None else None,
                ttl,
            )
            return token.value

    def set_app_webhook(
        self,
        app: App | str,
        url: str,
        secret: str = "",
        events: Iterable[str] | None = None,
        active: bool = True,
    ) -> None:
        """Point ``app``'s webhook at ``url`` (signed with ``secret``): from now on each event
        it subscribes to (``events``, else the app's) on a repository it is installed on is
        POSTed there as GitHub does (``webhooks.py``)."""
        a = app if isinstance(app, App) else self.gh.apps.get(app)
        self.webhooks.configure(
            a, url, secret, list(events) if events is not None else None, active
        )

    # -- rulesets and branch protection ------------------------------------------------
    def protect_branch(self, repo: str, branch: str, body: Mapping[str, Any]) -> None:
        """Classic branch protection, ``body`` as ``PUT .../branches/{b}/protection`` takes."""
        with self.gh.state.lock:
            self.gh.rules.set_protection(self.repo(repo), branch, dict(body))

    def create_ruleset(self, repo: str, body: Mapping[str, Any]) -> int:
        """A repository ruleset, ``body`` as ``POST .../rulesets`` takes; returns its id."""
        with self.gh.state.lock:
            return self.gh.rules.save_ruleset(self.repo(repo), dict(body)).id

    def required_checks(self, repo: str, branch: str) -> list[tuple[str, int | None]]:
        """(context, app id or None) of every check an active rule requires on ``branch``."""
        with self.gh.state.lock:
            return self.gh.rules.required_checks(self.repo(repo), branch)

    def repo(self, full_name: str) -> Repo:
        owner, _, name = full_name.partition("/")
        repo = self.gh.state.repo(owner, name)
        if repo is None:
            raise KeyError(full_name)
        return repo

    def git_dir(self, full_name: str) -> Path:
        """Path of the bare repository (``git clone`` it)."""
        return self.repo(full_name).git.path

    def branch_sha(self, full_name: str, branch: str) -> str:
        return self.repo(full_name).branches[branch]

    def push_files(
        self,
        repo: str,
        branch: str,
        files: Mapping[str, bytes | str | None],
        message: str,
        author: str,
        base: str | None = None,
    ) -> str:
        """Commit ``files`` to ``branch`` (None deletes a file) and announce ``push`` plus
        ``pull_request synchronize`` for open PRs from that branch. Returns the new SHA."""
        return self.gh.push_files(self.repo(repo), branch, files, message, author, base)

    # -- GitHub Actions settings ----------------------------------------------------
    def create_environment(
        self,
        repo: str,
        name: str,
        *,
        branches: list[str] | None = None,
        tags: list[str] | None = None,
        protected_branches: bool = False,
        secrets: Mapping[str, str] | None = None,
    ) -> Environment:
        """An environment as PUT .../environments/{name} makes it. ``branches``/``tags``:
        custom deployment branch policies (patterns); ``protected_branches``: only protected
        branches; neither: any ref may deploy. ``secrets``: environment secrets."""
        r = self.repo(repo)
        custom = branches is not None or tags is not None
        policy = None
        if custom or protected_branches:
            policy = {"protected_branches": protected_branches, "custom_branch_policies": custom}
        env = environments.put_environment(self.gh, r, name, {"deployment_branch_policy": policy})
        for pattern in branches or []:
            environments.add_policy(self.gh, r, env, pattern, "branch")
        for pattern in tags or []:
            environments.add_policy(self.gh, r, env, pattern, "tag")
        for key, value in (secrets or {}).items():
            self.set_environment_secret(repo, name, key, value)
        return env

    def set_environment_secret(self, repo: str, environment: str, name: str, value: str) -> None:
        """GitHub's PUT takes a libsodium-sealed value; the stand-in takes it from Python."""
        env = self.gh.actions_environments.get(self.repo(repo), environment)
        if env is None:
            raise KeyError(f"{repo} has no environment {environment}")
        with self.gh.state.lock:
            ts = now()
            old = env.secrets.get(name.upper())
            env.secrets[name.upper()] = environments.Secret(
                value, old.created_at if old else ts, ts
            )

    def enable_merge_queue(self, repo: str, required_checks: Iterable[str] = ()) -> None:
        """A merge queue on the default branch requiring these checks (status contexts or
        check run names) on each merge group's commit."""
        merge_queue.enable(self.gh, self.repo(repo), list(required_checks))

    def enqueue_pull(self, repo: str, number: int, actor: str) -> str:
        """Add a pull request to the merge queue (GitHub: GraphQL or the UI, no REST
        endpoint); returns the merge group's commit."""
        r = self.repo(repo)
        return merge_queue.enqueue(self.gh, r, self.gh.get_pull(r, number), actor).head_sha

    def dequeue_pull(self, repo: str, number: int, actor: str) -> None:
        r = self.repo(repo)
        merge_queue.dequeue(self.gh, r, self.gh.get_pull(r, number), actor)

    def set_plan(self, owner: str, plan: str) -> None:
        """The owner's GitHub plan: on ``free``, its private repositories answer 403 on branch
        protection and ruleset endpoints, as GitHub does."""
        if plan == "free":
            self.gh.free_plan_owners.add(owner.lower())
        else:
            self.gh.free_plan_owners.discard(owner.lower())

    def set_org_immutable_subject(self, org: str, enabled: bool) -> None:
        """The organization-level OIDC immutable-subject setting repositories fall back to."""
        self.gh.actions_oidc.orgs_immutable[org.lower()] = enabled

    def pull(self, repo: str, number: int) -> Issue:
        return self.gh.get_pull(self.repo(repo), number)

    # -- events ---------------------------------------------------------------------
    def events(
        self, since: int = 0, event: str | None = None, action: str | None = None
    ) -> list[Event]:
        return self.gh.events.since(since, event, action)

    def last_event(self, event: str | None = None, action: str | None = None) -> Event:
        evs = self.events(0, event, action)
        if not evs:
            raise LookupError(f"no {event or ''} {action or ''} event")
        return evs[-1]

    def last_event_id(self) -> int:
        return self.gh.events.last_id()

    # -- request log and faults ---------------------------------------------------
    def request_counts(self) -> Counter[str]:
        """API calls per ``"METHOD /openapi/template"`` since the last reset."""
        return self.gh.request_log.counts()

    def requests(self) -> list[LoggedRequest]:
        return list(self.gh.request_log.entries)

    def reset_requests(self) -> None:
        self.gh.request_log.reset()

    def set_latency(self, seconds: float) -> None:
        """Make every API request take `seconds` more (concurrent requests overlap): the
        round trip to GitHub from a service elsewhere, which loopback hides."""
        self.gh.latency = max(0.0, seconds)

    def inject_fault(
        self,
        method: str = "*",
        path: str = "*",
        kind: str = "error",
        status: int = 500,
        seconds: float = 0.0,
        times: int = 1,
    ) -> Fault:
        """Make the next ``times`` matching requests fail: ``kind`` is ``error``
        (answer ``status``), ``rate_limit`` (403 primary rate limit) or ``hang``
        (sleep ``seconds`` then answer normally)."""
        return self.gh.faults.add(Fault(method, path, kind, status, seconds, times))

    def clear_faults(self) -> None:
        self.gh.faults.clear()

    # -- conformance recording -------------------------------------------------------
    @property
    def responses(self) -> list[tuple[str | None, int, Any, str | None]]:
        """(operationId, status, body, fault) of every answer, when recording is on."""
        return self.gh.responses

    @property
    def server_errors(self) -> list[BaseException]:
        """Unexpected exceptions raised by handlers (answered as 500)."""
        return self.gh.errors

    def routes(self) -> list[tuple[str, str, str]]:
        """(method, OpenAPI path template, operationId) of every GitHub route served."""
        return [
            (r.method, r.template, r.operation)
            for r in self.gh.router.routes
            if not r.operation.startswith("_sandbox")
        ]
