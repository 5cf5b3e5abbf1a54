"""Notifying: one comment per request version and outcome on its pull request, found again
by its hidden marker."""

from __future__ import annotations

from datetime import datetime

from launcher.core.lifecycle import Desired, Record
from launcher.core.matching import Placement
from launcher.core.model import LaunchRequest
from launcher.core.times import utc_iso
from launcher.jobs.comments import comment_once
from launcher.jobs.launch.common import COMMENT_MARKER, Approval
from launcher.jobs.launch.placement import _Placing


class _Notifying(_Placing):
    """Comments on the pull request that asked, one per version and outcome."""

    def _comment(self, approval: Approval, d: Desired, outcome: str, text: str) -> None:
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
            + (f"\n\n[workflow run]({self.options.log_url})" if self.options.log_url else "")
        )
        comment_once(self.gh, approval.pr.number, marker, body)

    def _post_comment(self, pr: int, record: Record, outcome: str, text: str) -> None:
        marker = COMMENT_MARKER.format(key=record.key, version=record.version.id, outcome=outcome)
        who = f"@{record.requested_by} " if record.requested_by else ""
        comment_once(self.gh, pr, marker, f"{who}your launch request `{record.key}` {text}")


def _running_text(
    request: LaunchRequest,
    placement: Placement,
    ids: dict[str, list[str]],
    until: datetime | None,
) -> str:
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
