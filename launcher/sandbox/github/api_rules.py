"""Branch protection, ruleset and branch-rules endpoints (the state lives in ``rules.py``)."""

from __future__ import annotations

import zlib
from typing import Any

from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found
from launcher.sandbox.github.rules import Rules, Ruleset
from launcher.sandbox.github.state import Repo, iso

NOT_PROTECTED = "Branch not protected"
UPGRADE = "Upgrade to GitHub Pro or make this repository public to enable this feature."


def need_plan(req: Request, repo: Repo) -> None:
    """GitHub Free offers branch protection and rulesets for public repositories only: for a
    private repository of an owner on Free, these endpoints answer 403 with GitHub's text."""
    if repo.private and repo.owner.lower() in req.gh.free_plan_owners:
        raise ApiError(403, UPGRADE)


def _flag(value: Any) -> bool:
    return bool(value.get("enabled")) if isinstance(value, dict) else bool(value)


def protection_json(req: Request, repo: Repo, branch: str, p: dict[str, Any]) -> dict[str, Any]:
    """GitHub's ``protected-branch`` / ``branch-protection`` body for a stored PUT body."""
    url = f"{req.base_url}/repos/{repo.full_name}/branches/{branch}/protection"
    shapes = req.gh.shapes
    out: dict[str, Any] = {
        "url": url,
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
        "enforce_admins": {
            "url": f"{url}/enforce_admins",
            "enabled": _flag(p.get("enforce_admins")),
        },
        "required_linear_history": {"enabled": _flag(p.get("required_linear_history"))},
        "allow_force_pushes": {"enabled": _flag(p.get("allow_force_pushes"))},
        "allow_deletions": {"enabled": _flag(p.get("allow_deletions"))},
        "block_creations": {"enabled": _flag(p.get("block_creations"))},
        "required_conversation_resolution": {
            "enabled": _flag(p.get("required_conversation_resolution"))
        },
        "lock_branch": {"enabled": _flag(p.get("lock_branch"))},
        "allow_fork_syncing": {"enabled": _flag(p.get("allow_fork_syncing"))},
    }
    checks = p.get("required_status_checks")
    if checks is not None:
        pinned = checks.get("checks")
        if pinned is None:
            pinned = [{"context": c, "app_id": None} for c in checks.get("contexts") or []]
        out["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": bool(checks.get("strict")),
            "contexts": [c["context"] for c in pinned],
            "checks": [{"context": c["context"], "app_id": c.get("app_id")} for c in pinned],
            "contexts_url": f"{url}/required_status_checks/contexts",
        }
    reviews = p.get("required_pull_request_reviews")
    if reviews is not None:
        allow = reviews.get("bypass_pull_request_allowances") or {}
        org = req.gh.state.orgs.get(repo.owner.lower())
        out["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")),
            "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews")),
            "required_approving_review_count": int(
                reviews.get("required_approving_review_count", 1)
            ),
            "require_last_push_approval": bool(reviews.get("require_last_push_approval")),
            "bypass_pull_request_allowances": {
                "users": [
                    shapes.simple_user(u) for u in allow.get("users") or [] if req.gh.state.user(u)
                ],
                "teams": [
                    shapes.team(org.teams[t.lower()])
                    for t in allow.get("teams") or []
                    if org and t.lower() in org.teams
                ],
            },
        }
    if p.get("restrictions") is not None:
        r = p["restrictions"]
        out["restrictions"] = {
            "url": f"{url}/restrictions",
            "users_url": f"{url}/restrictions/users",
            "teams_url": f"{url}/restrictions/teams",
            "apps_url": f"{url}/restrictions/apps",
            "users": [shapes.simple_user(u) for u in r.get("users") or [] if req.gh.state.user(u)],
            "teams": [],
            "apps": [],
        }
    return out


