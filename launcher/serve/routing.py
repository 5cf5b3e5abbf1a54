"""Which work a delivery is a hint about: pure, from the event's name and payload.

Nothing in a payload is trusted beyond naming what to look at (an installation, a repository,
a pull request number): every decision re-reads the pull request from the API, so a replayed
or stale delivery can only cause a re-decision of the current state, never a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHECK_NAME = "launcher/approval"
# pull_request actions after which the verdict can differ (closed: record a rejection).
PULL_ACTIONS = {
    "opened",
    "reopened",
    "synchronize",
    "edited",  # a base change arrives as `edited`
    "ready_for_review",
    "converted_to_draft",
    "labeled",
    "unlabeled",
    "closed",
    "review_request_removed",
}


@dataclass(frozen=True, order=True)
class Work:
    """One unit of work: decide pull request `number` of `repo` (number 0: every open pull
    request of `repo`; `sha` set: those whose head is `sha`; `group_ref` set too: the merge
    queue's group whose head commit is `sha`)."""

    installation: int
    repo: str
    number: int = 0
    sha: str = ""
    group_ref: str = ""
    # someone asked GitHub to re-run launcher's check: a new check run is expected even when
    # nothing changed (not part of the key: it rides along with the unit's other hints)
    rerun: bool = False

    @property
    def key(self) -> tuple[int, str, int, str]:
        return (self.installation, self.repo.lower(), self.number, self.sha + self.group_ref)


@dataclass(frozen=True)
class Route:
    work: tuple[Work, ...]
    note: str  # what the service does with it, for the log
    # An installation whose cached token to drop: its access changed (uninstalled,
    # suspended, repositories or permissions changed), so the next decision mints anew.
    forget: int | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def route(event: str, payload: dict[str, Any], own_bot: str = "") -> Route:
    """`own_bot`: launcher's bot login; the labels and review requests it wrote itself
    come back as events, which need no decision (GitHub sets `sender`, nobody else can)."""
    inst = _int((payload.get("installation") or {}).get("id"))
    sender = (payload.get("sender") or {}).get("login")
    if (
        own_bot
        and event == "pull_request"
        and sender == own_bot
        and payload.get("action")
        in (
            "labeled",
            "unlabeled",
            "review_request_removed",
        )
    ):
        return Route((), f"{event} {payload.get('action')} by launcher itself: nothing to decide")
    repo_json = payload.get("repository")
    repo = repo_json.get("full_name") if isinstance(repo_json, dict) else None
    action = payload.get("action")
    if event == "ping":
        return Route((), "ping")
    if inst is None:
        return Route((), "no installation in the payload: ignored")
    if event in ("installation", "installation_repositories"):
        if action in ("deleted", "suspend", "removed"):
            return Route((), f"{event} {action}: nothing to decide", forget=inst)
        if event == "installation_repositories":
            listed = payload.get("repositories_added") or []
        else:
            listed = payload.get("repositories") or []
        names = [r.get("full_name") for r in listed if isinstance(r, dict)]
        return Route(
            tuple(Work(inst, n) for n in names if isinstance(n, str)),
            f"{event} {action}: re-decide open pull requests of {len(names)} repositories",
            forget=inst,
        )
    if not isinstance(repo, str) or "/" not in repo:
        return Route((), f"{event}: no repository: ignored")
    if event == "pull_request":
        number = _int((payload.get("pull_request") or {}).get("number"))
        if number is None or action not in PULL_ACTIONS:
            return Route((), f"pull_request {action}: nothing to decide")
        return Route((Work(inst, repo, number),), f"pull_request {action}")
    if event in ("pull_request_review", "pull_request_review_comment"):
        number = _int((payload.get("pull_request") or {}).get("number"))
        if number is None:
            return Route((), f"{event}: no pull request")
        return Route((Work(inst, repo, number),), f"{event} {action}")
    if event in ("check_run", "check_suite"):
        if action != "rerequested":
            return Route((), f"{event} {action}: nothing to decide")
        body = payload.get(event) or {}
        if event == "check_run" and body.get("name") != CHECK_NAME:
            return Route((), f"check_run rerequested for {body.get('name')!r}: not launcher's")
        numbers = sorted(
            {
                n
                for n in (_int(p.get("number")) for p in body.get("pull_requests") or [])
                if n is not None
            }
        )
        if numbers:
            return Route(
                tuple(Work(inst, repo, n, rerun=True) for n in numbers), f"{event} rerequested"
            )
        sha = body.get("head_sha")
        if isinstance(sha, str) and len(sha) == 40:
            return Route(
                (Work(inst, repo, 0, sha, rerun=True),), f"{event} rerequested for {sha[:7]}"
            )
        return Route((), f"{event} rerequested without a commit")
    if event == "push":
        default = (repo_json or {}).get("default_branch")
        if payload.get("ref") == f"refs/heads/{default}":
            # pools.yaml (the policy every open pull request is judged by) may have changed
            return Route((Work(inst, repo),), "push to the default branch: re-decide open PRs")
        return Route((), "push to another branch: the pull_request event covers it")
    if event == "merge_group":
        group = payload.get("merge_group") or {}
        sha, ref = group.get("head_sha"), group.get("head_ref")
        if action == "checks_requested" and isinstance(sha, str) and isinstance(ref, str):
            return Route((Work(inst, repo, 0, sha, ref),), "merge_group checks_requested")
        return Route((), f"merge_group {action}: nothing to judge")
    return Route((), f"{event}: not an event launcher serve acts on")
