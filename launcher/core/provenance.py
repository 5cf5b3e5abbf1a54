"""Who really stands behind a pull request, from what GitHub itself records.

Everyone who may request has write access, so they can push onto someone else's pull request
branch, retarget a pull request, or dismiss a review. Commit authors and comments are free
text; the activity log (who moved which ref to which commit) and issue events (who changed the
base, who dismissed which review) are GitHub's own record. This module turns those records into
the three facts the gate needs:

- the **pushers**: every account other than the author that moved the head branch to a commit
  of the pull request: a push, force push or branch creation, and also a pull request merged
  into the branch (`pr_merge`: its content is whatever the merged pull request's author
  pushed, put there by whoever merged it) or a merge queue's merge, and any kind of move
  GitHub adds later (only a deletion moves the branch to no commit). The effective tier on a
  pool is the lowest among the author and the pushers; a bot or an unknown (deleted) account
  has none.
- the time of the latest **change of base**: approvals given before it were given for another
  diff, so they do not count.
- the **dismissals**: who dismissed which review, and what it was before.

Pure: the adapter reads the records, this decides what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launcher.core.pulls import Pull

# The activity types that do not put a commit on the ref. Every other one (push, force_push,
# branch_creation, pr_merge, merge_queue_merge, and any type GitHub adds) moved it to `after`
# on its actor's doing: counted as that actor's push. A list of the moves instead would let a
# new kind of move (or one overlooked: pr_merge was) put commits on a branch unseen.
NOT_MOVING = frozenset({"branch_deletion"})
BASE_CHANGE_EVENTS = frozenset({"base_ref_changed", "automatic_base_change_succeeded"})
UNKNOWN = "an unknown account"


@dataclass(frozen=True)
class Activity:
    """One entry of GET /repos/{owner}/{repo}/activity, as launcher needs it."""

    activity_type: str
    ref: str
    after: str
    actor: str | None  # None: the account no longer exists
    actor_is_bot: bool = False


def moves(act: Activity) -> bool:
    """Whether `act` put a commit on its ref (see NOT_MOVING)."""
    return act.activity_type not in NOT_MOVING


@dataclass(frozen=True)
class IssueEvent:
    """One entry of GET /repos/{owner}/{repo}/issues/{n}/events, as launcher needs it."""

    event: str
    actor: str | None
    created_at: datetime
    review_id: int | None = None  # review_dismissed: the review
    review_state: str | None = None  # review_dismissed: its state before ("changes_requested")


@dataclass(frozen=True)
class Pusher:
    """An account other than the author that put commits on the pull request's branch."""

    login: str | None  # None: unknown account
    bot: bool = False

    @property
    def has_tier(self) -> bool:
        """Bots and unknown accounts hold no tier: pools.yaml names people and teams."""
        return self.login is not None and not self.bot

    @property
    def shown(self) -> str:
        if self.login is None:
            return UNKNOWN
        return f"{self.login} (a bot)" if self.bot else self.login


@dataclass(frozen=True)
class Dismissal:
    review_id: int
    actor: str | None
    previous_state: str  # approved / changes_requested, lowercase as GitHub sends it


@dataclass(frozen=True)
class History:
    """What GitHub recorded about the pull request beyond its reviews; empty means none of it
    happened (a pull request pushed only by its author, never retargeted, nothing dismissed)."""

    pushers: tuple[Pusher, ...] = ()
    base_changed_at: datetime | None = None
    dismissals: Mapping[int, Dismissal] = field(default_factory=dict)

    def fingerprint(self) -> list[object]:
        """The parts a re-run must compare to know nothing changed."""
        return [
            sorted([p.login or "", p.bot] for p in self.pushers),
            self.base_changed_at.isoformat() if self.base_changed_at else None,
            sorted(
                [d.review_id, d.actor or "", d.previous_state] for d in self.dismissals.values()
            ),
        ]


def pushers(
    activities: Iterable[Activity], head_ref: str, commits: Iterable[str], author: str
) -> tuple[Pusher, ...]:
    """Accounts other than `author` who moved `head_ref` (a push, force push, branch creation,
    a pull request merged into it...) to one of the pull request's `commits` (ordered by first
    appearance)."""
    ref = head_ref if head_ref.startswith("refs/") else f"refs/heads/{head_ref}"
    ours = set(commits)
    found: list[Pusher] = []
    for act in activities:
        if not moves(act) or act.ref != ref or act.after not in ours:
            continue
        if act.actor is not None and act.actor.casefold() == author.casefold():
            continue
        pusher = Pusher(act.actor, act.actor_is_bot)
        if pusher not in found:
            found.append(pusher)
    return tuple(found)


def needs_commits(activities: Iterable[Activity], head_ref: str, author: str) -> bool:
    """Whether anyone but the author moved the head ref at all: only then must the pull
    request's commits be read to tell which of those pushes it contains."""
    ref = head_ref if head_ref.startswith("refs/") else f"refs/heads/{head_ref}"
    return any(
        moves(act)
        and act.ref == ref
        and (act.actor is None or act.actor.casefold() != author.casefold())
        for act in activities
    )


def history(pushed_by: tuple[Pusher, ...], events: Iterable[IssueEvent]) -> History:
    base_changed_at: datetime | None = None
    dismissals: dict[int, Dismissal] = {}
    for event in events:
        if event.event in BASE_CHANGE_EVENTS:
            if base_changed_at is None or event.created_at > base_changed_at:
                base_changed_at = event.created_at
        elif event.event == "review_dismissed" and event.review_id is not None:
            dismissals[event.review_id] = Dismissal(
                event.review_id, event.actor, (event.review_state or "").lower()
            )
    return History(pushed_by, base_changed_at, dismissals)


def landed_through(
    merged: Sequence[Pull], branch: str, reached: Callable[[str], bool]
) -> Pull | None:
    """The merged pull request through which a commit reached `branch`, among those GitHub
    lists for it. Several can hold one commit (a second pull request opened on the same head,
    which GitHub marks merged once the first lands; a merge queue's group commit), and any
    writer can make one: the pick must not depend on which is newest, or a second pull
    request would turn an approved request into `not_approved`. So: the pull requests into
    `branch` whose merge commit (for a merge queue, the group's commit) `reached` says is on
    the branch, the first merged among them. `reached` is asked only when there is a choice."""
    into = [p for p in merged if p.merged and p.base_ref == branch and p.merge_commit_sha]
    if len(into) <= 1:
        return into[0] if into else None
    on_branch = [p for p in into if reached(p.merge_commit_sha or "")]
    if not on_branch:
        return None
    far_future = datetime.max.replace(tzinfo=UTC)
    return min(on_branch, key=lambda p: (p.merged_at or far_future, p.number))
