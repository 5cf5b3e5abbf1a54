"""The sweep's time rules for open pull requests, as plain functions.

A request not approved before its launch time is auto-rejected; a request left pending longer
than its pool's `request_ttl` is warned, then closed. Deadlines are compared with `now`, never
"the hour matches", so a delayed or skipped run catches up on the next one. Finding candidates
uses only what the pull request list already returns (labels, creation time); each candidate
is verified against the pull request itself before anything is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from launcher.core.documents import REQUEST_PATH
from launcher.core.gate import LABELS, parse_launch_at_label
from launcher.core.times import utc_text

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


@dataclass(frozen=True)
class Recorded:
    """The newest deployment launcher recorded for a request (from the list, no status read)."""

    deployment_id: int
    key: str
    blob: str
    kind: str  # "schedule", "launch" or "failure"
    launch_at: datetime | None
    pr: int | None
    requested_by: str = ""
    running_commit: str = ""  # launch_commit of the request's newest `launch` deployment


@dataclass(frozen=True)
class Running:
    """One request's instances on EC2 (by launcher's tags)."""

    key: str
    commit: str
    expires_at: datetime | None
    instance_ids: tuple[str, ...]


def reconcile_reasons(
    files: dict[str, str],
    recorded: list[Recorded],
    known_blobs: set[tuple[str, str]],
    running: list[Running],
    now: datetime,
) -> tuple[list[str], list[Recorded]]:
    """Why the full reconcile (`launcher launch`) must run now, from cheap views only; and the
    scheduled records that may be due (their status decides: it costs one read each).

    Nothing due means no per-deployment reads at all: the sweep's cost then grows with pages of
    pull requests and deployments and one DescribeInstances per region, not with requests.
    """
    reasons: list[str] = []
    on_main: set[str] = set()
    for path, blob in files.items():
        match = REQUEST_PATH.fullmatch(path)
        if not match:
            continue
        key = f"{match['pool']}/{match['name']}"
        on_main.add(key)
        if (key, blob) not in known_blobs:
            reasons.append(f"{key}: a version on the default branch not yet handled")
    by_key = {r.key: r for r in recorded}
    for fleet in running:
        record = by_key.get(fleet.key)
        if fleet.key not in on_main and record is not None:
            reasons.append(f"{fleet.key}: removed from the default branch, still running")
        elif fleet.expires_at is not None and fleet.expires_at <= now:
            reasons.append(f"{fleet.key}: past its maximum runtime ({utc_text(fleet.expires_at)})")
        elif record is not None and record.running_commit and fleet.commit != record.running_commit:
            # not the instances launcher last recorded: an earlier version a replacement did
            # not finish ending, or a launch that stopped before it was recorded
            reasons.append(f"{fleet.key}: instances of commit {fleet.commit[:7]} not recorded")
    maybe_due = [
        r
        for r in recorded
        if r.kind == "schedule" and r.launch_at is not None and r.launch_at <= now
    ]
    return reasons, maybe_due


def orphans(
    files: dict[str, str], recorded_keys: set[str], running: list[Running]
) -> list[Running]:
    """Instances tagged by launcher for a request that is neither on main nor recorded."""
    on_main = set()
    for path in files:
        match = REQUEST_PATH.fullmatch(path)
        if match:
            on_main.add(f"{match['pool']}/{match['name']}")
    return [f for f in running if f.key not in on_main and f.key not in recorded_keys]


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
