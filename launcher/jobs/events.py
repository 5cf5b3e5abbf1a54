"""Reading the GitHub Actions event that started a job: shape-checked, never trusted further
than the pull request number (everything else is read again from the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_EVENT_BYTES = 25 * 1024 * 1024


class EventError(ValueError):
    """The event file is missing, unreadable or not the shape a pull request event has."""


def load_event(path: str | None) -> dict[str, Any]:
    """The event payload at `path` (GITHUB_EVENT_PATH: `Settings.event_path`)."""
    if not path:
        raise EventError("GITHUB_EVENT_PATH is not set: pass --pr NUMBER instead")
    file = Path(path)
    try:
        if file.stat().st_size > MAX_EVENT_BYTES:
            raise EventError(f"event file {path} is larger than {MAX_EVENT_BYTES} bytes")
        payload = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        raise EventError(f"cannot read event file {path}: {exc}") from exc
    if not isinstance(payload, dict):
        raise EventError(f"event file {path} does not hold a JSON object")
    return payload


def pull_number(payload: dict[str, Any]) -> int:
    """The pull request number of a pull_request / pull_request_review / issue_comment event."""
    pull = payload.get("pull_request")
    if pull is None and isinstance(payload.get("issue"), dict):
        issue = payload["issue"]
        pull = issue if issue.get("pull_request") else None
    number = pull.get("number") if isinstance(pull, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        raise EventError("the event is not about a pull request (no pull_request.number)")
    return number


def handed_over(payload: dict[str, Any]) -> list[int] | None:
    """For a `workflow_run` hand-over (a review was submitted, edited or dismissed, and the
    unprivileged review workflow completed): the pull request numbers GitHub lists for the
    run's head, as pointers only (the gate reads each pull request again from the API). An
    empty list: GitHub lists none (a fork's run, or a branch with no pull request). None: the
    event is not a workflow_run."""
    run = payload.get("workflow_run")
    if not isinstance(run, dict):
        return None
    numbers = []
    for pull in run.get("pull_requests") or []:
        number = pull.get("number") if isinstance(pull, dict) else None
        if isinstance(number, int) and not isinstance(number, bool) and number > 0:
            numbers.append(number)
    return sorted(set(numbers))


def head_sha(payload: dict[str, Any]) -> str | None:
    """The head commit named by the event, for reporting an error when the API is down."""
    pull = payload.get("pull_request")
    head = pull.get("head") if isinstance(pull, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    run = payload.get("workflow_run")
    if sha is None and isinstance(run, dict):
        sha = run.get("head_sha")
    if isinstance(sha, str) and len(sha) == 40 and all(c in "0123456789abcdef" for c in sha):
        return sha
    return None
