"""GitHub Apps: apps with RSA keys, installations, app JWTs and scoped tokens.

Why: launcher trusts a check run or status only when GitHub records which app wrote it,
so the stand-in needs apps that authenticate like GitHub's: an app signs a JWT (RS256,
``exp`` at most 10 minutes ahead of GitHub's clock, ``iat`` at most 60 s ahead) with its
private key, uses it on the ``/app`` endpoints, and trades it for an installation token
that expires after one hour and carries only the installation's permissions on the
installation's repositories.

One token record serves every kind of credential: an account, the permissions it
carries (None: the account's full rights), the repositories it reaches (None: all the
account reaches) and an expiry (None: never). Personal tokens are plain records;
installation tokens are records of the app's bot account. ``bot=True`` accounts made
with ``add_user`` are apps too (installed everywhere, full rights, non-expiring
token), so their check runs, comments and deployments name their app like GitHub's.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.http import ApiError, validation
from launcher.sandbox.github.state import iso, now

if TYPE_CHECKING:
    from launcher.sandbox.github.state import Repo, State

TOKEN_TTL = 3600  # installation tokens: one hour
JWT_MAX_LIFETIME = 600  # GitHub refuses app JWTs whose exp is more than 10 minutes ahead of now
JWT_CLOCK_DRIFT = 60  # GitHub tolerates iat up to 60 s in the future
NOT_ACCESSIBLE = "Resource not accessible by integration"
SUSPENDED = "This installation has been suspended"
BAD_JWT = "A JSON web token could not be decoded"
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
EXP_PAST = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time "
    "at which the assertion expires"
)
IAT_BAD = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
    "was issued"
)
LEVELS = {"read": 1, "write": 2, "admin": 3}
# Permissions every app gets (GitHub grants metadata: read to all installations).
DEFAULT_APP_PERMISSIONS = {
    "metadata": "read",
    "contents": "write",
    "pull_requests": "write",
    "issues": "write",
    "statuses": "write",
    "checks": "write",
    "deployments": "write",
}
GITHUB_ACTIONS_ID = 15368  # the id github.com gives the github-actions app

# operationId -> (permission names any of which grants it, level needed). Anything not
# listed needs metadata: read for GET and contents: write otherwise.
OPERATION_PERMISSIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "checks/create": (("checks",), "write"),
    "checks/update": (("checks",), "write"),
    "checks/get": (("checks",), "read"),
    "checks/list-for-ref": (("checks",), "read"),
    "repos/create-commit-status": (("statuses",), "write"),
    "repos/list-commit-statuses-for-ref": (("statuses",), "read"),
    "repos/get-combined-status-for-ref": (("statuses",), "read"),
    "repos/create-deployment": (("deployments",), "write"),
    "repos/create-deployment-status": (("deployments",), "write"),
    "repos/list-deployments": (("deployments",), "read"),
    "repos/get-deployment": (("deployments",), "read"),
    "repos/list-deployment-statuses": (("deployments",), "read"),
    "repos/get-deployment-status": (("deployments",), "read"),
    "issues/create": (("issues",), "write"),
    "issues/update": (("issues", "pull_requests"), "write"),
    "issues/create-comment": (("issues", "pull_requests"), "write"),
    "issues/update-comment": (("issues", "pull_requests"), "write"),
    "issues/delete-comment": (("issues", "pull_requests"), "write"),
    "issues/add-labels": (("issues", "pull_requests"), "write"),
    "issues/set-labels": (("issues", "pull_requests"), "write"),
    "issues/remove-label": (("issues", "pull_requests"), "write"),
    "issues/remove-all-labels": (("issues", "pull_requests"), "write"),
    "issues/create-label": (("issues", "pull_requests"), "write"),
    "issues/update-label": (("issues", "pull_requests"), "write"),
    "issues/delete-label": (("issues", "pull_requests"), "write"),
    "issues/get": (("issues", "pull_requests"), "read"),
    "issues/list-for-repo": (("issues",), "read"),
    "issues/list-comments": (("issues", "pull_requests"), "read"),
    "issues/get-comment": (("issues", "pull_requests"), "read"),
    "pulls/create": (("pull_requests",), "write"),
    "pulls/update": (("pull_requests",), "write"),
    "pulls/merge": (("contents",), "write"),
    "pulls/create-review": (("pull_requests",), "write"),
    "pulls/dismiss-review": (("pull_requests",), "write"),
    "pulls/request-reviewers": (("pull_requests",), "write"),
    "pulls/remove-requested-reviewers": (("pull_requests",), "write"),
    "pulls/list": (("pull_requests",), "read"),
    "pulls/get": (("pull_requests",), "read"),
    "pulls/list-files": (("pull_requests",), "read"),
    "pulls/list-commits": (("pull_requests",), "read"),
    "pulls/list-reviews": (("pull_requests",), "read"),
    "pulls/get-review": (("pull_requests",), "read"),
    "pulls/list-requested-reviewers": (("pull_requests",), "read"),
    "repos/get-content": (("contents",), "read"),
    "repos/list-commits": (("contents",), "read"),
    "repos/get-commit": (("contents",), "read"),
    "repos/compare-commits-with-basehead": (("contents",), "read"),
    "git/get-commit": (("contents",), "read"),
    "git/get-tree": (("contents",), "read"),
    "git/get-blob": (("contents",), "read"),
    "git/get-ref": (("contents",), "read"),
    "repos/update-branch-protection": (("administration",), "write"),
    "repos/delete-branch-protection": (("administration",), "write"),
    "repos/get-branch-protection": (("administration",), "read"),
    "repos/create-repo-ruleset": (("administration",), "write"),
    "repos/update-repo-ruleset": (("administration",), "write"),
    "repos/delete-repo-ruleset": (("administration",), "write"),
    "teams/add-or-update-membership-for-user-in-org": (("members",), "write"),
    "teams/remove-membership-for-user-in-org": (("members",), "write"),
}
# Operations an app authenticates for with its JWT (and only those).
JWT_OPERATIONS = {
    "apps/get-authenticated",
    "apps/list-installations",
    "apps/get-installation",
    "apps/create-installation-access-token",
    "apps/delete-installation",
    "apps/suspend-installation",
    "apps/unsuspend-installation",
    "apps/get-repo-installation",
    "apps/get-org-installation",
    "apps/get-by-slug",
    "apps/get-webhook-config-for-app",
    "apps/update-webhook-config-for-app",
    "apps/list-webhook-deliveries",
    "apps/get-webhook-delivery",
    "apps/redeliver-webhook-delivery",
}


_KEY_LOCK = threading.Lock()


def _private_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: str  # login of the owning account
    bot_login: str  # the account its installation tokens act as, e.g. "gate[bot]"
    permissions: dict[str, str]
    events: list[str]
    client_id: str
    description: str | None = None
    created_at: float = field(default_factory=now)
    _key: Any = None

    @property
    def private_key(self) -> Any:
        """The app's RSA key (made on first use: most sandboxes never sign a JWT). Made once
        under a lock: two threads asking first (clients fetching the key to sign, the server
        verifying) made two keys, and every JWT signed with the other one was refused."""
        if self._key is None:
            with _KEY_LOCK:
                if self._key is None:
                    self._key = _private_key()
        return self._key

    def private_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(
            self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@dataclass
class Installation:
    id: int
    app_id: int
    account: str  # login of the user or organization it is installed on
    repositories: set[str] | None  # lower "owner/name"; None: all the account's repositories
    permissions: dict[str, str]
    events: list[str]
    created_at: float = field(default_factory=now)
    suspended_by: str | None = None  # login of who suspended it (installations.py)
    suspended_at: float | None = None

    def covers(self, repo: Repo) -> bool:
        if repo.owner.lower() != self.account.lower():
            return False
        return self.repositories is None or repo.full_name.lower() in self.repositories


@dataclass
class Token:
    """A credential: who it acts as and what it may do."""

    value: str
    login: str  # the account acting (a user, or an app's bot account)
    permissions: dict[str, str] | None = None  # None: the account's full rights
    repositories: frozenset[str] | None = None  # lower "owner/name"; None: no limit
    expires_at: float | None = None  # None: never
    installation_id: int | None = None

    def expired(self, at: float | None = None) -> bool:
        return self.expires_at is not None and (at or now()) >= self.expires_at


@dataclass
class Credential:
    """What authenticated a request: a token (user or installation) or an app's JWT."""

    login: str | None
    token: Token | None = None
    app: App | None = None  # set for JWT-authenticated requests


