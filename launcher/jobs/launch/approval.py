"""The approval re-check at launch time: the content on the default branch came through a
merged pull request whose gate item for its path held at its merged head."""

from __future__ import annotations

from launcher.core.approvals import latest_deciding
from launcher.core.gate import ItemKind, State
from launcher.core.lifecycle import Category, Desired
from launcher.core.record import Event, EventKind
from launcher.core.text import clip
from launcher.jobs.launch.common import Approval, Refused, Transient, git_blob_sha
from launcher.jobs.launch.rechecks import late_approval, revoked_on_main, undecided_is_transient
from launcher.jobs.launch.views import Lookups


def check_approval(lookups: Lookups, d: Desired) -> Approval:
    """The approval `d` rests on, with its events (who approved, on which commit, the
    review's text). Raises Refused (NOT_APPROVED or REJECTED, with the rejecting reviews as
    events; NOT_APPROVED when pools.yaml on main no longer grants what the approval rested on;
    AUTO_REJECTED when the approvals came after a scheduled request's launch_at) or Transient
    (the gate could not decide now)."""
    branch = lookups.branch
    commit, pr = lookups.provenance(d.path)
    if pr is None:
        raise Refused(
            Category.NOT_APPROVED,
            f"{d.path} reached {branch} in {commit[:7]} without a merged pull request",
        )
    decision, reviews = lookups.decision(pr)
    if decision.state is State.ERROR:
        raise Transient(f"could not re-check #{pr.number}: {decision.description}")
    item = next(
        (
            i
            for i in decision.items
            if i.path == d.path and i.kind is ItemKind.REQUEST and i.change not in ("removed",)
        ),
        None,
    )
    if item is None:
        raise Refused(Category.NOT_APPROVED, f"pull request #{pr.number} did not ask for {d.path}")
    approved_content = lookups.gh.read_file(d.path, pr.head_sha)
    if approved_content is None or git_blob_sha(approved_content) != d.blob:
        raise Refused(
            Category.NOT_APPROVED,
            f"{d.path} on {branch} differs from what #{pr.number} had approved",
        )
    if item.state is State.SUCCESS:
        revoked = undecided_is_transient(
            revoked_on_main, lookups.checks, pr, item, branch, lookups.head
        )
        if revoked is not None:
            raise Refused(revoked.category, revoked.message)
        approved = item.tally.approved_by if item.tally else ()
        latest = latest_deciding(reviews)
        events = tuple(
            Event(
                EventKind.APPROVED,
                None,
                login,
                latest[login.casefold()].commit_id if login.casefold() in latest else "",
                clip(latest[login.casefold()].body.strip(), 500)
                if login.casefold() in latest
                else "",
            )
            for login in approved
        )
        return Approval(pr, pr.author, tuple(approved), events)
    if item.tally and item.tally.rejected_by:
        rejected = tuple(
            Event(EventKind.REJECTED, None, r.user, r.commit_id, clip(r.body.strip(), 500))
            for r in item.tally.rejected_by
        )
        raise Refused(Category.REJECTED, f"#{pr.number}: {item.summary}", rejected)
    late = late_approval(pr, item, commit)
    if late is not None:
        raise Refused(late.category, late.message)
    raise Refused(
        Category.NOT_APPROVED,
        f"#{pr.number} was merged without the gate's approval ({item.summary})",
    )
