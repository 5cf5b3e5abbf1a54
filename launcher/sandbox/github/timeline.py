"""Issue events and the timeline: what GitHub records happened to an issue or pull request.

Why: who force-pushed a pull request's branch, who changed its base, who dismissed a
review are facts only GitHub's own records hold (webhook senders are gone once
delivered). ``GET .../issues/{n}/events``, ``GET .../issues/events`` and
``GET .../issues/{n}/timeline`` serve them; each event type appears only in the APIs
GitHub's "Issue event types" page lists it for: ``commented``, ``committed`` and
``reviewed`` only on the timeline, ``base_ref_changed`` only in issue events.

``committed``, ``reviewed`` and ``commented`` entries point at the commit, review or
comment and render its current state (an edited comment shows its new body, a
dismissed review ``dismissed``), as GitHub's timeline does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launcher.sandbox.github.shapes import node_id
from launcher.sandbox.github.state import iso

if TYPE_CHECKING:
    from launcher.sandbox.github.shapes import Shapes
    from launcher.sandbox.github.state import Issue, Repo

TIMELINE_ONLY = frozenset({"commented", "committed", "reviewed"})
ISSUE_EVENTS_ONLY = frozenset(
    {
        "base_ref_changed",
        "automatic_base_change_failed",
        "automatic_base_change_succeeded",
        "deployment_environment_changed",
    }
)


@dataclass
class IssueRecord:
    """One entry: ``subject`` is the commit SHA / review id / comment id it points at."""

    id: int
    repo_id: int
    number: int
    event: str
    actor: str
    created_at: float
    commit_id: str | None = None
    subject: str | int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    """The records of every issue and pull request, oldest first."""

    entries: list[IssueRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # each issue's records, oldest first: a read lists one issue's, not every issue's
    _by_issue: dict[tuple[int, int], list[IssueRecord]] = field(default_factory=dict)

    def add(self, rec: IssueRecord) -> IssueRecord:
        with self._lock:
            self.entries.append(rec)
            self._by_issue.setdefault((rec.repo_id, rec.number), []).append(rec)
        return rec

    def of_issue(self, repo: Repo, number: int) -> list[IssueRecord]:
        with self._lock:
            return list(self._by_issue.get((repo.id, number), ()))

    def issue_events(self, repo: Repo, number: int | None = None) -> list[IssueRecord]:
        with self._lock:
            scope = self.entries if number is None else self._by_issue.get((repo.id, number), [])
            return [r for r in scope if r.repo_id == repo.id and r.event not in TIMELINE_ONLY]

    def timeline(self, repo: Repo, number: int) -> list[IssueRecord]:
        return [r for r in self.of_issue(repo, number) if r.event not in ISSUE_EVENTS_ONLY]

    def committed(self, repo: Repo, number: int) -> set[str]:
        return {str(r.subject) for r in self.of_issue(repo, number) if r.event == "committed"}

    def last_event(self, repo: Repo, number: int, events: set[str]) -> IssueRecord | None:
        found = [r for r in self.of_issue(repo, number) if r.event in events]
        return found[-1] if found else None

    def drop(self, repo: Repo, event: str, subject: str | int) -> None:
        with self._lock:
            self.entries = [
                r
                for r in self.entries
                if not (r.repo_id == repo.id and r.event == event and r.subject == subject)
            ]

    def get(self, repo: Repo, ident: int) -> IssueRecord | None:
        with self._lock:
            for r in self.entries:
                if r.repo_id == repo.id and r.id == ident and r.event not in TIMELINE_ONLY:
                    return r
        return None


def issue_event(
    shapes: Shapes, repo: Repo, rec: IssueRecord, issue: Issue | None = None
) -> dict[str, Any]:
    """``issue-event`` (with ``issue``) or the per-type ``*-issue-event`` shapes."""
    api = f"{shapes.base}/repos/{repo.full_name}"
    out: dict[str, Any] = {
        "id": rec.id,
        "node_id": node_id("IE", rec.id),
        "url": f"{api}/issues/events/{rec.id}",
        "actor": shapes.simple_user(rec.actor),
        "event": rec.event,
        "commit_id": rec.commit_id,
        "commit_url": f"{api}/commits/{rec.commit_id}" if rec.commit_id else None,
        "created_at": iso(rec.created_at),
        # An app's installation token acts as its bot account, and GitHub names the app.
        "performed_via_github_app": shapes.via_app(rec.actor),
    }
    f = rec.fields
    if "label" in f:
        out["label"] = dict(f["label"])
    if "rename" in f:
        out["rename"] = dict(f["rename"])
    if "dismissed_review" in f:
        out["dismissed_review"] = dict(f["dismissed_review"])
    if "review_requester" in f:
        out["review_requester"] = shapes.simple_user(f["review_requester"])
    if "requested_reviewer" in f:
        out["requested_reviewer"] = shapes.simple_user(f["requested_reviewer"])
    if "requested_team" in f:
        org = shapes.state.orgs.get(repo.owner.lower())
        team = org.teams.get(f["requested_team"]) if org else None
        if team is not None:
            out["requested_team"] = shapes.team(team)
    if "state_reason" in f:
        out["state_reason"] = f["state_reason"]
    if issue is not None:
        out["issue"] = shapes.issue(repo, issue)
    return out


def timeline_item(shapes: Shapes, repo: Repo, rec: IssueRecord) -> dict[str, Any] | None:
    """One timeline entry, or None when what it points at is gone."""
    if rec.event == "committed":
        c = repo.git.commit(str(rec.subject))
        if c is None:
            return None
        return {**shapes.git_commit(repo, c), "event": "committed"}
    if rec.event == "reviewed":
        review = next((r for r in repo.reviews.get(rec.number, []) if r.id == rec.subject), None)
        if review is None or review.state == "PENDING":
            return None
        out = shapes.review(repo, review)
        out["state"] = review.state.lower()
        return {**out, "event": "reviewed"}
    if rec.event == "commented":
        comment = repo.comments.get(int(rec.subject or 0))
        if comment is None:
            return None
        out = shapes.comment(repo, comment)
        return {**out, "event": "commented", "actor": shapes.simple_user(comment.user)}
    return issue_event(shapes, repo, rec)