class Apps:
    """Registry of apps, installations and tokens of one sandboxed GitHub."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.legacy: set[str] = set()  # lower bot logins added with add_user(bot=True)

    # -- registry ------------------------------------------------------------------
    def create(
        self,
        slug: str,
        owner: str,
        permissions: dict[str, str] | None = None,
        events: list[str] | None = None,
        name: str | None = None,
        bot_login: str | None = None,
        app_id: int | None = None,
    ) -> App:
        """Register an app and its bot account (``<slug>[bot]``)."""
        with self.state.lock:
            if self.by_slug(slug) is not None:
                raise ValueError(f"app {slug} exists")
            if self.state.user(owner) is None:
                raise ValueError(f"no account {owner}")
            from launcher.sandbox.github.state import User

            login = bot_login or f"{slug}[bot]"
            if self.state.user(login) is None:
                self.state.users[login.lower()] = User(
                    self.state.new_id(), login, "", name=login, type="Bot"
                )
            app = App(
                app_id or self.state.new_id(),
                slug,
                name or slug,
                self.state.user(owner).login,  # type: ignore[union-attr]
                self.state.user(login).login,  # type: ignore[union-attr]
                dict(permissions if permissions is not None else DEFAULT_APP_PERMISSIONS),
                list(events or []),
                f"Iv1.{secrets.token_hex(8)}",
            )
            app.permissions.setdefault("metadata", "read")
            self.apps[app.id] = app
            return app

    def by_slug(self, slug: str) -> App | None:
        return next((a for a in self.apps.values() if a.slug.lower() == slug.lower()), None)

    def get(self, slug_or_id: str | int) -> App:
        app = (
            self.apps.get(slug_or_id)
            if isinstance(slug_or_id, int)
            else self.by_slug(slug_or_id)
            or (self.apps.get(int(slug_or_id)) if slug_or_id.isdigit() else None)
        )
        if app is None:
            raise KeyError(f"no app {slug_or_id}")
        return app

    def of_login(self, login: str | None) -> App | None:
        """The app whose bot account is ``login`` (None for people and unknown accounts)."""
        if not login:
            return None
        key = login.lower()
        return next((a for a in self.apps.values() if a.bot_login.lower() == key), None)

    def install(
        self,
        app: App,
        account: str,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> Installation:
        """Install ``app`` on ``account`` (all repositories, or the named ``owner/name``)."""
        with self.state.lock:
            acc = self.state.user(account)
            if acc is None:
                raise ValueError(f"no account {account}")
            for inst in self.installations.values():
                if inst.app_id == app.id and inst.account.lower() == acc.login.lower():
                    raise ValueError(f"{app.slug} is already installed on {account}")
            repos = None
            if repositories is not None:
                repos = {(r if "/" in r else f"{acc.login}/{r}").lower() for r in repositories}
            perms = dict(permissions if permissions is not None else app.permissions)
            perms.setdefault("metadata", "read")  # every installation can read metadata
            inst = Installation(self.state.new_id(), app.id, acc.login, repos, perms, app.events)
            self.installations[inst.id] = inst
            return inst

    def uninstall(self, inst: Installation) -> None:
        """Remove the installation and revoke its tokens (GitHub revokes them at once)."""
        with self.state.lock:
            self.installations.pop(inst.id, None)
            for value in [v for v, t in self.tokens.items() if t.installation_id == inst.id]:
                del self.tokens[value]

    def installation_for(self, app: App, repo: Repo) -> Installation | None:
        return next(
            (i for i in self.installations.values() if i.app_id == app.id and i.covers(repo)),
            None,
        )

    # -- tokens --------------------------------------------------------------------
    def add_token(self, token: Token) -> Token:
        with self.state.lock:
            self.tokens[token.value] = token
            return token

    def mint(
        self,
        inst: Installation,
        permissions: dict[str, str] | None = None,
        repositories: list[str] | None = None,
        ttl: float = TOKEN_TTL,
    ) -> Token:
        """An installation token, narrowed to ``permissions``/``repositories`` if given.

        Asking for more than the installation has is GitHub's 422; a suspended
        installation gets none (403)."""
        if inst.suspended_at is not None:
            raise ApiError(403, SUSPENDED)
        app = self.apps[inst.app_id]
        perms = dict(inst.permissions)
        if permissions is not None:
            # Workflows spell them "pull-requests", "id-token"; apps "pull_requests".
            permissions = {k.replace("-", "_"): v for k, v in permissions.items()}
            for name, level in permissions.items():
                have = inst.permissions.get(name)
                if level not in LEVELS or have is None or LEVELS[level] > LEVELS[have]:
                    raise validation(
                        "The permissions requested are not granted to this installation."
                    )
            perms = dict(permissions)
            perms.setdefault("metadata", "read")
        repos: frozenset[str] | None = (
            frozenset(inst.repositories) if inst.repositories is not None else None
        )
        if repositories is not None:
            wanted = set()
            for r in repositories:
                full = (r if "/" in r else f"{inst.account}/{r}").lower()
                repo = self.state.repos.get(full)
                if repo is None or not inst.covers(repo):
                    raise validation(
                        "There is at least one repository that does not exist or is not "
                        "accessible to the parent installation."
                    )
                wanted.add(full)
            repos = frozenset(wanted)
        value = f"ghs_{secrets.token_urlsafe(27)}"
        return self.add_token(
            Token(value, app.bot_login, perms, repos, now() + ttl, installation_id=inst.id)
        )

    def installation_token(
        self,
        slug_or_id: str | int,
        repo: Repo | None = None,
        permissions: dict[str, str] | None = None,
        ttl: float = TOKEN_TTL,
    ) -> Token:
        """Mint a token for the app's installation covering ``repo`` (installing the app on
        the repository's owner first if it is not installed there), limited to ``repo``."""
        app = self.get(slug_or_id)
        inst = None
        if repo is not None:
            inst = self.installation_for(app, repo)
            if inst is None:
                inst = self.install(app, repo.owner)
        else:
            inst = next((i for i in self.installations.values() if i.app_id == app.id), None)
            if inst is None:
                raise KeyError(f"{app.slug} has no installation")
        return self.mint(inst, permissions, [repo.full_name] if repo else None, ttl)

    def github_actions(self) -> App:
        """The ``github-actions`` app (GITHUB_TOKEN's identity), created on first use."""
        app = self.by_slug("github-actions")
        if app is not None:
            return app
        if self.state.user("github") is None:
            from launcher.sandbox.github.state import Org, User

            user = User(self.state.new_id(), "github", "", name="GitHub", type="Organization")
            self.state.users["github"] = user
            self.state.orgs["github"] = Org(user)
        perms = {
            **DEFAULT_APP_PERMISSIONS,
            "actions": "write",
            "packages": "write",
            "pages": "write",
            "security_events": "write",
            "id_token": "write",
        }
        return self.create(
            "github-actions", "github", perms, name="GitHub Actions", app_id=GITHUB_ACTIONS_ID
        )

    def legacy_bot(self, login: str, token: str) -> App:
        """``add_user(bot=True)``: an app named after ``login`` installed everywhere, whose
        never-expiring token has the app's full rights (as the stand-in's bots always had)."""
        slug = login.removesuffix("[bot]")
        app = self.create(slug, login, bot_login=login) if self.by_slug(slug) is None else None
        if app is None:
            app = self.create(f"{slug}-{self.state.new_id()}", login, bot_login=login)
        self.legacy.add(login.lower())
        return app

    # -- authentication -----------------------------------------------------------------
    def authenticate(self, credential: str) -> Credential:
        """Resolve an ``Authorization`` credential; 401 with GitHub's message if invalid."""
        if credential.count(".") == 2:
            return Credential(None, app=self._verify_jwt(credential))
        record = self.tokens.get(credential)
        if record is not None:
            if record.expired():
                raise ApiError(401, "Bad credentials")
            inst = self.installations.get(record.installation_id or 0)
            if inst is not None and inst.suspended_at is not None:
                raise ApiError(403, SUSPENDED)
            return Credential(self.state.users[record.login.lower()].login, record)
        login = self.state.tokens.get(credential)
        if login is None:
            raise ApiError(401, "Bad credentials")
        return Credential(self.state.users[login].login)

    def _verify_jwt(self, encoded: str) -> App:
        import jwt

        try:
            claims = jwt.decode(encoded, options={"verify_signature": False})
            header = jwt.get_unverified_header(encoded)
        except jwt.PyJWTError:
            raise ApiError(401, BAD_JWT) from None
        iss = str(claims.get("iss", ""))
        app = next((a for a in self.apps.values() if str(a.id) == iss or a.client_id == iss), None)
        if app is None or header.get("alg") != "RS256":
            raise ApiError(401, BAD_JWT)
        try:
            jwt.decode(
                encoded,
                app.private_key.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise ApiError(401, BAD_JWT) from None
        # GitHub's clock. Here two clocks sign: jobs run on the sandbox clock (libfaketime),
        # clients in the test process on the OS clock; a JWT valid on either is accepted, the
        # sandbox clock's refusal is the one reported.
        refused, on_os_clock = (self._jwt_time_error(claims, t) for t in (now(), time.time()))
        if refused is not None and on_os_clock is not None:
            raise refused
        return app

    @staticmethod
    def _jwt_time_error(claims: dict[str, Any], t: float) -> ApiError | None:
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > t + JWT_CLOCK_DRIFT:
            return ApiError(401, IAT_BAD)
        if not isinstance(exp, (int, float)) or exp <= t:
            return ApiError(401, EXP_PAST)
        # GitHub measures exp against its own clock, not against iat: its documented
        # recipe (iat 60 s back, exp 10 minutes ahead) spans 11 minutes and is accepted.
        if exp > t + JWT_MAX_LIFETIME:
            return ApiError(401, EXP_TOO_FAR)
        return None

    def jwt(self, app: App, iat: int | None = None, exp: int | None = None, key: Any = None) -> str:
        """An app JWT as an app would sign it (``iat`` 60 s back, ``exp`` 9 minutes on)."""
        import jwt

        t = int(now())
        iat = t - 60 if iat is None else iat
        exp = iat + 540 if exp is None else exp
        return jwt.encode(
            {"iat": iat, "exp": exp, "iss": str(app.id)},
            key if key is not None else app.private_key,
            algorithm="RS256",
        )

    # -- authorization ------------------------------------------------------------------
    def authorize(
        self, cred: Credential | None, operation: str, repo: Repo | None, method: str = "GET"
    ) -> None:
        """Refuse what the credential may not do on this operation (GitHub's 401/403/404)."""
        if cred is None:
            return
        if cred.app is not None:
            if operation not in JWT_OPERATIONS:
                raise ApiError(
                    401,
                    "A JSON web token could not be used to access this resource; "
                    "use an installation access token.",
                )
            return
        token = cred.token
        if token is None:
            if operation in JWT_OPERATIONS - {"apps/get-by-slug"}:
                raise ApiError(
                    401,
                    "A JSON web token is required to access this endpoint; "
                    "authenticate as the GitHub App.",
                )
            return
        inst = self.installations.get(token.installation_id or 0)
        if repo is not None and (
            (token.repositories is not None and repo.full_name.lower() not in token.repositories)
            # a repository removed from the installation since the token was minted
            or (inst is not None and not inst.covers(repo))
        ):
            if repo.private:
                raise ApiError(404, "Not Found")
            needed = OPERATION_PERMISSIONS.get(operation)
            write = needed[1] != "read" if needed is not None else method not in ("GET", "HEAD")
            if write:
                raise ApiError(403, NOT_ACCESSIBLE)
        if token.permissions is not None:
            names, level = OPERATION_PERMISSIONS.get(operation, ((), ""))
            if not names:
                if repo is None:
                    return
                # Unlisted reads need metadata; unlisted writes (refs, contents) contents.
                read = method in ("GET", "HEAD")
                names, level = (("metadata",), "read") if read else (("contents",), "write")
            if not any(LEVELS.get(token.permissions.get(n, ""), 0) >= LEVELS[level] for n in names):
                raise ApiError(403, NOT_ACCESSIBLE)

    def bot_permission(self, repo: Repo, login: str) -> str | None:
        """A bot account's permission on ``repo``: write where its app is installed."""
        if login.lower() in self.legacy:
            return "write"
        app = self.of_login(login)
        if app is None:
            return "write"  # a Bot account outside any app (seeded by hand)
        inst = self.installation_for(app, repo)
        if inst is None:
            return None
        return "admin" if inst.permissions.get("administration") == "write" else "write"

    # -- shapes ------------------------------------------------------------------------
    def integration(self, app: App, base: str, shapes: Any) -> dict[str, Any]:
        """GitHub's ``integration`` object (a check run's ``app``, ``performed_via_github_app``)."""
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": f"A_kwDO{app.id}",
            "client_id": app.client_id,
            "owner": shapes.simple_user(app.owner),
            "name": app.name,
            "description": app.description,
            "external_url": f"{base}/apps/{app.slug}",
            "html_url": f"{base}/apps/{app.slug}",
            "created_at": iso(app.created_at),
            "updated_at": iso(app.created_at),
            "permissions": dict(app.permissions),
            "events": list(app.events),
        }

    def installation_json(self, inst: Installation, base: str, shapes: Any) -> dict[str, Any]:
        app = self.apps[inst.app_id]
        acc = self.state.user(inst.account)
        assert acc is not None
        return {
            "id": inst.id,
            "account": shapes.simple_user(acc.login),
            "repository_selection": "all" if inst.repositories is None else "selected",
            "access_tokens_url": f"{base}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{base}/installation/repositories",
            "html_url": f"{base}/settings/installations/{inst.id}",
            "app_id": app.id,
            "client_id": app.client_id,
            "app_slug": app.slug,
            "target_id": acc.id,
            "target_type": acc.type,
            "permissions": dict(inst.permissions),
            "events": list(inst.events),
            "created_at": iso(inst.created_at),
            "updated_at": iso(inst.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": shapes.simple_user(inst.suspended_by) if inst.suspended_by else None,
            "suspended_at": iso(inst.suspended_at) if inst.suspended_at is not None else None,
        }
