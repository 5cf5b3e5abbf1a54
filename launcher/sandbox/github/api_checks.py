"""Commit statuses, check runs, deployments and deployment statuses."""

from __future__ import annotations

from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found
from launcher.sandbox.github.state import CheckRun, Deployment, Repo, Status


def register(router: Router) -> None:
    # -- commit statuses ------------------------------------------------------------
    @router.add("POST", f"{R}/statuses/{{sha}}", "repos/create-commit-status")
    def create_status(req: Request) -> Response:
        repo = repo_of(req)
        body = req.json()
        status = req.gh.create_status(
            repo,
            req.require_user(),
            req.params["sha"],
            body.get("state") or "",
            body.get("context") or "default",
            body.get("description"),
            body.get("target_url"),
        )
        out = req.gh.shapes.status(repo, status)
        return Response(201, out, {"Location": out["url"]})

    def sha_of(req: Request, repo: Repo) -> str:
        sha = req.gh.resolve(repo, req.params["ref"])
        if sha is None:
            raise ApiError(404, f"No commit found for SHA: {req.params['ref']}")
        return sha

    @router.add("GET", f"{R}/commits/{{ref}}/statuses", "repos/list-commit-statuses-for-ref")
    # The legacy alias PyGithub's Commit.get_statuses() calls; GitHub still serves it.
    @router.add("GET", f"{R}/statuses/{{ref}}", "repos/list-commit-statuses-for-ref")
    def list_statuses(req: Request) -> Response:
        repo = repo_of(req)
        statuses = req.gh.statuses_for(repo, sha_of(req, repo))
        shapes = req.gh.shapes
        return req.paginate(statuses, lambda chunk: [shapes.status(repo, s) for s in chunk])

    @router.add("GET", f"{R}/commits/{{ref}}/status", "repos/get-combined-status-for-ref")
    def combined_status(req: Request) -> Response:
        repo = repo_of(req)
        sha = sha_of(req, repo)
        latest = req.gh.latest_statuses(repo, sha)
        shapes = req.gh.shapes
        api = f"{req.base_url}/repos/{repo.full_name}"

        def wrap(chunk: list[Status]) -> dict[str, object]:
            return {
                "state": req.gh.combined_state(latest),
                "statuses": [
                    {k: v for k, v in shapes.status(repo, s).items() if k != "creator"}
                    | {"required": False}
                    for s in chunk
                ],
                "sha": sha,
                "total_count": len(latest),
                "repository": shapes.repo(repo),
                "commit_url": f"{api}/commits/{sha}",
                "url": f"{api}/commits/{sha}/status",
            }

        return req.paginate(list(latest), wrap)

    # -- check runs ------------------------------------------------------------------------
    @router.add("POST", f"{R}/check-runs", "checks/create")
    def create_check(req: Request) -> Response:
        repo = repo_of(req)
        run = req.gh.create_check_run(repo, req.require_user(), req.json())
        return Response(201, req.gh.shapes.check_run(repo, run))

    def run_of(req: Request, repo: Repo) -> CheckRun:
        run = repo.check_runs.get(req.int_param("check_run_id"))
        if run is None:
            raise not_found()
        return run

    @router.add("GET", f"{R}/check-runs/{{check_run_id}}", "checks/get")
    def get_check(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, req.gh.shapes.check_run(repo, run_of(req, repo)))

    @router.add("PATCH", f"{R}/check-runs/{{check_run_id}}", "checks/update")
    def update_check(req: Request) -> Response:
        repo = repo_of(req)
        run = run_of(req, repo)
        req.gh.update_check_run(repo, req.require_user(), run, req.json())
        return Response(200, req.gh.shapes.check_run(repo, run))

    @router.add("GET", f"{R}/commits/{{ref}}/check-runs", "checks/list-for-ref")
    def list_checks(req: Request) -> Response:
        repo = repo_of(req)
        sha = sha_of(req, repo)
        runs = [r for r in reversed(repo.check_runs.values()) if r.head_sha == sha]
        if req.query.get("check_name"):
            runs = [r for r in runs if r.name == req.query["check_name"]]
        if req.query.get("status"):
            runs = [r for r in runs if r.status == req.query["status"]]
        if req.query.get("app_id"):  # only the runs of one app (whose identity is trusted)
            apps = req.gh.apps
            runs = [
                r
                for r in runs
                if (app := apps.of_login(r.creator)) is not None
                and str(app.id) == req.query["app_id"]
            ]
        if req.query.get("filter", "latest") == "latest":
            seen: dict[str, object] = {}
            runs = [seen.setdefault(r.name, r) for r in runs if r.name not in seen]  # type: ignore[misc]
        shapes = req.gh.shapes
        return req.paginate(
            runs,
            lambda chunk: {
                "total_count": len(runs),
                "check_runs": [shapes.check_run(repo, r) for r in chunk],
            },
        )

    # -- deployments ---------------------------------------------------------------------
    def deployment_of(req: Request, repo: Repo) -> Deployment:
        dep = repo.deployments.get(req.int_param("deployment_id"))
        if dep is None:
            raise not_found()
        return dep

    @router.add("GET", f"{R}/deployments", "repos/list-deployments")
    def list_deployments(req: Request) -> Response:
        repo = repo_of(req)
        q = req.query
        deps = [
            d
            for d in sorted(repo.deployments.values(), key=lambda d: -d.id)
            if all(
                not q.get(k) or getattr(d, k) == q[k] for k in ("sha", "ref", "task", "environment")
            )
        ]
        shapes = req.gh.shapes
        return req.paginate(deps, lambda chunk: [shapes.deployment(repo, d) for d in chunk])

    @router.add("POST", f"{R}/deployments", "repos/create-deployment")
    def create_deployment(req: Request) -> Response:
        repo = repo_of(req)
        dep = req.gh.create_deployment(repo, req.require_user(), req.json())
        return Response(201, req.gh.shapes.deployment(repo, dep))

    @router.add("GET", f"{R}/deployments/{{deployment_id}}", "repos/get-deployment")
    def get_deployment(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, req.gh.shapes.deployment(repo, deployment_of(req, repo)))

    @router.add(
        "GET", f"{R}/deployments/{{deployment_id}}/statuses", "repos/list-deployment-statuses"
    )
    def list_deployment_statuses(req: Request) -> Response:
        repo = repo_of(req)
        dep = deployment_of(req, repo)
        shapes = req.gh.shapes
        return req.paginate(
            list(reversed(dep.statuses)),
            lambda chunk: [shapes.deployment_status(repo, s) for s in chunk],
        )

    @router.add(
        "POST", f"{R}/deployments/{{deployment_id}}/statuses", "repos/create-deployment-status"
    )
    def create_deployment_status(req: Request) -> Response:
        repo = repo_of(req)
        dep = deployment_of(req, repo)
        status = req.gh.create_deployment_status(repo, req.require_user(), dep, req.json())
        return Response(201, req.gh.shapes.deployment_status(repo, status))

    @router.add(
        "GET",
        f"{R}/deployments/{{deployment_id}}/statuses/{{status_id}}",
        "repos/get-deployment-status",
    )
    def get_deployment_status(req: Request) -> Response:
        repo = repo_of(req)
        dep = deployment_of(req, repo)
        wanted = req.int_param("status_id")
        for s in dep.statuses:
            if s.id == wanted:
                return Response(200, req.gh.shapes.deployment_status(repo, s))
        raise not_found()
