"""The pool's `max_runtime` cap, applied to whatever a record says.

Why: a request's runtime is capped by its pool when it is validated, but a running request's
expiry is then carried by records (the deployment that launched it, a retag after a
`max_runtime` change). Records are launcher's own in app mode; in trial mode any workflow can
write one as the same `github-actions[bot]`, and a pool's cap can shrink after a launch. So
every expiry the launch job acts on is cut to the earliest known start (EC2's LaunchTime, or the
record's launched_at if earlier) plus the pool's current cap: no record can keep instances
running longer than pools.yaml on main allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from launcher.core.lifecycle import Record


def latest_expiry(starts: Iterable[datetime | None], cap: timedelta | None) -> datetime | None:
    """The latest expiry the cap allows: the earliest start plus the cap (None: no cap, or no
    known start)."""
    known = [s for s in starts if s is not None]
    if cap is None or not known:
        return None
    return min(known) + cap


def cap_expiry(
    expires: datetime | None, starts: Iterable[datetime | None], cap: timedelta | None
) -> datetime | None:
    """`expires` (None: never) no later than the cap allows."""
    limit = latest_expiry(starts, cap)
    if limit is None:
        return expires
    return limit if expires is None or expires > limit else expires


def cap_runtime(runtime: timedelta | None, cap: timedelta | None) -> timedelta | None:
    """A runtime (None: the cap itself) no longer than the cap."""
    if cap is None:
        return runtime
    return cap if runtime is None or runtime > cap else runtime


def capped_record(record: Record, cap: timedelta | None, launch_time: datetime | None) -> Record:
    """The record with its expiry cut to its start plus the cap; untouched when within it."""
    if record.launched_at is None and launch_time is None:
        return record
    expires = cap_expiry(record.expires_at, (record.launched_at, launch_time), cap)
    return record if expires == record.expires_at else replace(record, expires_at=expires)
