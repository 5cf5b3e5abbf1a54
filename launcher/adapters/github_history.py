"""Reading GitHub's own record of who did what to a pull request: the activity log (who moved
the head branch), the pull request's commits, its issue events (base changes, dismissals) and
the git modes of its head tree.

Kept apart from `github.py` so the gate's provenance reads stay in one place. Each read is one
request per 100 entries; anything unreadable raises GitHubError (the gate's `error`), never an
empty answer that would look like "nobody else pushed".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from launcher.adapters.github import GitHub, GitHubError, _wrap, get_all
from launcher.core.provenance import (
    Activity,
    History,
    IssueEvent,
    history,
    moves,
    needs_commits,
    pushers,
)
from launcher.core.pulls import Pull
from launcher.core.times import instant_or_none

MAX_PULL_COMMITS = 250  # GET /pulls/{n}/commits lists at most this many


def _login(user: Any) -> tuple[str | None, bool]:
    if not isinstance(user, dict) or not isinstance(user.get("login"), str):
        return None, False
    login = user["login"]
    return login, user.get("type") == "Bot" or login.endswith("[bot]")


@_wrap("reading the repository activity")
def activities(gh: GitHub, head_ref: str) -> list[Activity]:
    """Every recorded move of `head_ref` (pushes, force pushes, creation, pull requests merged
    into it, deletion), from the activity log."""
    found = []
    for entry in get_all(gh, f"{gh.repo.url}/activity", {"ref": f"refs/heads/{head_ref}"}):
        actor, bot = _login(entry.get("actor"))
        found.append(
            Activity(
                str(entry.get("activity_type", "")),
                str(entry.get("ref", "")),
                str(entry.get("after", "")),
                actor,
                bot,
            )
        )
    return found


@_wrap("listing the pull request's commits")
def pull_commits(gh: GitHub, number: int) -> list[str]:
    shas = [
        str(c.get("sha"))
        for c in get_all(gh, f"{gh.repo.url}/pulls/{number}/commits", {})
        if c.get("sha")
    ]
    if len(shas) >= MAX_PULL_COMMITS:
        raise GitHubError(
            f"the pull request has {MAX_PULL_COMMITS} commits or more, more than GitHub lists: "
            "who pushed them cannot be told; squash or split it"
        )
    return shas


@_wrap("listing the pull request's events")
def issue_events(gh: GitHub, number: int) -> list[IssueEvent]:
    found = []
    for entry in get_all(gh, f"{gh.repo.url}/issues/{number}/events", {}):
        actor, _ = _login(entry.get("actor"))
        review = entry.get("dismissed_review")
        review = review if isinstance(review, dict) else {}
        created = entry.get("created_at")
        if not isinstance(created, str):
            raise GitHubError("an issue event without a time")
        found.append(
            IssueEvent(
                str(entry.get("event", "")),
                actor,
                _time(created),
                review.get("review_id") if isinstance(review.get("review_id"), int) else None,
                review.get("state") if isinstance(review.get("state"), str) else None,
            )
        )
    return found


def _time(text: str) -> datetime:
    when = instant_or_none(text)
    if when is None:
        raise GitHubError(f"an issue event with an unreadable time: {text!r}")
    return when


def pull_history(gh: GitHub, info: Pull) -> History:
    """Pushers (the commits are read only when someone other than the author pushed) and the
    issue events: two requests for a pull request only its author pushed to."""
    acts = activities(gh, info.head_ref)
    if not any(a.after == info.head_sha and moves(a) for a in acts):
        # Every head commit got there by a push GitHub recorded: without that record, who
        # pushed cannot be told, and guessing "the author" would be a pass on no evidence.
        raise GitHubError(
            f"the activity log has no push of the head commit {info.head_sha[:12]} to "
            f"{info.head_ref}: who pushed it cannot be told"
        )
    pushed_by: tuple[Any, ...] = ()
    if needs_commits(acts, info.head_ref, info.author):
        pushed_by = pushers(acts, info.head_ref, pull_commits(gh, info.number), info.author)
    return history(pushed_by, issue_events(gh, info.number))


@_wrap("reading the head tree")
def tree_modes(gh: GitHub, sha: str, prefix: str = "deployments/") -> dict[str, str]:
    """Git mode of every entry under `prefix` at commit `sha` (100644 regular, 100755
    executable, 120000 symlink, 160000 submodule); a truncated tree is an error."""
    return {
        str(e["path"]): str(e.get("mode", ""))
        for e in gh.recursive_tree(sha)
        if str(e["path"]).startswith(prefix)
    }
