"""A pull request as launcher reads it: one type for the gate, the launch job's provenance
check, the sweep and the status views, filled from whichever API answer the job had (the pull
request itself, the open list, or a commit's pull requests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from launcher.core.gate import LABELS, parse_launch_at_label

WAITING_LABELS = frozenset({LABELS["pending"], LABELS["rejected"]})


@dataclass(frozen=True, kw_only=True)
class Pull:
    number: int
    author: str
    head_sha: str
    base_sha: str
    base_ref: str
    state: str  # open or closed
    merged: bool
    created_at: datetime
    html_url: str
    labels: tuple[str, ...] = ()
    requested_users: tuple[str, ...] = ()
    requested_teams: tuple[str, ...] = ()  # "org/slug"
    merge_commit_sha: str | None = None
    head_ref: str = ""  # the head branch's name (pushes onto it are read from the activity log)
    default_branch: str = ""  # the base repository's default branch, as the pull request says
    head_repo: str | None = None  # the head's owner/name ("": deleted repository; None: unread)
    merged_at: datetime | None = None  # when it was merged (None: not merged, or not read)

    @property
    def waiting(self) -> bool:
        """Still pending approval, or rejected and not amended (the gate's labels say so)."""
        return any(label in WAITING_LABELS for label in self.labels)

    @property
    def launch_at(self) -> datetime | None:
        """The earliest scheduled launch the gate labelled (`launch:at …`), if any."""
        times = [t for t in map(parse_launch_at_label, self.labels) if t is not None]
        return min(times) if times else None

    @property
    def requested(self) -> tuple[str, ...]:
        """The reviewers asked, as mentions (`@login`, `@org/team`)."""
        return tuple(f"@{u}" for u in self.requested_users) + tuple(
            f"@{t}" for t in self.requested_teams
        )
