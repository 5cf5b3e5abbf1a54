"""Reading a repository's settings for `launcher doctor`: rulesets, CODEOWNERS, environments,
workflows and the OIDC subject template, through the API as they are now.

Each part is read on its own; one GitHub refuses is recorded as unreadable (its guarantee
fails with the reason), never taken as "not set". A private repository whose plan offers no
rulesets is recognised by GitHub's own answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from launcher.adapters.github import GitHub, GitHubError, _wrap
from launcher.core.doctor import ENVIRONMENTS, Environment, RepoSettings, blob_sha

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's order
WORKFLOWS = ".github/workflows/"
UPGRADE_HINT = "Upgrade to GitHub Pro"


def _get(gh: GitHub, path: str, params: dict[str, Any] | None = None) -> Any:
    requester = gh.repo._requester  # noqa: SLF001 - PyGithub has no wrapper for these
    _, data = requester.requestJsonAndCheck("GET", f"{gh.repo.url}{path}", parameters=params)
    return data


def _message(exc: Exception) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and data.get("message"):
        return f"{getattr(exc, 'status', '')} {data['message']}".strip()
    return str(exc)


@_wrap("reading the repository")
def read_settings(gh: GitHub, pinned: Mapping[str, bytes], app_id: int | None) -> RepoSettings:
    from github import GithubException

    repo = gh.repo
    s = RepoSettings(repo.full_name, repo.default_branch, bool(repo.private), pinned=pinned)
    s.app_id = app_id
    branch = s.default_branch
    try:
        active = {
            r["id"]
            for r in _get(gh, "/rulesets", {"per_page": 100})
            if r.get("enforcement") == "active"
        }
        rules = _get(gh, f"/rules/branches/{quote(branch)}", {"per_page": 100})
        s.rules = [r for r in rules if r.get("ruleset_id") in active]
    except GithubException as exc:
        message = _message(exc)
        if exc.status == 403 and UPGRADE_HINT in message and s.private:
            s.plan_refused = message
            return s
        s.errors["rulesets"] = message
    for path in CODEOWNERS_PATHS:
        content = gh.read_file(path, branch)
        if content is not None:
            s.codeowners = content.decode("utf-8", "replace")
            break
    try:
        s.environments = _environments(gh)
    except GithubException as exc:
        s.errors["environments"] = _message(exc)
    try:
        head = repo.get_branch(branch).commit.sha
        tree = gh.tree(head)
        s.workflows = {
            path: sha
            for path, sha in tree.items()
            if path.startswith(WORKFLOWS) and path.endswith((".yml", ".yaml"))
        }
        shipped = {blob_sha(content) for content in pinned.values()}
        s.workflow_texts = {
            path: gh.blob(sha).decode("utf-8", "replace")
            for path, sha in s.workflows.items()
            if sha not in shipped
        }
    except (GithubException, GitHubError) as exc:
        s.errors["workflows"] = _message(exc)
    try:
        s.oidc = _get(gh, "/actions/oidc/customization/sub")
    except GithubException as exc:
        s.errors["the OIDC subject settings"] = _message(exc)
    return s


def _environments(gh: GitHub) -> dict[str, Environment]:
    found: dict[str, Environment] = {}
    listed = _get(gh, "/environments", {"per_page": 100}).get("environments") or []
    for env in listed:
        name = env.get("name")
        if name not in ENVIRONMENTS:
            continue
        policy = env.get("deployment_branch_policy") or {}
        custom = bool(policy.get("custom_branch_policies"))
        policies: tuple[tuple[str, str], ...] = ()
        if custom:
            listed_policies = _get(
                gh, f"/environments/{quote(name)}/deployment-branch-policies", {"per_page": 100}
            ).get("branch_policies")
            policies = tuple(
                (str(p.get("type") or "branch"), str(p.get("name"))) for p in listed_policies or []
            )
        found[name] = Environment(
            name, bool(policy.get("protected_branches")), custom, tuple(sorted(policies))
        )
    return found
