"""Deployment environments: protection rules, deployment branch policies and their secrets.

Why: a privileged job (one that launches on AWS) should get its credentials only on the
branches its environment allows. GitHub evaluates an environment's deployment branch policy
against the ref the job runs on (since 2025-12-08: ``refs/pull/N/merge`` for pull_request and
review events, the default branch for pull_request_target), and a job on a ref the policy
refuses never starts, so it never sees the environment's secrets. The local runner asks
`allows()` before it starts such a job; `launcher doctor` (later) reads the REST endpoints.

REST (as documented): ``GET /repos/{o}/{r}/environments``, ``GET|PUT|DELETE
.../environments/{name}``, ``GET|POST .../environments/{name}/deployment-branch-policies``,
``GET|PUT|DELETE .../deployment-branch-policies/{id}``, ``GET .../environments/{name}/secrets``
(names only). Secret values are set from Python (`GitHubSandbox.set_environment_secret`):
GitHub's PUT takes a libsodium-sealed value, which the stand-in does not model.

Not modelled: required reviewers and wait timers hold a job on GitHub; they are stored and
answered, and the local runner refuses to start a job that would wait (fail closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.shapes import node_id
from launcher.sandbox.github.state import Repo, iso, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub

R = "/repos/{owner}/{repo}"
ENV = R + "/environments/{environment_name}"


@dataclass
class BranchPolicy:
    id: int
    name: str  # a pattern, Ruby File.fnmatch syntax (`*` stops at `/`)
    type: str = "branch"  # branch | tag

    def matches(self, ref: str) -> bool:
        prefix = "refs/heads/" if self.type == "branch" else "refs/tags/"
        if not ref.startswith(prefix):
            return False
        return _fnmatch(self.name).fullmatch(ref.removeprefix(prefix)) is not None


@dataclass
class Secret:
    value: str
    created_at: float
    updated_at: float


@dataclass
class Environment:
    id: int
    name: str
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    wait_timer: int = 0
    prevent_self_review: bool = False
    reviewers: list[tuple[str, str]] = field(default_factory=list)  # (User|Team, login/slug)
    # None: any branch may deploy; else exactly one of the two is true.
    protected_branches: bool | None = None
    custom_branch_policies: bool = False
    policies: dict[int, BranchPolicy] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    rule_ids: dict[str, int] = field(default_factory=dict)


@dataclass
class Environments:
    """Every repository's environments, keyed by lower("owner/name"), then lower(env name)."""

    by_repo: dict[str, dict[str, Environment]] = field(default_factory=dict)

    def of(self, repo: Repo) -> dict[str, Environment]:
        return self.by_repo.setdefault(repo.full_name.lower(), {})

    def get(self, repo: Repo, name: str) -> Environment | None:
        return self.of(repo).get(name.lower())


