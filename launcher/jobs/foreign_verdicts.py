"""launcher's record of `launcher/approval` verdicts that someone else set.

The gate ignores them and says so on the pull request; it also records each one as a
deployment under its own task, written by launcher's identity (the adapter lists only the
bot's deployments), so `launcher status` lists them from that one list call, with no read per
pull request, and nobody can erase the record by editing a comment or a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from launcher.adapters.github_verdicts import Verdict
from launcher.core.pulls import Pull
from launcher.jobs.ports import GitHubPort

TASK = "launcher-foreign-verdict"
ENVIRONMENT = "launcher-foreign-verdicts"


@dataclass(frozen=True)
class ForeignVerdict:
    pr: int
    sha: str
    creator: str
    state: str
    description: str


def recorded(gh: GitHubPort) -> list[ForeignVerdict]:
    """Every foreign verdict launcher recorded, newest first (1 request per 100)."""
    found = []
    for d in gh.deployments(TASK):
        p = d.payload
        pr, creator = p.get("pr"), p.get("creator")
        if not isinstance(pr, int) or not isinstance(creator, str):
            continue
        found.append(
            ForeignVerdict(
                pr, d.sha, creator, str(p.get("state", "")), str(p.get("description", ""))
            )
        )
    return found


def record(gh: GitHubPort, info: Pull, foreign: Sequence[Verdict]) -> list[str]:
    """Record the foreign verdicts not recorded yet for this head; returns who was recorded."""
    if not foreign:
        return []
    done = {(v.sha, v.creator.casefold(), v.state) for v in recorded(gh) if v.pr == info.number}
    written = []
    for verdict in foreign:
        if (info.head_sha, verdict.creator.casefold(), verdict.state) in done:
            continue
        payload = {
            "launcher": 1,
            "pr": info.number,
            "kind": verdict.kind,
            "creator": verdict.creator,
            "state": verdict.state,
            "description": verdict.description[:140],
        }
        text = f"launcher/approval {verdict.kind} by {verdict.creator} on #{info.number}: ignored"
        gh.create_deployment(info.head_sha, ENVIRONMENT, payload, text, TASK)
        written.append(verdict.creator)
    return written


def foreign_notes(foreign: Sequence[Verdict], context: str) -> list[str]:
    """What the pull request is told about verdicts of launcher's name set by anyone else."""
    return [
        f"a {context} {v.kind} was also set by {v.creator} "
        f"({v.state}: {v.description or 'no text'}): launcher ignores it; only launcher's "
        "own check counts (the ruleset requires it from the launcher app)"
        for v in foreign
    ]


def lines(verdicts: Sequence[ForeignVerdict]) -> list[str]:
    """`launcher status`'s section (empty when there is nothing to say)."""
    if not verdicts:
        return []
    out = [
        "",
        "launcher/approval verdicts set by others (ignored; the ruleset requires launcher's)",
    ]
    for v in verdicts:
        out.append(f"#{v.pr}  {v.sha[:7]}  {v.creator}  {v.state}: {v.description or '-'}")
    return out
