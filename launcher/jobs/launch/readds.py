"""Request files that changed, or left the default branch and came back, since the last run.

In app mode a request file whose blob launcher already recorded costs the run no read (its
record stands for it: `views.desired_of`). That is right while the file stayed as it was, but
a file removed (a removal the removal rule may allow) and added back with the same content by
someone else, both between two runs, would look like the request that ran: the removal never
applied, the re-add never re-verified; and a FAILED content brought back through another,
approved pull request would look like the old failure. Reading how every file reached main
would cost one request per request per run; instead the run looks at the commits main gained
since the last run that wrote a record (`seen`, the head that run read): for each, its parent's
tree (the head's is read anyway), so the cost follows the commits since, not the requests on
main. A run with nothing new (main's head is the one last seen) reads nothing.

A file absent at some commit in that range and present at the head came back: the run reads
its provenance like a changed file, ends what ran as a removal (judged at the commit before it
came back), and takes the file as a new ask. A file changed in the range is read as a changed
file, even when its content is one launcher recorded as failed.

What a run learns here must not be lost by a run that stops half-way: its records carry the
head it read only when nothing it planned was for a file changed in the range; otherwise they
carry the commit it started from, and the next run looks at the same commits again.

Amortised: a run that looked at `MARK_AFTER` commits or more and plans nothing (so writes no
record that would carry its head) writes one `seen` marker of the head it read
(launcher.core.record.seen_marker), and the next run starts there. Without it, commits that
record nothing (a README change, a reworded request) would be read again by every run until
one records something: 2 requests each, up to 2 x `LIMIT` per run. With it, a run reads at most
`MARK_AFTER` - 1 commits it read before. A marker written only when nothing was planned says
nothing the run had not fully decided; two runs writing one each, or a marker older than a
record, only make the next run look at more commits, never fewer (the newest by id wins).

Bounded: at most `LIMIT` commits are looked at; beyond that (a repository where nothing was
recorded for a long time, or main rewritten), older changes go unseen and every FAILED request
file is read again, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass, field

from launcher.core.deployments import Deployment
from launcher.core.documents import request_key
from launcher.core.record import seen_of
from launcher.jobs.ports import GitHubPort

LIMIT = 30  # commits looked at per run, at most
# commits looked at from which a run that plans nothing writes a `seen` marker: each commit read
# costs 2 requests, a marker 1, within the no-op budget's margin (BENCHMARKS.md)
MARK_AFTER = 2


@dataclass(frozen=True)
class Since:
    """What main's commits since the last seen head say about its request files."""

    start: str | None = None  # the head last seen (None: nothing recorded yet)
    absent: Mapping[str, str] = field(default_factory=dict)  # path -> newest commit without it
    touched: frozenset[str] = frozenset()  # paths changed (or absent) at some commit since
    complete: bool = False  # every commit since `start` was looked at
    order: Mapping[str, int] = field(default_factory=dict)  # commit -> 0 (head), 1, ...
    looked: int = 0  # commits looked at (each its parent and the parent's tree)

    def absent_after(self, path: str, commits: Iterable[str]) -> str:
        """The newest commit without `path` if it is newer than all of `commits` (those of
        launcher's records of the request: what ran reached main before it left), else ""
        (a file first added since, or whose return is already recorded)."""
        absent = self.absent.get(path, "")
        if not absent:
            return ""
        where = self.order[absent]
        return "" if any(self.order.get(c, where + 1) < where for c in commits) else absent

    def keys(self) -> frozenset[str]:
        """The requests whose files changed since."""
        return frozenset(k for p in self.touched if (k := request_key(p)) is not None)


def last_seen(listed: Iterable[Deployment]) -> str | None:
    """The head the newest of launcher's request records or `seen` markers was written at:
    its `seen`, or for records written before `seen` existed, its commit (never newer than
    the head its run read, so starting there looks at more commits, never fewer)."""
    newest = max(
        (
            d
            for d in listed
            if (d.record is not None and d.record.version is not None)
            or seen_of(d.payload, d.environment)
        ),
        key=lambda d: d.id,
        default=None,
    )
    if newest is None:
        return None
    if newest.record is None:
        return seen_of(newest.payload, newest.environment)
    return newest.record.seen or newest.sha


def worth_marking(looked: int, planned: Sized) -> bool:
    """Whether a run that looked at `looked` commits since the last seen head and planned
    `planned` writes a `seen` marker."""
    return looked >= MARK_AFTER and len(planned) == 0


def since(gh: GitHubPort, start: str | None, head: str, files: Mapping[str, str]) -> Since:
    """Request paths on main at `head` changed, or absent, at some commit after `start`
    (first parents, newest first)."""
    if start is None:
        return Since()
    if start == head:
        return Since(start, complete=True)
    requests = {p for p in files if request_key(p) is not None}
    absent: dict[str, str] = {}
    touched: set[str] = set()
    current, after = head, dict(files)
    complete = False
    order = {head: 0}
    looked = 0
    for step in range(1, LIMIT + 1):
        looked = step
        parent = gh.commit_facts(current).parent
        if parent is None:
            break
        order.setdefault(parent, step)
        before = gh.tree(parent)
        for path in requests:
            if path not in before and path not in absent:
                absent[path] = parent
            if before.get(path) != after.get(path):
                touched.add(path)
        if parent == start:
            complete = True
            break
        current, after = parent, before
    return Since(start, absent, frozenset(touched), complete, order, looked)
