"""The verdict's record on a commit, by who wrote it.

`GET /commits/{sha}/statuses` lists every status with its creator (the combined status does
not say who set what). launcher keeps what a re-run may skip on in its own verdict, and
reports verdicts of the same name set by anyone else. Until the verdict is the launcher app's
check run (issue 16), the record is the commit status written by the bot login; then it is the
check run, whose app identity nobody else can take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from launcher.adapters.github import GitHub, _wrap


@dataclass(frozen=True)
class Verdict:
    """One verdict entry as GitHub recorded it (latest per writer)."""

    creator: str
    state: str
    description: str
    target_url: str
    created_at: str


@dataclass(frozen=True)
class VerdictRecord:
    own: Verdict | None  # launcher's latest
    foreign: tuple[Verdict, ...]  # each other writer's latest
    # Someone else's verdict is the newest: GitHub's combined status shows the latest per
    # context, so launcher's must be written again.
    shadowed: bool = False


@_wrap("reading the verdict's record")
def verdict_record(gh: GitHub, sha: str, context: str) -> VerdictRecord:
    """Launcher's and others' latest `context` statuses on `sha` (one request: GitHub lists
    statuses newest first, at most 1,000 per context and commit)."""
    requester = gh.repo._requester  # noqa: SLF001 - PyGithub drops nothing, but is lazier
    _, data = requester.requestJsonAndCheck(
        "GET", f"{gh.repo.url}/commits/{quote(sha)}/statuses", parameters={"per_page": 100}
    )
    bot = gh.settings.bot_login.casefold()
    latest: dict[str, Verdict] = {}
    newest: str | None = None
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict) or entry.get("context") != context:
            continue
        creator = _login(entry.get("creator"))
        newest = newest or creator.casefold()
        if creator.casefold() in latest:
            continue  # newest first: the first one per writer is its latest
        latest[creator.casefold()] = Verdict(
            creator,
            str(entry.get("state", "")),
            str(entry.get("description") or ""),
            str(entry.get("target_url") or ""),
            str(entry.get("created_at") or ""),
        )
    own = latest.pop(bot, None)
    foreign = tuple(sorted(latest.values(), key=lambda v: v.creator.casefold()))
    return VerdictRecord(own, foreign, shadowed=newest is not None and newest != bot)


def _login(user: Any) -> str:
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return str(user["login"])
    return "an unknown account"


@_wrap("setting the commit status")
def post_verdict(
    gh: GitHub, sha: str, context: str, state: str, description: str, target_url: str
) -> None:
    gh.repo.get_commit(sha).create_status(
        state=state, description=description, context=context, target_url=target_url
    )
