"""The launch job's and the sweep's side of the expiry backstop (launcher.core.backstop).

- After a launch (or a crashed launch completed), the launch's backstop is created. When that
  fails, the instances keep running and the request is recorded RUNNING as usual: the run
  reports the error (exit 1, `::error::`), the sweep still ends the instances at expiry as it
  always did, and it re-creates the missing backstop on its next run. A healthy, approved
  launch is never terminated because a second guard could not be set up.
- When only `max_runtime` changes, the backstop is moved before the expiry tag and the record:
  when the move fails the whole retag waits for the next run, so a backstop never ends
  instances before the expiry their record shows.
- When instances end (removed, replaced, expired, a failed completion), their backstops are
  deleted after the instances are terminated. A delete that fails is reported; the schedule
  left behind only terminates instances already terminated, then deletes itself.
- The sweep checks each running request's backstop (one GetSchedule each) and creates or
  moves what is missing or wrong, within its write budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from launcher.core.backstop import (
    Backstop,
    backstop_name,
    fleet_backstops,
    provider_backstop,
)
from launcher.core.compute import BackstopChange, Compute
from launcher.core.deployments import Deployment
from launcher.core.documents import request_key
from launcher.core.fleet import Fleet, by_location
from launcher.core.model import Policy, Provider
from launcher.core.times import utc_iso

NOT_SET = "no expiry backstop yet (its instances run; the sweep ends them at expiry and retries)"
NOT_DROPPED = "expiry backstop not deleted (harmless: it ends only instances already ended)"


def describe(change: BackstopChange, backstop: Backstop) -> str:
    return (
        f"expiry backstop {backstop.name} {change.value}: ends "
        f"{', '.join(backstop.instance_ids)} at {utc_iso(backstop.at)}"
    )


def after_launch(
    ec2: Compute,
    provider: Provider,
    key: str,
    commit: str,
    instance_ids: Iterable[str],
    until: datetime | None,
    now: datetime,
) -> list[str]:
    """Set the new launch's backstop; the report's lines. Raises ComputeError."""
    wanted = provider_backstop(provider, key, commit, tuple(instance_ids), until, now)
    if wanted is None:
        return []
    return [describe(ec2.set_backstop(wanted), wanted)]


def for_fleet(
    ec2: Compute, policy: Policy, fleet: Fleet, until: datetime | None, now: datetime
) -> list[str]:
    """Make the fleet's backstops match `until` (None: no expiry, so none); the report's lines.
    Raises ComputeError."""
    if until is None:
        return drop(ec2, [fleet])
    wanted, _ = fleet_backstops(policy, fleet, until, now)
    lines = []
    for backstop in wanted:
        change = ec2.set_backstop(backstop)
        if change is not BackstopChange.KEPT:
            lines.append(describe(change, backstop))
    return lines


def drop(ec2: Compute, fleets: Iterable[Fleet]) -> list[str]:
    """Delete the backstops of fleets whose instances ended. Raises ComputeError."""
    lines = []
    for fleet in fleets:
        name = backstop_name(fleet.key, fleet.commit)
        for location in by_location(fleet.instances):
            if ec2.drop_backstop(location, name):
                lines.append(f"expiry backstop {name} deleted")
    return lines


def to_repair(
    policy: Policy,
    files: Mapping[str, str],
    listed: Iterable[Deployment],
    fleets: Iterable[Fleet],
    now: datetime,
) -> list[Backstop]:
    """The backstops the sweep should see to: one per location of each request on the default
    branch whose newest `launch` record names these instances' commit and an expiry still
    ahead (the record's: what the reconcile expires by). Anything else is the reconcile's to
    end, and ending drops it."""
    on_main = {key for key in map(request_key, files) if key is not None}
    launched: dict[str, Deployment] = {}
    for d in sorted(listed, key=lambda d: d.id):
        if d.key is not None and d.kind == "launch":
            launched[d.key] = d
    wanted: list[Backstop] = []
    for fleet in fleets:
        record = launched.get(fleet.key)
        if fleet.key not in on_main or record is None or record.launch_commit != fleet.commit:
            continue
        if record.expires_at is None or record.expires_at <= now:
            continue
        wanted.extend(fleet_backstops(policy, fleet, record.expires_at, now)[0])
    return wanted


def repair(
    ec2: Compute,
    wanted: Iterable[Backstop],
    spend: Callable[[str, Callable[[], object]], bool],
) -> list[str]:
    """Create or move each backstop that is missing or differs (asked first with `dry_run`, so
    one that is right costs no write); every write goes through `spend`. Raises ComputeError."""
    noted = []
    for backstop in wanted:
        change = ec2.set_backstop(backstop, dry_run=True)
        if change is BackstopChange.KEPT:
            continue
        what = "missing" if change is BackstopChange.CREATED else "out of date"
        noted.append(f"{backstop.key}: expiry backstop {backstop.name} {what}")
        spend(
            f"repair {backstop.key}: {describe(change, backstop)}",
            lambda b=backstop: ec2.set_backstop(b),  # type: ignore[misc]
        )
    return noted
