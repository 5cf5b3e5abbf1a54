"""The sweep's time rules for open pull requests, as plain functions.

A request not approved before its launch time is auto-rejected; a request left pending longer
than its pool's `request_ttl` is warned, then closed. Deadlines are compared with `now`, never
"the hour matches", so a delayed or skipped run catches up on the next one. Finding candidates
uses only what the pull request list already returns (labels, creation time); each candidate
is verified against the pull request itself before anything is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from launcher.core.gate import LABELS, parse_launch_at_label

KEEP_OPEN = "launch:keep-open"
AUTO_REJECTED = LABELS["auto_rejected"]
WAITING = {LABELS["pending"], LABELS["rejected"]}


@dataclass(frozen=True)
class OpenPull:
    number: int
    author: str
    created_at: datetime
    labels: tuple[str, ...]
    head_sha: str
    html_url: str = ""

    @property
    def waiting(self) -> bool:
        """Still pending approval, or rejected and not amended (the gate's labels say so)."""
        return any(label in WAITING for label in self.labels)

    @property
    def launch_at(self) -> datetime | None:
        times = [t for t in map(parse_launch_at_label, self.labels) if t is not None]
        return min(times) if times else None


def is_late(pull: OpenPull, now: datetime) -> bool:
    """A candidate for auto-rejection: waiting and its labelled launch time has passed."""
    return pull.waiting and pull.launch_at is not None and pull.launch_at <= now


def stale_candidate(
    pull: OpenPull, shortest_ttl: timedelta | None, warn: timedelta, now: datetime
) -> bool:
    """Old enough that some pool's request_ttl (minus the warning lead) may have passed."""
    if shortest_ttl is None or not pull.waiting or KEEP_OPEN in pull.labels:
        return False
    return now - pull.created_at >= shortest_ttl - warn


def stale_stage(created_at: datetime, ttl: timedelta, warn: timedelta, now: datetime) -> str | None:
    """ "close" past the ttl, "warn" within `warn` of it, else None."""
    age = now - created_at
    if age >= ttl:
        return "close"
    if age >= ttl - warn:
        return "warn"
    return None


def utc_text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def late_reason(launch_at: datetime) -> str:
    return f"not approved before the scheduled launch time {utc_text(launch_at)}"


def stale_reason(ttl_text: str, pools: list[str]) -> str:
    which = ", ".join(pools)
    return f"pending longer than {ttl_text} (request_ttl of pool {which})"
