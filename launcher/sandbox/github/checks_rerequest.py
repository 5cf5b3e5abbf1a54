"""Re-requesting checks: ``check_run``/``check_suite`` ``rerequested`` events and their endpoints.

Why: anyone with write access can press "Re-run" on a check (or call these endpoints); the
app that owns the check (or a workflow on ``check_run``/``check_suite`` ``rerequested``, which
runs the default branch's file) is then asked to run it again. A gate must not treat a
re-requested check as a new verdict by someone else: the event names the person who asked.

REST (as documented): ``POST /repos/{o}/{r}/check-runs/{id}/rerequest`` and
``POST /repos/{o}/{r}/check-suites/{id}/rerequest`` (201, ``{}``). As documented, the check
suite's status goes back to ``queued`` and its conclusion is cleared; the check run itself is
not changed. A GitHub App may only re-request its own checks. In the stand-in every check run
is alone in its check suite, whose id is the check run's id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found
from launcher.sandbox.github.shapes import node_id, simple_commit
from launcher.sandbox.github.state import CheckRun, Repo, iso, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub

R = "/repos/{owner}/{repo}"


def _require_rerequest(gh: GitHub, repo: Repo, user: str | None, run: CheckRun) -> str:
    login = gh.require(repo, user, "write")
    account = gh.state.user(login)
    if account is not None and account.type == "Bot" and login.lower() != run.creator.lower():
        raise ApiError(403, "This check run does not belong to the authenticated GitHub App.")
    if run.status != "completed":
        raise ApiError(422, "This check run is not rerequestable: it has not completed.")
    return login


def _app(gh: GitHub, login: str) -> dict[str, Any] | None:
    """The app that created the check (every bot account is an app's in the stand-in)."""
    app = gh.apps.of_login(login)
    return gh.apps.integration(app, gh.base_url, gh.shapes) if app else None


def check_suite_json(gh: GitHub, repo: Repo, run: CheckRun) -> dict[str, Any]:
    api = f"{gh.base_url}/repos/{repo.full_name}"
    commit = repo.git.commit(run.head_sha)
    branch = next((b for b, sha in sorted(repo.branches.items()) if sha == run.head_sha), None)
    head_commit = simple_commit(repo, run.head_sha)
    check_run = gh.shapes.check_run(repo, run)
    return {
        "id": run.id,
        "node_id": node_id("CS", run.id),
        "head_branch": branch,
        "head_sha": run.head_sha,
        "status": "queued",  # re-requested: queued again, conclusion cleared
        "conclusion": None,
        "url": f"{api}/check-suites/{run.id}",
        "before": commit.parents[0] if commit and commit.parents else None,
        "after": run.head_sha,
        "pull_requests": check_run["pull_requests"],
        "app": _app(gh, run.creator),
        "created_at": iso(run.started_at or now()),
        "updated_at": iso(now()),
        "latest_check_runs_count": 1,
        "check_runs_url": f"{api}/check-suites/{run.id}/check-runs",
        "head_commit": head_commit,
        "rerequestable": True,
        "runs_rerequestable": True,
    }


def _emit(gh: GitHub, event: str, repo: Repo, actor: str, **fields: Any) -> None:
    payload: dict[str, Any] = {"action": "rerequested", **fields}
    payload["repository"] = gh.shapes.repo(repo, full=True)
    payload["repository"].pop("organization", None)
    org = gh.state.orgs.get(repo.owner.lower())
    if org is not None:
        payload["organization"] = gh.shapes.org_simple(org)
    payload["sender"] = gh.shapes.simple_user(actor)
    gh.events.emit(event, payload)


def rerequest_run(gh: GitHub, repo: Repo, actor: str | None, run: CheckRun) -> None:
    with gh.state.lock:
        login = _require_rerequest(gh, repo, actor, run)
        _emit(gh, "check_run", repo, login, check_run=gh.shapes.check_run(repo, run))


def rerequest_suite(gh: GitHub, repo: Repo, actor: str | None, run: CheckRun) -> None:
    with gh.state.lock:
        login = _require_rerequest(gh, repo, actor, run)
        _emit(gh, "check_suite", repo, login, check_suite=check_suite_json(gh, repo, run))


def register(router: Router) -> None:
    def run_of(req: Request, key: str) -> tuple[Repo, CheckRun]:
        repo = req.gh.get_repo(req.params["owner"], req.params["repo"], req.user)
        run = repo.check_runs.get(req.int_param(key))
        if run is None:
            raise not_found()
        return repo, run

    @router.add("POST", R + "/check-runs/{check_run_id}/rerequest", "checks/rerequest-run")
    def rerequest_check_run(req: Request) -> Response:
        repo, run = run_of(req, "check_run_id")
        rerequest_run(req.gh, repo, req.user, run)
        return Response(201, {})

    @router.add("POST", R + "/check-suites/{check_suite_id}/rerequest", "checks/rerequest-suite")
    def rerequest_check_suite(req: Request) -> Response:
        repo, run = run_of(req, "check_suite_id")
        rerequest_suite(req.gh, repo, req.user, run)
        return Response(201, {})
