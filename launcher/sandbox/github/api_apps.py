"""GitHub App endpoints: ``/app`` (JWT), installations and installation access tokens."""

from __future__ import annotations

from typing import Any

from launcher.sandbox.github import installations
from launcher.sandbox.github.apps import NOT_ACCESSIBLE, App, Installation
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.state import Repo, iso


def _app(req: Request) -> App:
    cred = req.credential
    if cred is None or cred.app is None:
        raise ApiError(
            401, "A JSON web token is required to access this endpoint; authenticate as the app."
        )
    app: App = cred.app
    return app


def _installation(req: Request, app: App) -> Installation:
    inst = req.gh.apps.installations.get(req.int_param("installation_id"))
    if inst is None or inst.app_id != app.id:
        raise not_found()
    return inst


def register(router: Router) -> None:
    @router.add("GET", "/app", "apps/get-authenticated")
    def get_app(req: Request) -> Response:
        app = _app(req)
        out = req.gh.apps.integration(app, req.base_url, req.gh.shapes)
        out["installations_count"] = sum(
            1 for i in req.gh.apps.installations.values() if i.app_id == app.id
        )
        return Response(200, out)

    @router.add("GET", "/apps/{app_slug}", "apps/get-by-slug")
    def get_by_slug(req: Request) -> Response:
        app = req.gh.apps.by_slug(req.params["app_slug"])
        if app is None:
            raise not_found()
        return Response(200, req.gh.apps.integration(app, req.base_url, req.gh.shapes))

    @router.add("GET", "/app/installations", "apps/list-installations")
    def list_installations(req: Request) -> Response:
        app = _app(req)
        insts = [i for i in req.gh.apps.installations.values() if i.app_id == app.id]
        shapes, apps = req.gh.shapes, req.gh.apps

        def listed(inst: Installation) -> dict[str, Any]:
            # The description types this listing's account as user *and* enterprise
            # (allOf), so it carries the enterprise fields too.
            out = apps.installation_json(inst, req.base_url, shapes)
            acc = req.gh.state.user(inst.account)
            assert acc is not None
            out["account"].update(
                name=acc.name or acc.login,
                slug=acc.login.lower(),
                description=None,
                website_url=None,
                created_at=iso(acc.created_at),
                updated_at=iso(acc.created_at),
            )
            return out

        return req.paginate(insts, lambda chunk: [listed(i) for i in chunk])

    @router.add("GET", "/app/installations/{installation_id}", "apps/get-installation")
    def get_installation(req: Request) -> Response:
        inst = _installation(req, _app(req))
        return Response(200, req.gh.apps.installation_json(inst, req.base_url, req.gh.shapes))

    @router.add(
        "POST",
        "/app/installations/{installation_id}/access_tokens",
        "apps/create-installation-access-token",
    )
    def create_token(req: Request) -> Response:
        inst = _installation(req, _app(req))
        body = req.json()
        names: list[str] | None = body.get("repositories")
        ids = body.get("repository_ids")
        if ids is not None:
            by_id = {r.id: r.full_name for r in req.gh.state.repos.values()}
            names = (names or []) + [by_id.get(i, f"\0{i}") for i in ids]
        perms = body.get("permissions")
        if perms is not None and not isinstance(perms, dict):
            raise validation(resource="Installation", field="permissions", code="invalid")
        # An empty object asks for no narrowing, as on GitHub (PyGithub always sends one).
        token = req.gh.apps.mint(inst, perms or None, names)
        out: dict[str, Any] = {
            "token": token.value,
            "expires_at": iso(token.expires_at or 0),
            "permissions": dict(token.permissions or {}),
            "repository_selection": "all" if token.repositories is None else "selected",
        }
        if token.repositories is not None:
            out["repositories"] = [
                req.gh.shapes.repo(req.gh.state.repos[r]) for r in sorted(token.repositories)
            ]
        return Response(201, out)

    # The app's own changes to an installation (JWT). GitHub does not document who the
    # events' sender is then: the stand-in names the app's owner.
    @router.add("DELETE", "/app/installations/{installation_id}", "apps/delete-installation")
    def delete_installation(req: Request) -> Response:
        app = _app(req)
        installations.uninstall(req.gh, _installation(req, app), app.owner)
        return Response(204)

    @router.add(
        "PUT", "/app/installations/{installation_id}/suspended", "apps/suspend-installation"
    )
    def suspend(req: Request) -> Response:
        app = _app(req)
        inst = _installation(req, app)
        if inst.suspended_at is None:
            installations.suspend(req.gh, inst, app.owner)
        return Response(204)

    @router.add(
        "DELETE", "/app/installations/{installation_id}/suspended", "apps/unsuspend-installation"
    )
    def unsuspend(req: Request) -> Response:
        app = _app(req)
        inst = _installation(req, app)
        if inst.suspended_at is not None:
            installations.unsuspend(req.gh, inst, app.owner)
        return Response(204)

    def _user_repo(req: Request) -> tuple[Installation, Repo, str]:
        """A person's classic token, admin of the repository, and an installation on the
        repository's owner (404 for an installation or repository not there)."""
        cred = req.credential
        if cred is None or cred.login is None:
            raise ApiError(401, "Requires authentication")
        if cred.app is not None or (cred.token and cred.token.installation_id is not None):
            raise ApiError(403, NOT_ACCESSIBLE)
        inst = req.gh.apps.installations.get(req.int_param("installation_id"))
        wanted = req.int_param("repository_id")
        repo = next((r for r in req.gh.state.repos.values() if r.id == wanted), None)
        if inst is None or repo is None or repo.owner.lower() != inst.account.lower():
            raise not_found()
        if not req.gh.state.can_read(repo, cred.login):
            raise not_found()
        req.gh.require(repo, cred.login, "admin")
        return inst, repo, cred.login

    @router.add(
        "PUT",
        "/user/installations/{installation_id}/repositories/{repository_id}",
        "apps/add-repo-to-installation-for-authenticated-user",
    )
    def add_repo(req: Request) -> Response:
        inst, repo, login = _user_repo(req)
        if inst.covers(repo):
            return Response(304)
        installations.add_repositories(req.gh, inst, [repo.full_name], login)
        return Response(204)

    @router.add(
        "DELETE",
        "/user/installations/{installation_id}/repositories/{repository_id}",
        "apps/remove-repo-from-installation-for-authenticated-user",
    )
    def remove_repo(req: Request) -> Response:
        inst, repo, login = _user_repo(req)
        if inst.repositories is None:
            raise validation("The installation must have the repository_selection of selected.")
        if not inst.covers(repo):
            return Response(304)
        installations.remove_repositories(req.gh, inst, [repo.full_name], login)
        return Response(204)

    @router.add("GET", "/repos/{owner}/{repo}/installation", "apps/get-repo-installation")
    def repo_installation(req: Request) -> Response:
        app = _app(req)
        repo = req.gh.state.repo(req.params["owner"], req.params["repo"])
        inst = req.gh.apps.installation_for(app, repo) if repo is not None else None
        if inst is None:
            raise not_found()
        return Response(200, req.gh.apps.installation_json(inst, req.base_url, req.gh.shapes))

    @router.add("GET", "/orgs/{org}/installation", "apps/get-org-installation")
    def org_installation(req: Request) -> Response:
        app = _app(req)
        for inst in req.gh.apps.installations.values():
            if inst.app_id == app.id and inst.account.lower() == req.params["org"].lower():
                return Response(
                    200, req.gh.apps.installation_json(inst, req.base_url, req.gh.shapes)
                )
        raise not_found()

    @router.add("GET", "/installation/repositories", "apps/list-repos-accessible-to-installation")
    def installation_repos(req: Request) -> Response:
        cred = req.credential
        token = cred.token if cred is not None else None
        if token is None or token.installation_id is None:
            raise ApiError(403, "This endpoint requires an installation access token.")
        inst = req.gh.apps.installations[token.installation_id]
        repos = [
            r
            for r in req.gh.state.repos.values()
            if inst.covers(r)
            and (token.repositories is None or r.full_name.lower() in token.repositories)
        ]
        repos.sort(key=lambda r: r.full_name.lower())
        shapes = req.gh.shapes
        return req.paginate(
            repos,
            lambda chunk: {
                "total_count": len(repos),
                "repository_selection": "all" if inst.repositories is None else "selected",
                "repositories": [shapes.repo(r, full=True) for r in chunk],
            },
        )
