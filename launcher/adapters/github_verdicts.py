"""Verdicts of launcher's name that someone else set, as GitHub recorded them.

launcher's verdict is its app's check run; anyone with write access can still set a commit
status `launcher/approval` (and another app a check run of that name). The ruleset requires the
check from launcher's app, so those never count; launcher reads them only to say on the pull
request who set them, and to record that for `launcher status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from launcher.adapters.github import GitHub, _wrap


@dataclass(frozen=True)
class Verdict:
    """Someone else's verdict of launcher's name: the latest per writer."""

    kind: str  # "status" or "check run"
    creator: str  # the login that set a status, or the app (slug) that wrote a check run
    state: str
    description: str = ""


@_wrap("reading the commit's statuses")
def foreign_statuses(gh: GitHub, sha: str, context: str) -> tuple[Verdict, ...]:
    """Every writer's latest `context` status on `sha` (one request: GitHub lists statuses
    newest first with their creator, which the combined status leaves out). launcher writes
    no statuses, so every one is someone else's."""
    requester = gh.repo._requester  # noqa: SLF001 - PyGithub's list drops nothing, but is lazy
    _, data = requester.requestJsonAndCheck(
        "GET", f"{gh.repo.url}/commits/{quote(sha)}/statuses", parameters={"per_page": 100}
    )
    latest: dict[str, Verdict] = {}
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict) or entry.get("context") != context:
            continue
        creator = _login(entry.get("creator"))
        latest.setdefault(
            creator.casefold(),
            Verdict(
                "status", creator, str(entry.get("state", "")), str(entry.get("description") or "")
            ),
        )
    return tuple(sorted(latest.values(), key=lambda v: v.creator.casefold()))


def _login(user: Any) -> str:
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return str(user["login"])
    return "an unknown account"
