"""Who has approved what: counting GitHub reviews the way the gate must.

An approval counts only if it is the reviewer's latest deciding review (APPROVED,
CHANGES_REQUESTED or DISMISSED; comments do not decide), it was given on the pull request's
current head commit, the reviewer is an approver of the pool (or an admin, for control
changes) as pools.yaml says on the base branch, and the reviewer is not the author. A latest
CHANGES_REQUESTED from an approver is a rejection, with the review's text as the reason.
Comments saying "approved", edited comments and labels never count: only reviews are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime

from launcher.core.provenance import Dismissal

DECIDING = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}


@dataclass(frozen=True)
class Review:
    """One GitHub pull request review, as the API lists it (in submission order)."""

    id: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str
    body: str = ""
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class Tally:
    """Approvals for one set of approvers on one head commit."""

    approved_by: tuple[str, ...]  # counted: approvers' current approvals on the head
    stale: tuple[str, ...]  # approvers whose latest approval is on an older commit
    rejected_by: tuple[Review, ...]  # approvers whose latest deciding review requests changes
    ignored: tuple[str, ...]  # approvals that do not count: not an approver, or the author
    required: int
    before_base: tuple[str, ...] = ()  # approvers whose approval predates the latest base change
    kept_vetoes: Mapping[int, str] = dataclass_field(default_factory=dict)  # review id -> who
    # dismissed that rejection without being allowed to lift it
    late: tuple[Review, ...] = ()  # approvers' approvals submitted at or after `approved_before`

    @property
    def missing(self) -> int:
        return max(0, self.required - len(self.approved_by))


def latest_deciding(reviews: Iterable[Review]) -> dict[str, Review]:
    """Each reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED review (by login)."""
    latest: dict[str, Review] = {}
    for review in sorted(reviews, key=lambda r: r.id):
        if review.state in DECIDING:
            latest[review.user.casefold()] = review
    return latest


def tally(
    reviews: Iterable[Review],
    *,
    approvers: frozenset[str],
    author: str,
    head_sha: str,
    required: int,
    pushers: frozenset[str] = frozenset(),
    base_changed_at: datetime | None = None,
    dismissals: Mapping[int, Dismissal] | None = None,
    may_dismiss: frozenset[str] = frozenset(),
    approved_before: datetime | None = None,
) -> Tally:
    """Count the approvals that hold for `approvers` (casefolded logins) on `head_sha`.

    `pushers` (casefolded logins that pushed onto the pull request) approve no more than the
    author does. Approvals submitted at or before `base_changed_at` were given for another
    diff. A dismissed rejection is lifted only when its dismissal's actor is in `may_dismiss`
    (the pool's approvers or admins) and is neither the author nor a pusher; a dismissal
    recorded without such an actor leaves the veto standing. A DISMISSED review without a
    dismissal event is a dismissed approval (GitHub records every dismissal of a rejection).
    With `approved_before` (a scheduled request's launch_at), an approval counts only when it
    was submitted before it: a later one is `late` (the request was auto-rejected by then).
    """
    approved: list[str] = []
    stale: list[str] = []
    rejected: list[Review] = []
    ignored: list[str] = []
    before_base: list[str] = []
    kept: dict[int, str] = {}
    late: list[Review] = []
    parties = pushers | {author.casefold()}
    for login, review in latest_deciding(reviews).items():
        is_approver = login in approvers and login not in parties
        if review.state == "APPROVED":
            if not is_approver:
                ignored.append(review.user)
            elif review.commit_id != head_sha:
                stale.append(review.user)
            elif base_changed_at is not None and (
                review.submitted_at is None or review.submitted_at <= base_changed_at
            ):
                before_base.append(review.user)
            elif approved_before is not None and (
                review.submitted_at is None or review.submitted_at >= approved_before
            ):
                late.append(review)
            else:
                approved.append(review.user)
        elif review.state == "CHANGES_REQUESTED" and is_approver:
            rejected.append(review)
        elif review.state == "DISMISSED" and is_approver and dismissals is not None:
            dismissal = dismissals.get(review.id)
            if dismissal is None or dismissal.previous_state != "changes_requested":
                continue
            actor = dismissal.actor.casefold() if dismissal.actor else None
            if actor is None or actor not in may_dismiss or actor in parties:
                rejected.append(review)
                kept[review.id] = dismissal.actor or "an unknown account"
    return Tally(
        approved_by=tuple(sorted(approved, key=str.casefold)),
        stale=tuple(sorted(stale, key=str.casefold)),
        rejected_by=tuple(rejected),
        ignored=tuple(sorted(ignored, key=str.casefold)),
        required=required,
        before_base=tuple(sorted(before_base, key=str.casefold)),
        kept_vetoes=kept,
        late=tuple(late),
    )