def ruleset_json(req: Request, repo: Repo, rs: Ruleset, full: bool = True) -> dict[str, Any]:
    api = f"{req.base_url}/repos/{repo.full_name}/rulesets/{rs.id}"
    out: dict[str, Any] = {
        "id": rs.id,
        "name": rs.name,
        "target": rs.target,
        "source_type": "Repository",
        "source": repo.full_name,
        "enforcement": rs.enforcement,
        "node_id": f"RRS_kwDO{rs.id}",
        "_links": {
            "self": {"href": api},
            "html": {"href": f"{req.base_url}/{repo.full_name}/rules/{rs.id}"},
        },
        "created_at": iso(rs.created_at),
        "updated_at": iso(rs.updated_at),
    }
    if full:
        rules: Rules = req.gh.rules
        user = req.user
        mode = "never"
        if user is not None:
            for entry in rs.bypass_actors:
                if rules.is_actor(repo, user, entry):
                    mode = (
                        "always"
                        if entry.get("bypass_mode") != "pull_request"
                        else ("pull_requests_only")
                    )
                    break
        can_admin = user is not None and req.gh.state.can(repo, user, "admin")
        out.update(
            bypass_actors=[dict(a) for a in rs.bypass_actors] if can_admin else [],
            current_user_can_bypass=mode,
            conditions=rs.conditions,
            rules=[dict(r) for r in rs.rules],
        )
    return out


