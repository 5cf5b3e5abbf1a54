"""Requests that left the default branch and came back before any run saw them gone.

In app mode a request file whose blob launcher already recorded costs the run no read (its
record stands for it: `views.desired_of`). That is right while the file stayed on main, but a
file removed (a removal the removal rule may allow) and added back with the same content by
someone else, both between two runs, would look like the request that ran: the removal never
applied, the re-add never re-verified. Reading how every file reached main would cost one
request per running request per run; instead the run looks at the commits main gained since
the last run that wrote a record (`seen`, the head that run read): for each, its parent's tree
(the head's is read anyway), so the cost follows the commits since, not the requests running.
A run with nothing new (main's head is the one last seen) reads nothing.

A file absent at some commit in that range and present at the head came back: the run then
reads its provenance like a changed file, ends what ran as a removal (judged at the commit
before it came back), and takes the file as a new ask.

Bounded: at most `LIMIT` commits are looked at; beyond that (a repository where nothing was
recorded for a long time, or main rewritten), older re-adds go unseen, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from launcher.core.deployments import Deployment
from launcher.core.documents import request_key
from launcher.jobs.ports import GitHubPort

LIMIT = 30  # commits looked at per run, at most


def last_seen(listed: Iterable[Deployment]) -> str | None:
    """The head the newest of launcher's request records was written at: its `seen`, or for
    records written before `seen` existed, its commit (never newer than the head its run
    read, so starting there looks at more commits, never fewer)."""
    newest = max(
        (d for d in listed if d.record is not None and d.record.version is not None),
        key=lambda d: d.id,
        default=None,
    )
    if newest is None or newest.record is None:
        return None
    return newest.record.seen or newest.sha


def readded(
    gh: GitHubPort, since: str | None, head: str, files: Mapping[str, str]
) -> dict[str, str]:
    """Request paths on main at `head` that were absent at some commit after `since` (first
    parents, newest first): path -> the newest such commit (where the file was absent)."""
    found: dict[str, str] = {}
    if since is None or since == head:
        return found
    requests = {p for p in files if request_key(p) is not None}
    current = head
    for _ in range(LIMIT):
        parent = gh.commit_facts(current).parent
        if parent is None:
            break
        before = gh.tree(parent)
        for path in requests - set(before) - set(found):
            found[path] = parent
        if parent == since:
            break
        current = parent
    return found
