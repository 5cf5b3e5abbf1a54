"""Who has approved what: counting GitHub reviews the way the gate must.

An approval counts only if it is the reviewer's latest deciding review (APPROVED,
CHANGES_REQUESTED or DISMISSED; comments do not decide), it was given on the pull request's
current head commit, the reviewer is an approver of the pool (or an admin, for control
changes) as pools.yaml says on the base branch, and the reviewer is not the author. A latest
CHANGES_REQUESTED from an approver is a rejection, with the review's text as the reason.
Comments saying "approved", edited comments and labels never count: only reviews are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DECIDING = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}


@dataclass(frozen=True)
class Review:
    """One GitHub pull request review, as the API lists it (in submission order)."""

    id: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str
    body: str = ""


@dataclass(frozen=True)
class Tally:
    """Approvals for one set of approvers on one head commit."""

    approved_by: tuple[str, ...]  # counted: approvers' current approvals on the head
    stale: tuple[str, ...]  # approvers whose latest approval is on an older commit
    rejected_by: tuple[Review, ...]  # approvers whose latest deciding review requests changes
    ignored: tuple[str, ...]  # approvals that do not count: not an approver, or the author
    required: int

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
) -> Tally:
    """Count the approvals that hold for `approvers` (casefolded logins) on `head_sha`."""
    approved: list[str] = []
    stale: list[str] = []
    rejected: list[Review] = []
    ignored: list[str] = []
    for login, review in latest_deciding(reviews).items():
        is_approver = login in approvers and login != author.casefold()
        if review.state == "APPROVED":
            if not is_approver:
                ignored.append(review.user)
            elif review.commit_id != head_sha:
                stale.append(review.user)
            else:
                approved.append(review.user)
        elif review.state == "CHANGES_REQUESTED" and is_approver:
            rejected.append(review)
    return Tally(
        approved_by=tuple(sorted(approved, key=str.casefold)),
        stale=tuple(sorted(stale, key=str.casefold)),
        rejected_by=tuple(rejected),
        ignored=tuple(sorted(ignored, key=str.casefold)),
        required=required,
    )