def register(router: Router) -> None:  # noqa: C901 - a flat list of routes
    B = f"{R}/branches/{{branch}}/protection"

    def admin(req: Request, repo: Repo) -> str:
        return req.gh.require(
            repo, req.user, "admin", "Resource not accessible by personal access token"
        )

    def emit_rule(req: Request, repo: Repo, branch: str, action: str) -> None:
        p = req.gh.rules.protection(repo, branch) or {}
        reviews = p.get("required_pull_request_reviews")
        checks = p.get("required_status_checks")
        enforce = "everyone" if _flag(p.get("enforce_admins")) else "non_admins"

        def level(on: bool) -> str:
            return enforce if on else "off"

        ts = iso(repo.updated_at)
        rule = {
            "id": zlib.crc32(f"{repo.full_name}:{branch}".encode()),  # stable per branch
            "repository_id": repo.id,
            "name": branch,
            "created_at": ts,
            "updated_at": ts,
            "pull_request_reviews_enforcement_level": level(reviews is not None),
            "required_approving_review_count": int(
                (reviews or {}).get("required_approving_review_count", 0)
            ),
            "dismiss_stale_reviews_on_push": bool((reviews or {}).get("dismiss_stale_reviews")),
            "require_code_owner_review": bool((reviews or {}).get("require_code_owner_reviews")),
            "require_last_push_approval": bool((reviews or {}).get("require_last_push_approval")),
            "authorized_dismissal_actors_only": False,
            "ignore_approvals_from_contributors": False,
            "required_status_checks": [c for c, _ in Rules._from_protection(p).checks],
            "required_status_checks_enforcement_level": level(checks is not None),
            "strict_required_status_checks_policy": bool((checks or {}).get("strict")),
            "signature_requirement_enforcement_level": "off",
            "linear_history_requirement_enforcement_level": level(
                _flag(p.get("required_linear_history"))
            ),
            "lock_branch_enforcement_level": level(_flag(p.get("lock_branch"))),
            "admin_enforced": _flag(p.get("enforce_admins")),
            "allow_force_pushes_enforcement_level": "off"
            if _flag(p.get("allow_force_pushes"))
            else "everyone",
            "allow_deletions_enforcement_level": "off"
            if _flag(p.get("allow_deletions"))
            else "everyone",
            "merge_queue_enforcement_level": "off",
            "required_deployments_enforcement_level": "off",
            "required_conversation_resolution_level": "off",
            "authorized_actors_only": False,
            "authorized_actor_names": [],
        }
        req.gh._emit("branch_protection_rule", repo, req.user or "", action=action, rule=rule)

    @router.add("GET", B, "repos/get-branch-protection")
    def get_protection(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        admin(req, repo)
        branch = req.params["branch"]
        p = req.gh.rules.protection(repo, branch)
        if p is None:
            raise ApiError(404, NOT_PROTECTED)
        out = protection_json(req, repo, branch, p)
        out.update(
            name=branch,
            enabled=True,
            protection_url=out["url"],
        )
        return Response(200, out)

    @router.add("PUT", B, "repos/update-branch-protection")
    def put_protection(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        admin(req, repo)
        branch = req.params["branch"]
        existed = req.gh.rules.protection(repo, branch) is not None
        stored = req.gh.rules.set_protection(repo, branch, req.json())
        emit_rule(req, repo, branch, "edited" if existed else "created")
        return Response(200, protection_json(req, repo, branch, stored))

    @router.add("DELETE", B, "repos/delete-branch-protection")
    def delete_protection(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        admin(req, repo)
        branch = req.params["branch"]
        if req.gh.rules.protection(repo, branch) is None:
            raise ApiError(404, NOT_PROTECTED)
        emit_rule(req, repo, branch, "deleted")
        req.gh.rules.delete_protection(repo, branch)
        return Response(204)

    # -- rulesets ------------------------------------------------------------------------
    def ruleset_of(req: Request, repo: Repo) -> Ruleset:
        rs = req.gh.rules.repo_rulesets(repo).get(req.int_param("ruleset_id"))
        if rs is None:
            raise not_found()
        return rs

    @router.add("GET", f"{R}/rulesets", "repos/get-repo-rulesets")
    def list_rulesets(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        items = sorted(req.gh.rules.repo_rulesets(repo).values(), key=lambda r: r.id)
        return req.paginate([ruleset_json(req, repo, r, full=False) for r in items])

    @router.add("POST", f"{R}/rulesets", "repos/create-repo-ruleset")
    def create_ruleset(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        admin(req, repo)
        rs = req.gh.rules.save_ruleset(repo, req.json())
        out = ruleset_json(req, repo, rs)
        req.gh._emit("repository_ruleset", repo, req.user or "", action="created",
                     repository_ruleset=out)  # fmt: skip
        return Response(201, out)

    @router.add("GET", f"{R}/rulesets/{{ruleset_id}}", "repos/get-repo-ruleset")
    def get_ruleset(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        return Response(200, ruleset_json(req, repo, ruleset_of(req, repo)))

    @router.add("PUT", f"{R}/rulesets/{{ruleset_id}}", "repos/update-repo-ruleset")
    def update_ruleset(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        admin(req, repo)
        rs = ruleset_of(req, repo)
        before = (rs.name, rs.enforcement)
        req.gh.rules.save_ruleset(repo, req.json(), rs)
        out = ruleset_json(req, repo, rs)
        changes: dict[str, Any] = {}
        if before[0] != rs.name:
            changes["name"] = {"from": before[0]}
        if before[1] != rs.enforcement:
            changes["enforcement"] = {"from": before[1]}
        req.gh._emit("repository_ruleset", repo, req.user or "", action="edited",
                     repository_ruleset=out, changes=changes)  # fmt: skip
        return Response(200, out)

    @router.add("DELETE", f"{R}/rulesets/{{ruleset_id}}", "repos/delete-repo-ruleset")
    def delete_ruleset(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        admin(req, repo)
        rs = ruleset_of(req, repo)
        out = ruleset_json(req, repo, rs)
        del req.gh.rules.repo_rulesets(repo)[rs.id]
        req.gh._emit("repository_ruleset", repo, req.user or "", action="deleted",
                     repository_ruleset=out)  # fmt: skip
        return Response(204)

    @router.add("GET", f"{R}/rules/branches/{{branch}}", "repos/get-branch-rules")
    def branch_rules(req: Request) -> Response:
        repo = repo_of(req)
        need_plan(req, repo)
        branch = req.params["branch"]
        out = []
        for rs in sorted(req.gh.rules.repo_rulesets(repo).values(), key=lambda r: r.id):
            # Only active rules: "evaluate" and "disabled" rulesets are not returned.
            if rs.enforcement != "active" or not req.gh.rules.targets(repo, rs, branch):
                continue
            for rule in rs.rules:
                out.append(
                    {
                        **rule,
                        "ruleset_source_type": "Repository",
                        "ruleset_source": repo.full_name,
                        "ruleset_id": rs.id,
                    }
                )
        return req.paginate(out)
