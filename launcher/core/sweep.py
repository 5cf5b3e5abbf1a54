"""The sweep's time rules for open pull requests, as plain functions.

A request not approved before its launch time is auto-rejected; a request left pending longer
than its pool's `request_ttl` is warned, then closed. Deadlines are compared with `now`, never
"the hour matches", so a delayed or skipped run catches up on the next one. Finding candidates
uses only what the pull request list already returns (labels, creation time); each candidate
is verified against the pull request itself before anything is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import Enum

from launcher.core.deployments import Deployment, newest
from launcher.core.documents import request_key
from launcher.core.fleet import Fleet
from launcher.core.gate import LABELS
from launcher.core.pulls import Pull
from launcher.core.times import utc_text

KEEP_OPEN = "launch:keep-open"
AUTO_REJECTED = LABELS["auto_rejected"]


def is_late(pull: Pull, now: datetime) -> bool:
    """A candidate for auto-rejection: waiting and its labelled launch time has passed."""
    return pull.waiting and pull.launch_at is not None and pull.launch_at <= now


def stale_candidate(
    pull: Pull, shortest_ttl: timedelta | None, warn: timedelta, now: datetime
) -> bool:
    """Old enough that some pool's request_ttl (minus the warning lead) may have passed."""
    if shortest_ttl is None or not pull.waiting or KEEP_OPEN in pull.labels:
        return False
    return now - pull.created_at >= shortest_ttl - warn


class StaleStage(Enum):
    """Where a pending pull request stands against its pool's request_ttl."""

    WARN = "warn"  # within the warning lead of the ttl: say it will be closed
    CLOSE = "close"  # past the ttl: close it


def stale_stage(
    created_at: datetime, ttl: timedelta, warn: timedelta, now: datetime
) -> StaleStage | None:
    """CLOSE past the ttl, WARN within `warn` of it, else None."""
    age = now - created_at
    if age >= ttl:
        return StaleStage.CLOSE
    if age >= ttl - warn:
        return StaleStage.WARN
    return None


def late_reason(launch_at: datetime) -> str:
    return f"not approved before the scheduled launch time {utc_text(launch_at)}"


def stale_reason(ttl_text: str, pools: list[str]) -> str:
    which = ", ".join(pools)
    return f"pending longer than {ttl_text} (request_ttl of pool {which})"


# --- deployments: when the reconcile must run, what to warn about ----------------------------


def reconcile_reasons(
    files: Mapping[str, str],
    deployments: Iterable[Deployment],
    fleets: Iterable[Fleet],
    now: datetime,
) -> tuple[list[str], list[Deployment]]:
    """Why the full reconcile (`launcher launch`) must run now, from cheap views only (main's
    tree, the deployment list, the fleet); and the `schedule` deployments that may be due
    (their status decides: it costs one read each).

    Nothing due means no per-deployment reads at all: the sweep's cost then grows with pages of
    pull requests and deployments and one DescribeInstances per region, not with requests.
    """
    listed = list(deployments)
    latest = newest(listed)
    known_blobs = {(d.request_key, d.blob) for d in listed if d.request_key}
    launched: dict[str, str] = {}  # the launch commit of each request's newest `launch`
    for d in sorted(listed, key=lambda d: d.id):
        if d.key is not None and d.kind == "launch":
            launched[d.key] = d.launch_commit
    reasons: list[str] = []
    on_main: set[str] = set()
    for path, blob in files.items():
        key = request_key(path)
        if key is None:
            continue
        on_main.add(key)
        if (key, blob) not in known_blobs:
            reasons.append(f"{key}: a version on the default branch not yet handled")
    for fleet in fleets:
        recorded = fleet.key in latest
        running_commit = launched.get(fleet.key, "")
        if fleet.key not in on_main and recorded:
            reasons.append(f"{fleet.key}: removed from the default branch, still running")
        elif fleet.expires_at is not None and fleet.expires_at <= now:
            reasons.append(f"{fleet.key}: past its maximum runtime ({utc_text(fleet.expires_at)})")
        elif recorded and running_commit and fleet.commit != running_commit:
            # not the instances launcher last recorded: an earlier version a replacement did
            # not finish ending, or a launch that stopped before it was recorded
            reasons.append(f"{fleet.key}: instances of commit {fleet.commit[:7]} not recorded")
    maybe_due = [
        d
        for d in latest.values()
        if d.kind == "schedule" and d.launch_at is not None and d.launch_at <= now
    ]
    return reasons, maybe_due


def orphans(
    files: Mapping[str, str], deployments: Iterable[Deployment], fleets: Iterable[Fleet]
) -> list[Fleet]:
    """Instances tagged by launcher for a request that is neither on main nor recorded."""
    known = set(newest(deployments))
    known.update(key for key in map(request_key, files) if key is not None)
    return [f for f in fleets if f.key not in known]


def expiry_warning(
    expires_at: datetime | None, windows: tuple[timedelta, ...], now: datetime
) -> timedelta | None:
    """The most urgent warning window `now` is in (before expiry), if any.

    Only the most urgent is posted: a run that missed the 24 h window does not post it next to
    the 1 h one.
    """
    if expires_at is None or expires_at <= now:
        return None
    inside = [w for w in windows if expires_at - w <= now]
    return min(inside) if inside else None
