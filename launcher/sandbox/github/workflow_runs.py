"""``workflow_run`` events: GitHub announces a workflow run's completion with its record.

Why: a ``workflow_run`` workflow runs with the default branch's code and the repository's
secrets after another workflow, even one a pull request started, completes; the payload says
which run (its head branch and commit, its event, its conclusion). The local runner calls
`workflow_run_completed` when a run it executed ends (when it was given the sandbox), then
runs what that event triggers, as GitHub Actions does.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.events import Event
from launcher.sandbox.github.shapes import node_id, simple_commit
from launcher.sandbox.github.state import Repo, iso, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub


def workflow_id(repo: Repo, path: str) -> int:
    """A stable id per workflow file (GitHub's ids are stable per path too)."""
    return 10_000_000 + zlib.crc32(f"{repo.full_name.lower()}:{path}".encode()) % 10_000_000


def _user(gh: GitHub, login: str) -> dict[str, Any]:
    return gh.shapes.simple_user(login)


def _pulls(gh: GitHub, repo: Repo, head_branch: str, head_sha: str) -> list[dict[str, Any]]:
    api = f"{gh.base_url}/repos/{repo.full_name}"
    small = {"id": repo.id, "url": api, "name": repo.name}
    return [
        {
            "url": f"{api}/pulls/{i.number}",
            "id": i.pull.id,
            "number": i.number,
            "head": {"ref": i.pull.head_ref, "sha": repo.head_sha(i), "repo": small},
            "base": {"ref": i.pull.base_ref, "sha": repo.base_sha(i), "repo": small},
        }
        for i in repo.pulls()
        if i.pull is not None
        and i.state == "open"
        and i.pull.head_ref == head_branch
        and repo.head_sha(i) == head_sha
    ]


def workflow_run_completed(
    gh: GitHub,
    repo: Repo,
    *,
    run_id: int,
    workflow_name: str,
    workflow_path: str,
    event: str,
    head_branch: str | None,
    head_sha: str,
    conclusion: str,
    actor: str,
    started_at: float,
) -> Event:
    """Record (and return) the ``workflow_run`` ``completed`` event GitHub would send."""
    api = f"{gh.base_url}/repos/{repo.full_name}"
    wid = workflow_id(repo, workflow_path)
    suite = run_id + 1
    ended = now()
    run: dict[str, Any] = {
        "id": run_id,
        "name": workflow_name,
        "node_id": node_id("WFR", run_id),
        "head_branch": head_branch,
        "head_sha": head_sha,
        "path": workflow_path,
        "display_title": workflow_name,
        "run_number": 1,
        "run_attempt": 1,
        "event": event,
        "status": "completed",
        "conclusion": conclusion,
        "workflow_id": wid,
        "check_suite_id": suite,
        "check_suite_node_id": node_id("CS", suite),
        "url": f"{api}/actions/runs/{run_id}",
        "html_url": f"{gh.base_url}/{repo.full_name}/actions/runs/{run_id}",
        "pull_requests": _pulls(gh, repo, head_branch or "", head_sha),
        "created_at": iso(started_at),
        "updated_at": iso(ended),
        "run_started_at": iso(started_at),
        "actor": _user(gh, actor),
        "triggering_actor": _user(gh, actor),
        "jobs_url": f"{api}/actions/runs/{run_id}/jobs",
        "logs_url": f"{api}/actions/runs/{run_id}/logs",
        "check_suite_url": f"{api}/check-suites/{suite}",
        "artifacts_url": f"{api}/actions/runs/{run_id}/artifacts",
        "cancel_url": f"{api}/actions/runs/{run_id}/cancel",
        "rerun_url": f"{api}/actions/runs/{run_id}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{api}/actions/workflows/{wid}",
        "head_commit": simple_commit(repo, head_sha),
        "repository": gh.shapes.repo(repo),
        "head_repository": gh.shapes.repo(repo),
    }
    workflow = {
        "id": wid,
        "node_id": node_id("W", wid),
        "name": workflow_name,
        "path": workflow_path,
        "state": "active",
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at),
        "url": f"{api}/actions/workflows/{wid}",
        "html_url": f"{gh.base_url}/{repo.full_name}/blob/{repo.default_branch}/{workflow_path}",
        "badge_url": f"{gh.base_url}/{repo.full_name}/workflows/{workflow_name}/badge.svg",
    }
    payload: dict[str, Any] = {
        "action": "completed",
        "workflow_run": run,
        "workflow": workflow,
        "repository": gh.shapes.repo(repo, full=True),
    }
    org = gh.state.orgs.get(repo.owner.lower())
    if org is not None:
        payload["repository"].pop("organization", None)
        payload["organization"] = gh.shapes.org_simple(org)
    payload["sender"] = _user(gh, actor)
    return gh.events.emit("workflow_run", payload)
