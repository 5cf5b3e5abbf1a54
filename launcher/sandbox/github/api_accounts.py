"""Users, organizations, teams and rate-limit endpoints, plus the sandbox-only ``/_sandbox`` API."""

from __future__ import annotations

from typing import Any

from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.observe import Fault
from launcher.sandbox.github.state import Org, Team


def register(router: Router) -> None:  # noqa: C901 - a flat list of routes
    @router.add("GET", "/user", "users/get-authenticated")
    def get_me(req: Request) -> Response:
        login = req.require_user()
        user = req.gh.state.user(login)
        assert user is not None
        return Response(200, req.gh.shapes.private_user(user))

    @router.add("GET", "/users/{username}", "users/get-by-username")
    def get_user(req: Request) -> Response:
        user = req.gh.state.user(req.params["username"])
        if user is None:
            raise not_found()
        return Response(200, req.gh.shapes.public_user(user))

    @router.add("GET", "/rate_limit", "rate-limit/get")
    def rate_limit(req: Request) -> Response:
        resources = {}
        for name in ("core", "search", "graphql", "integration_manifest", "code_search"):
            limit, used, reset = req.gh.rate_limits.hit(req.user, name, count=False)
            resources[name] = {
                "limit": limit,
                "used": used,
                "remaining": max(0, limit - used),
                "reset": reset,
            }
        return Response(200, {"resources": resources, "rate": resources["core"]})

    def org_of(req: Request) -> Org:
        org = req.gh.state.orgs.get(req.params["org"].lower())
        if org is None:
            raise not_found()
        return org

    def team_of(req: Request) -> Team:
        if "team_id" in req.params:  # the /organizations/{org_id}/team/{team_id} form
            for org in req.gh.state.orgs.values():
                if str(org.user.id) == req.params["org_id"]:
                    for team in org.teams.values():
                        if str(team.id) == req.params["team_id"]:
                            return team
            raise not_found()
        team = org_of(req).teams.get(req.params["team_slug"].lower())
        if team is None:
            raise not_found()
        return team

    @router.add("GET", "/orgs/{org}", "orgs/get")
    def get_org(req: Request) -> Response:
        return Response(200, req.gh.shapes.org_full(org_of(req)))

    @router.add("GET", "/orgs/{org}/teams", "teams/list")
    def list_teams(req: Request) -> Response:
        org = org_of(req)
        if req.user is None or req.user.lower() not in org.members:
            raise ApiError(403, f"You must be a member of {org.user.login} to see teams.")
        teams = sorted(org.teams.values(), key=lambda t: t.slug)
        return req.paginate([req.gh.shapes.team(t) for t in teams])

    @router.add("GET", "/orgs/{org}/teams/{team_slug}", "teams/get-by-name")
    # Team objects carry this URL form, so PyGithub follows it.
    @router.add("GET", "/organizations/{org_id}/team/{team_id}", "teams/get-by-name")
    def get_team(req: Request) -> Response:
        return Response(200, req.gh.shapes.team_full(team_of(req)))

    @router.add("GET", "/orgs/{org}/teams/{team_slug}/members", "teams/list-members-in-org")
    # Team objects carry this URL form, so PyGithub follows it.
    @router.add(
        "GET", "/organizations/{org_id}/team/{team_id}/members", "teams/list-members-in-org"
    )
    def list_members(req: Request) -> Response:
        team = team_of(req)
        role = req.query.get("role", "all")
        logins = sorted((login for login, r in team.members.items() if role in ("all", r)))
        shapes = req.gh.shapes
        return req.paginate(logins, lambda chunk: [shapes.simple_user(x) for x in chunk])

    @router.add(
        "GET",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "teams/get-membership-for-user-in-org",
    )
    @router.add(
        "GET",
        "/organizations/{org_id}/team/{team_id}/memberships/{username}",
        "teams/get-membership-for-user-in-org",
    )
    def get_membership(req: Request) -> Response:
        team = team_of(req)
        user = req.gh.state.user(req.params["username"])
        if user is None or user.login.lower() not in team.members:
            raise not_found()
        org_id = req.gh.state.orgs[team.org.lower()].user.id
        team_url = f"{req.base_url}/organizations/{org_id}/team/{team.id}"
        return Response(
            200,
            {
                "url": f"{team_url}/memberships/{user.login}",
                "role": team.members[user.login.lower()],
                "state": "active",
            },
        )

    def change_membership(req: Request, remove: bool) -> Response:
        org, team = org_of(req), team_of(req)
        actor = req.require_user()
        if org.members.get(actor.lower()) != "admin" and team.members.get(actor.lower()) != (
            "maintainer"
        ):
            raise ApiError(
                403,
                "You must be an organization owner or team maintainer to "
                + ("remove" if remove else "add")
                + " a team membership.",
            )
        user = req.gh.state.user(req.params["username"])
        if user is None or user.type != "User":
            if remove:
                raise ApiError(403, "Not a member of the team.")
            raise ApiError(422, "Only users can be added to a team.")
        key = user.login.lower()
        org_id = org.user.id
        team_url = f"{req.base_url}/organizations/{org_id}/team/{team.id}"
        event = {
            "scope": "team",
            "member": req.gh.shapes.simple_user(user.login),
            "sender": req.gh.shapes.simple_user(actor),
            "team": {**req.gh.shapes.team(team), "parent": None},
            "organization": req.gh.shapes.org_simple(org),
        }
        if remove:
            if key not in team.members:
                raise ApiError(403, "Not a member of the team.")
            del team.members[key]
            req.gh.events.emit("membership", {"action": "removed", **event})
            return Response(204)
        role = req.json().get("role", "member")
        if role not in ("member", "maintainer"):
            raise validation(resource="TeamMember", field="role", code="invalid")
        added = key not in team.members
        team.members[key] = role
        org.members.setdefault(key, "member")
        if added:
            req.gh.events.emit("membership", {"action": "added", **event})
        return Response(
            200, {"url": f"{team_url}/memberships/{user.login}", "role": role, "state": "active"}
        )

    @router.add(
        "PUT",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "teams/add-or-update-membership-for-user-in-org",
    )
    def add_membership(req: Request) -> Response:
        return change_membership(req, remove=False)

    @router.add(
        "DELETE",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "teams/remove-membership-for-user-in-org",
    )
    def remove_membership(req: Request) -> Response:
        return change_membership(req, remove=True)

    # PyGithub's Team.has_in_members() calls the legacy member check under the team URL.
    @router.add(
        "GET",
        "/organizations/{org_id}/team/{team_id}/members/{username}",
        "teams/get-member-legacy",
    )
    def check_member(req: Request) -> Response:
        team = team_of(req)
        if req.params["username"].lower() not in team.members:
            raise not_found()
        return Response(204)


