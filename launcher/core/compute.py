"""What the jobs need from a compute provider, as a protocol with typed errors.

The launch job and the sweep talk to compute only through `Compute`: the EC2 adapter
(`launcher.adapters.ec2.EC2`) implements it, and owns what is EC2's own: tag encoding on the
wire, the client token of each RunInstances (from a `GroupLaunch`), the expiry tag, console
links, which AWS error codes mean what. Tests use an in-memory implementation
(`tests/fakes.py`). A second provider implements the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from launcher.core.backstop import Backstop
from launcher.core.fleet import FleetInstance
from launcher.core.matching import Catalogues, Location
from launcher.core.model import Pool


class ComputeError(Exception):
    """A read or an action on the provider failed (after its client's retries): without it
    a run could launch twice, so it acts on nothing more."""


class LaunchErrorKind(Enum):
    CAPACITY = "capacity"  # none of this type here now: try the next placement
    TRANSIENT = "transient"  # throttled, unavailable: leave it to the next run, unrecorded
    REFUSED = "refused"  # limits, a bad image, bad parameters, no permission: FAILED


class LaunchError(ComputeError):
    """The provider refused a launch call, with its own code; `kind` says what to do."""

    def __init__(self, kind: LaunchErrorKind, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}".rstrip(": "))
        self.kind = kind
        self.code = code
        self.message = message

    @property
    def capacity(self) -> bool:
        return self.kind is LaunchErrorKind.CAPACITY

    @property
    def transient(self) -> bool:
        return self.kind is LaunchErrorKind.TRANSIENT


@dataclass(frozen=True)
class GroupLaunch:
    """One instance group's launch, as the launch job asks for it: all `count` or none.

    The provider's adapter turns it into its own call: the tags it writes (so the fleet can be
    read back: request, pool, group, commit, who asked and approved), and an idempotency key
    that depends only on the request, its version, the commit that asked, the placement, the
    group and the attempt, so that a retried or racing call gets the first call's instances.
    Nothing in it comes from a clock: the expiry is written after launch (`set_expiry`).
    """

    location: Location
    provider: str  # the pool's provider entry (its name)
    key: str  # the request: <pool>/<name>
    pool: str
    version: str  # the request version's id
    commit: str  # the record or merge commit that asked for this launch
    attempt: int
    group: str
    image_id: str
    instance_type: str
    count: int
    requested_by: str
    pr: int
    approved_by: tuple[str, ...] = ()
    zone: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Launched:
    """What one launch call gave (or an earlier one, adopted by its client token)."""

    ids: list[str]
    launched_at: datetime | None  # the earliest launch time the provider reports
    volume_ids: tuple[str, ...] = ()


class BackstopChange(Enum):
    CREATED = "created"
    MOVED = "moved"
    KEPT = "kept"  # already exactly as asked


class Compute(Protocol):
    def fleet(self, locations: Iterable[Location]) -> list[FleetInstance]:
        """Every launcher-tagged instance not terminated. Raises ComputeError."""
        ...

    def catalogues(self, pools: Iterable[Pool]) -> Catalogues:
        """What each location of the pools offers (types, zones, images), read once per run;
        an unreadable location is a catalogue that says why, not an error."""
        ...

    def subnet_zones(self, location: Location, subnet_ids: Iterable[str]) -> dict[str, str]:
        """Subnet id -> zone, for the subnets a provider entry lists."""
        ...

    def run_instances(self, launch: GroupLaunch) -> Launched:
        """Launch one group, idempotently (the same spec again: the same instances). Raises
        LaunchError (typed) or ComputeError."""
        ...

    def terminate(self, location: Location, instance_ids: Iterable[str]) -> None:
        """End the instances (ending an ended one is no error). Raises ComputeError."""
        ...

    def set_expiry(
        self, location: Location, resource_ids: Iterable[str], until: datetime | None
    ) -> None:
        """Write when the instances (and their volumes) expire, None for never."""
        ...

    def console_url(self, region: str, key: str) -> str | None:
        """A link to the request's instances in the provider's console, if it has one."""
        ...

    # The expiry backstop (launcher.core.backstop): the provider itself ends a launch's
    # instances at their expiry, whether or not GitHub Actions runs the sweep.

    def set_backstop(self, backstop: Backstop, *, dry_run: bool = False) -> BackstopChange:
        """Make the provider's backstop of that name exactly `backstop`: create it, move it
        (every field rewritten), or leave it; with `dry_run` only say which. Raises
        ComputeError."""
        ...

    def drop_backstop(self, location: Location, name: str) -> bool:
        """Delete the backstop; False when there was none (it fired, or never existed).
        Raises ComputeError."""
        ...
