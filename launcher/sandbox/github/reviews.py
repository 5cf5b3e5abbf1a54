"""Pending reviews and review edits: create without ``event``, update, submit, delete.

Why: a pending review is invisible to everyone but its author until submitted, and a
submitted review's text can still be edited afterwards (``pull_request_review.edited``);
a gate that reads reviews must see exactly what GitHub shows, when GitHub shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launcher.sandbox.github import limits
from launcher.sandbox.github.http import ApiError, not_found
from launcher.sandbox.github.state import Issue, Repo, Review, now

if TYPE_CHECKING:
    from launcher.sandbox.github.service import GitHub

EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def unprocessable(message: str) -> ApiError:
    """GitHub's review errors: 422 ``Unprocessable Entity`` with string ``errors``."""
    return ApiError(422, "Unprocessable Entity", [message])


def visible(review: Review, viewer: str | None) -> bool:
    """A pending review exists only for its author."""
    return review.state != "PENDING" or (
        viewer is not None and viewer.lower() == review.user.lower()
    )


def find(gh: GitHub, repo: Repo, issue: Issue, review_id: int, viewer: str | None) -> Review:
    review = gh.get_review(repo, issue, review_id)
    if not visible(review, viewer):
        raise not_found()
    return review


def check_one_pending(repo: Repo, issue: Issue, actor: str) -> None:
    for r in repo.reviews.get(issue.number, []):
        if r.state == "PENDING" and r.user.lower() == actor.lower():
            raise unprocessable("User can only have one pending review per pull request")


def update(gh: GitHub, repo: Repo, issue: Issue, review: Review, actor: str, body: str) -> None:
    """Replace the review's summary; submitted reviews announce ``edited`` (with ``changes``).

    Like comments, anyone with write access may edit someone else's review text.
    """
    with gh.state.lock:
        if actor.lower() != review.user.lower():
            if review.state == "PENDING":
                raise not_found()
            gh.require(repo, actor, "write")
        if not isinstance(body, str):
            raise unprocessable("Body is required")
        limits.check_body(body, "PullRequestReview")
        old = review.body
        review.body = body
        if review.state != "PENDING" and old != body:
            gh._emit_review(repo, issue, review, "edited", actor, changes={"body": {"from": old}})


def submit(
    gh: GitHub,
    repo: Repo,
    issue: Issue,
    review: Review,
    actor: str,
    event: str | None,
    body: str | None,
) -> None:
    """Submit a pending review: it becomes visible, on the commit it was started on."""
    with gh.state.lock:
        if review.user.lower() != actor.lower():
            raise not_found()
        if review.state != "PENDING":
            raise unprocessable("Can not submit a non-pending review")
        state = EVENTS.get(event or "")
        if state is None:
            raise unprocessable(f"Event {event} is not a valid review event")
        own = actor.lower() == issue.user.lower()
        if own and state == "APPROVED":
            raise unprocessable("Can not approve your own pull request")
        if own and state == "CHANGES_REQUESTED":
            raise unprocessable("Can not request changes on your own pull request")
        text = body if body is not None else review.body
        limits.check_body(text, "PullRequestReview")
        if state in ("CHANGES_REQUESTED", "COMMENTED") and not text.strip():
            raise unprocessable(f"Body is required for {event} reviews")
        review.body, review.state, review.submitted_at = text, state, now()
        pr = issue.pull
        assert pr is not None
        pr.requested_users = [u for u in pr.requested_users if u.lower() != actor.lower()]
        gh.record(repo, issue, "reviewed", actor, subject=review.id)
        gh._emit_review(repo, issue, review, "submitted", actor)


def delete(gh: GitHub, repo: Repo, issue: Issue, review: Review, actor: str) -> None:
    with gh.state.lock:
        if review.user.lower() != actor.lower():
            raise not_found()
        if review.state != "PENDING":
            raise unprocessable("Can not delete a non-pending pull request review")
        repo.reviews[issue.number] = [r for r in repo.reviews[issue.number] if r.id != review.id]
