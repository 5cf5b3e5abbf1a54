"""launcher's instances on EC2, as its tags describe them: the one view of an instance that
the launch job, the sweep, quotas and the status views share.

The EC2 adapter reads them (one DescribeInstances per location); everything else is plain data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from launcher.core.matching import Location, location_of

if TYPE_CHECKING:
    from launcher.core.deployments import Deployment
    from launcher.core.model import Policy


@dataclass(frozen=True, kw_only=True)
class FleetInstance:
    """One EC2 instance launcher tagged (pending, running, stopping or stopped)."""

    instance_id: str
    key: str
    pool: str
    commit: str
    state: str
    region: str
    role_arn: str | None = None
    instance_type: str = ""
    zone: str = ""
    group: str = ""
    expires_at: datetime | None = None
    volume_ids: tuple[str, ...] = ()
    vcpus: int = 0
    launched_at: datetime | None = None  # EC2's LaunchTime
    requested_by: str = ""  # launcher:requested-by, as launcher tagged it at launch

    @property
    def location(self) -> Location:
        return Location(self.region, self.role_arn)


@dataclass(frozen=True)
class Fleet:
    """The instances of one request launched from one commit."""

    key: str
    commit: str
    instances: tuple[FleetInstance, ...]

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return tuple(i.instance_id for i in self.instances)

    @property
    def expires_at(self) -> datetime | None:
        times = [i.expires_at for i in self.instances if i.expires_at]
        return min(times) if times else None

    @property
    def launched_at(self) -> datetime | None:
        times = [i.launched_at for i in self.instances if i.launched_at]
        return min(times) if times else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.instances:
            out[i.group] = out.get(i.group, 0) + 1
        return out


def fleets_of(instances: Iterable[FleetInstance]) -> list[Fleet]:
    """Group instances by (request, commit); an instance seen twice counts once."""
    groups: dict[tuple[str, str], dict[str, FleetInstance]] = {}
    for i in instances:
        groups.setdefault((i.key, i.commit), {}).setdefault(i.instance_id, i)
    return [
        Fleet(key, commit, tuple(sorted(found.values(), key=lambda i: i.instance_id)))
        for (key, commit), found in sorted(groups.items())
    ]


def by_location(instances: Iterable[FleetInstance]) -> dict[Location, list[FleetInstance]]:
    """Instances per account and region, in a stable order: EC2 calls are made per location."""
    found: dict[Location, list[FleetInstance]] = {}
    for i in instances:
        found.setdefault(i.location, []).append(i)
    return dict(sorted(found.items(), key=lambda item: (item[0].region, item[0].role_arn or "")))


def fleet_locations(policy: Policy, deployments: Iterable[Deployment]) -> set[Location]:
    """Where launcher's instances may be: every provider of every pool, and wherever a recorded
    deployment placed instances (a provider since removed from pools.yaml included, so its
    instances are still found and ended)."""
    locations = {location_of(p) for pool in policy.pools.values() for p in pool.providers}
    locations.update(d.location for d in deployments if d.location is not None)
    return locations