def register_sandbox(router: Router, sandbox: Any) -> None:
    """Sandbox-only endpoints (not GitHub's API): events, request log, faults, pushes."""

    @router.add("GET", "/_sandbox/events", "_sandbox/events")
    def events(req: Request) -> Response:
        since = int(req.query.get("since") or 0)
        evs = req.gh.events.since(since, req.query.get("event"), req.query.get("action"))
        return Response(200, [e.to_json() for e in evs])

    @router.add("GET", "/_sandbox/requests", "_sandbox/requests")
    def requests(req: Request) -> Response:
        return Response(200, req.gh.request_log.to_json())

    @router.add("DELETE", "/_sandbox/requests", "_sandbox/reset-requests")
    def reset_requests(req: Request) -> Response:
        req.gh.request_log.reset()
        return Response(204)

    @router.add("GET", "/_sandbox/faults", "_sandbox/faults")
    def list_faults(req: Request) -> Response:
        return Response(200, req.gh.faults.to_json())

    @router.add("POST", "/_sandbox/faults", "_sandbox/add-fault")
    def add_fault(req: Request) -> Response:
        body = req.json()
        allowed = {"method", "path", "kind", "status", "seconds", "times"}
        try:
            fault = req.gh.faults.add(Fault(**{k: v for k, v in body.items() if k in allowed}))
        except (TypeError, ValueError) as exc:
            raise ApiError(422, str(exc)) from None
        return Response(
            201,
            {
                "id": fault.id,
                "method": fault.method,
                "path": fault.path,
                "kind": fault.kind,
                "status": fault.status,
                "seconds": fault.seconds,
                "times": fault.times,
            },
        )

    @router.add("DELETE", "/_sandbox/faults", "_sandbox/clear-faults")
    def clear_faults(req: Request) -> Response:
        req.gh.faults.clear()
        return Response(204)

    @router.add("GET", "/_sandbox/repos/{owner}/{repo}", "_sandbox/repo")
    def repo_info(req: Request) -> Response:
        repo = req.gh.state.repo(req.params["owner"], req.params["repo"])
        if repo is None:
            raise not_found()
        return Response(
            200,
            {
                "full_name": repo.full_name,
                "git_dir": str(repo.git.path),
                "clone_url": repo.git.path.as_uri(),
                "branches": repo.branches,
            },
        )

    @router.add("POST", "/_sandbox/repos/{owner}/{repo}/push", "_sandbox/push")
    def push(req: Request) -> Response:
        """Body: {"branch", "files": {path: text|null}, "message", "author", "base"?}."""
        body = req.json()
        repo = req.gh.state.repo(req.params["owner"], req.params["repo"])
        if repo is None:
            raise not_found()
        author = body.get("author") or req.user
        if not author or req.gh.state.user(author) is None:
            raise ApiError(422, "author must name a sandbox user")
        sha = req.gh.push_files(
            repo,
            body["branch"],
            body.get("files") or {},
            body.get("message") or "Update files",
            author,
            body.get("base"),
        )
        return Response(201, {"sha": sha})
