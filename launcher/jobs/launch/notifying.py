"""Notifying: one comment per request version and outcome on its pull request, found again
by its hidden marker, so a re-run posts nothing twice and a crash loses none."""

from __future__ import annotations

from datetime import datetime

from launcher.core.lifecycle import Desired, Record
from launcher.core.matching import Placement
from launcher.core.times import utc_iso
from launcher.jobs.comments import comment_once
from launcher.jobs.launch.common import COMMENT_MARKER, Approval
from launcher.jobs.ports import GitHubPort


class Notifier:
    """Comments on the pull requests that asked, linking the run's log."""

    def __init__(self, gh: GitHubPort, log_url: str | None) -> None:
        self.gh, self.log_url = gh, log_url

    def comment(self, approval: Approval, d: Desired, outcome: str, text: str) -> None:
        """One comment per request version and outcome on the merged pull request, found
        again by its hidden marker: a re-run edits nothing and posts nothing twice."""
        marker = COMMENT_MARKER.format(key=d.key, version=d.version.id, outcome=outcome)
        cc = [
            f"@{a}"
            for a in approval.approved_by
            if a.casefold() != approval.requested_by.casefold()
        ]
        body = (
            f"@{approval.requested_by} your launch request `{d.key}` {text}"
            + (f"\n\ncc {' '.join(cc)} (approved)" if cc else "")
            + (f"\n\n[workflow run]({self.log_url})" if self.log_url else "")
        )
        comment_once(self.gh, approval.pr.number, marker, body)

    def post(self, pr: int, record: Record, outcome: str, text: str) -> None:
        """The same, for a request known only by its record (it left main or expired)."""
        marker = COMMENT_MARKER.format(key=record.key, version=record.version.id, outcome=outcome)
        who = f"@{record.requested_by} " if record.requested_by else ""
        comment_once(self.gh, pr, marker, f"{who}your launch request `{record.key}` {text}")


def running_text(
    placement: Placement,
    ids: dict[str, list[str]],
    until: datetime | None,
) -> str:
    """The comment on a launched request: each group's instances, and when they expire."""
    lines = [f"is running on {placement.provider.name} ({placement.region}):", ""]
    for g in placement.groups:
        zone = f" in {g.zone}" if g.zone else ""
        lines.append(
            f"- `{g.group}`: {g.count} × {g.instance_type}{zone} ({g.image_id}): "
            + ", ".join(ids.get(g.group, []))
        )
    lines.append("")
    lines.append(f"It expires at {utc_iso(until)}." if until else "It has no expiry time.")
    return "\n".join(lines)