def _fnmatch(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def allows(
    gh: GitHub, repo: Repo, env: Environment, ref: str, protected: bool = False
) -> str | None:
    """None when a job on ``ref`` may use ``env``; else GitHub's refusal message.

    ``protected``: whether ``ref`` is a branch under branch protection (only then does a
    ``protected_branches`` policy let it deploy, unless no branch of the repository is
    protected: then every branch may; ``refs/pull/N/merge`` is no branch).
    """
    if env.protected_branches is None:
        return None
    if env.protected_branches:
        # "If no branch protection rules are defined for any branch in the repository,
        # then all branches can deploy" (GitHub's environments docs).
        ok = ref.startswith("refs/heads/") and (protected or not any_protected(gh, repo))
    else:
        ok = any(p.matches(ref) for p in env.policies.values())
    if ok:
        return None
    kind = "Tag" if ref.startswith("refs/tags/") else "Branch"
    name = re.sub(r"^refs/(heads|tags)/", "", ref)
    return (
        f'{kind} "{name}" is not allowed to deploy to {env.name} due to environment '
        "protection rules."
    )


def any_protected(gh: GitHub, repo: Repo) -> bool:
    """Whether any branch of ``repo`` is under classic protection or an active ruleset."""
    rules = gh.rules
    if rules.protections.get(repo.full_name.lower()):
        return True
    return any(rules.sources(repo, branch) for branch in repo.branches)


def on_event(gh: GitHub, event: Any) -> None:
    """Event listener: creating a deployment for an environment that does not exist creates
    it (no protection rules), as GitHub does; so does a job naming one (see the runner)."""
    if event.event != "deployment" or event.action != "created":
        return
    name = str((event.payload.get("deployment") or {}).get("environment") or "")
    full = str((event.payload.get("repository") or {}).get("full_name") or "")
    owner, _, repo_name = full.partition("/")
    repo = gh.state.repo(owner, repo_name)
    if repo is not None and name and gh.actions_environments.get(repo, name) is None:
        with gh.state.lock:
            put_environment(gh, repo, name, {})


# -- shapes -----------------------------------------------------------------------------------
def environment_json(gh: GitHub, repo: Repo, env: Environment) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []

    def rule_id(kind: str) -> int:
        if kind not in env.rule_ids:
            env.rule_ids[kind] = gh.state.new_id()
        return env.rule_ids[kind]

    if env.wait_timer:
        i = rule_id("wait_timer")
        rules.append(
            {
                "id": i,
                "node_id": node_id("GA", i),
                "type": "wait_timer",
                "wait_timer": env.wait_timer,
            }
        )
    if env.reviewers:
        i = rule_id("required_reviewers")
        reviewers: list[dict[str, Any]] = []
        for kind, who in env.reviewers:
            if kind == "User":
                reviewers.append({"type": "User", "reviewer": gh.shapes.simple_user(who)})
            else:
                team = gh.state.orgs[repo.owner.lower()].teams[who.lower()]
                reviewers.append({"type": "Team", "reviewer": gh.shapes.team(team)})
        rules.append(
            {
                "id": i,
                "node_id": node_id("GA", i),
                "type": "required_reviewers",
                "prevent_self_review": env.prevent_self_review,
                "reviewers": reviewers,
            }
        )
    if env.protected_branches is not None:
        i = rule_id("branch_policy")
        rules.append({"id": i, "node_id": node_id("GA", i), "type": "branch_policy"})
    policy = (
        None
        if env.protected_branches is None
        else {
            "protected_branches": env.protected_branches,
            "custom_branch_policies": env.custom_branch_policies,
        }
    )
    base = gh.shapes.base
    return {
        "id": env.id,
        "node_id": node_id("EN", env.id),
        "name": env.name,
        "url": f"{base}/repos/{repo.full_name}/environments/{quote(env.name, safe='')}",
        "html_url": f"{base}/{repo.full_name}/deployments/activity_log?environments_filter="
        + quote(env.name, safe=""),
        "created_at": iso(env.created_at),
        "updated_at": iso(env.updated_at),
        "protection_rules": rules,
        "deployment_branch_policy": policy,
    }


def policy_json(p: BranchPolicy) -> dict[str, Any]:
    return {"id": p.id, "node_id": node_id("DBP", p.id), "name": p.name, "type": p.type}


# -- behaviour (shared by REST and Python seeding) ------------------------------------------
def put_environment(gh: GitHub, repo: Repo, name: str, body: dict[str, Any]) -> Environment:
    """Create or update ``name`` as PUT .../environments/{name} does."""
    if not name or len(name) > 255:
        raise validation("Validation Failed", resource="Environment", field="name", code="invalid")
    policy = body.get("deployment_branch_policy", ...)
    wait = body.get("wait_timer")
    if wait is not None and not (isinstance(wait, int) and 0 <= wait <= 43200):
        raise ApiError(422, "Wait timer must be between 0 and 43200 minutes")
    reviewers = body.get("reviewers")
    parsed: list[tuple[str, str]] | None = None
    if reviewers is not None:
        parsed = []
        for entry in reviewers or []:
            kind, ident = (entry or {}).get("type"), (entry or {}).get("id")
            parsed.append(_reviewer(gh, repo, str(kind), ident))
        if len(parsed) > 6:
            raise ApiError(422, "A maximum of 6 reviewers is allowed")
    if policy is not ... and policy is not None:
        if not isinstance(policy, dict):
            raise ApiError(422, "Invalid deployment_branch_policy")
        protected = policy.get("protected_branches")
        custom = policy.get("custom_branch_policies")
        if not isinstance(protected, bool) or not isinstance(custom, bool) or protected == custom:
            raise ApiError(
                422,
                "Exactly one of protected_branches or custom_branch_policies must be true "
                "in deployment_branch_policy",
            )
    with gh.state.lock:
        envs = gh.actions_environments.of(repo)
        env = envs.get(name.lower())
        if env is None:
            env = envs[name.lower()] = Environment(gh.state.new_id(), name)
        if wait is not None:
            env.wait_timer = wait
        if "prevent_self_review" in body:
            env.prevent_self_review = bool(body["prevent_self_review"])
        if parsed is not None:
            env.reviewers = parsed
        if policy is None:
            env.protected_branches, env.custom_branch_policies = None, False
            env.policies.clear()
        elif policy is not ...:
            env.protected_branches = bool(policy["protected_branches"])
            env.custom_branch_policies = bool(policy["custom_branch_policies"])
            if not env.custom_branch_policies:
                env.policies.clear()
        env.updated_at = now()
        return env


def _reviewer(gh: GitHub, repo: Repo, kind: str, ident: Any) -> tuple[str, str]:
    if kind == "User":
        for user in gh.state.users.values():
            if user.id == ident and user.type != "Organization":
                return "User", user.login
    elif kind == "Team":
        org = gh.state.orgs.get(repo.owner.lower())
        for team in org.teams.values() if org else []:
            if team.id == ident:
                return "Team", team.slug
    raise ApiError(422, f"Invalid reviewer: {kind} {ident}")


def add_policy(gh: GitHub, repo: Repo, env: Environment, name: object, kind: str) -> BranchPolicy:
    if not env.custom_branch_policies:
        raise not_found()
    if kind not in ("branch", "tag") or not isinstance(name, str) or not name:
        raise validation("Validation Failed", resource="DeploymentBranchPolicy", code="invalid")
    with gh.state.lock:
        for existing in env.policies.values():
            if existing.name == name and existing.type == kind:
                raise validation(
                    "Validation Failed",
                    resource="DeploymentBranchPolicy",
                    field="name",
                    code="already_exists",
                )
        policy = BranchPolicy(gh.state.new_id(), name, kind)
        env.policies[policy.id] = policy
        return policy


# -- REST --------------------------------------------------------------------------------------
def register(router: Router) -> None:  # noqa: C901 - a flat list of routes
    def repo_of(req: Request) -> Repo:
        return req.gh.get_repo(req.params["owner"], req.params["repo"], req.user)

    def env_of(req: Request, repo: Repo) -> Environment:
        env = req.gh.actions_environments.get(repo, req.params["environment_name"])
        if env is None:
            raise not_found()
        return env

    def need_admin(req: Request, repo: Repo) -> None:
        req.gh.require(repo, req.user, "admin")

    @router.add("GET", R + "/environments", "repos/get-all-environments")
    def list_envs(req: Request) -> Response:
        repo = repo_of(req)
        envs = sorted(req.gh.actions_environments.of(repo).values(), key=lambda e: e.name.lower())
        response = req.paginate(
            envs, lambda chunk: [environment_json(req.gh, repo, e) for e in chunk]
        )
        response.body = {"total_count": len(envs), "environments": response.body}
        return response

    @router.add("GET", ENV, "repos/get-environment")
    def get_env(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, environment_json(req.gh, repo, env_of(req, repo)))

    @router.add("PUT", ENV, "repos/create-or-update-environment")
    def put_env(req: Request) -> Response:
        repo = repo_of(req)
        need_admin(req, repo)
        env = put_environment(req.gh, repo, req.params["environment_name"], req.json())
        return Response(200, environment_json(req.gh, repo, env))

    @router.add("DELETE", ENV, "repos/delete-an-environment")
    def delete_env(req: Request) -> Response:
        repo = repo_of(req)
        need_admin(req, repo)
        env = env_of(req, repo)
        with req.gh.state.lock:
            req.gh.actions_environments.of(repo).pop(env.name.lower(), None)
        return Response(204)

    policies = ENV + "/deployment-branch-policies"

    @router.add("GET", policies, "repos/list-deployment-branch-policies")
    def list_policies(req: Request) -> Response:
        repo = repo_of(req)
        env = env_of(req, repo)
        items = sorted(env.policies.values(), key=lambda p: p.id)
        response = req.paginate(items, lambda chunk: [policy_json(p) for p in chunk])
        response.body = {"total_count": len(items), "branch_policies": response.body}
        return response

    @router.add("POST", policies, "repos/create-deployment-branch-policy")
    def create_policy(req: Request) -> Response:
        repo = repo_of(req)
        need_admin(req, repo)
        body = req.json()
        policy = add_policy(
            req.gh, repo, env_of(req, repo), body.get("name"), body.get("type") or "branch"
        )
        return Response(200, policy_json(policy))

    def policy_of(req: Request, env: Environment) -> BranchPolicy:
        policy = env.policies.get(req.int_param("branch_policy_id"))
        if policy is None:
            raise not_found()
        return policy

    @router.add("GET", policies + "/{branch_policy_id}", "repos/get-deployment-branch-policy")
    def get_policy(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, policy_json(policy_of(req, env_of(req, repo))))

    @router.add("PUT", policies + "/{branch_policy_id}", "repos/update-deployment-branch-policy")
    def update_policy(req: Request) -> Response:
        repo = repo_of(req)
        need_admin(req, repo)
        policy = policy_of(req, env_of(req, repo))
        name = req.json().get("name")
        if not isinstance(name, str) or not name:
            raise validation("Validation Failed", resource="DeploymentBranchPolicy", field="name")
        policy.name = name
        return Response(200, policy_json(policy))

    @router.add("DELETE", policies + "/{branch_policy_id}", "repos/delete-deployment-branch-policy")
    def delete_policy(req: Request) -> Response:
        repo = repo_of(req)
        need_admin(req, repo)
        env = env_of(req, repo)
        env.policies.pop(policy_of(req, env).id)
        return Response(204)

    @router.add("GET", ENV + "/secrets", "actions/list-environment-secrets")
    def list_secrets(req: Request) -> Response:
        repo = repo_of(req)
        req.gh.require(repo, req.user, "write")  # collaborators with write may list names
        env = env_of(req, repo)
        items = sorted(env.secrets.items())
        response = req.paginate(
            items,
            lambda chunk: [
                {"name": n, "created_at": iso(s.created_at), "updated_at": iso(s.updated_at)}
                for n, s in chunk
            ],
        )
        response.body = {"total_count": len(items), "secrets": response.body}
        return response
