"""In-memory fakes of launcher's adapters, for fast job tests (the HTTP stand-ins stay for the
end-to-end tests). `FakeCompute` implements `launcher.core.compute.Compute` with AWS's
ClientToken rule (same token and parameters: the original instances; other parameters:
IdempotentParameterMismatch, which the fake answers as the EC2 adapter does: by adopting the
instances launched under the token), all-or-nothing launches, and injectable errors."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from launcher.adapters.ec2 import run_spec
from launcher.core.backstop import Backstop
from launcher.core.compute import (
    BackstopChange,
    ComputeError,
    GroupLaunch,
    Launched,
    LaunchError,
    LaunchErrorKind,
)
from launcher.core.fleet import FleetInstance
from launcher.core.matching import (
    Catalogues,
    ImageInfo,
    InstanceTypeInfo,
    Location,
    RegionCatalogue,
)
from launcher.core.model import Pool

TYPES = {
    "t3.micro": InstanceTypeInfo("t3.micro", 2, 1.0, ("x86_64",)),
    "t3.medium": InstanceTypeInfo("t3.medium", 2, 4.0, ("x86_64",)),
    "t3.large": InstanceTypeInfo("t3.large", 2, 8.0, ("x86_64",)),
}


@dataclass
class _Instance:
    data: FleetInstance
    tags: dict[str, str]
    token: str


@dataclass
class FakeCompute:
    """EC2 as the jobs see it, in memory. `now` is the fake's clock (LaunchTime)."""

    now: Callable[[], datetime]
    images: dict[str, str] = field(default_factory=dict)  # AMI id -> architecture
    instances: dict[str, _Instance] = field(default_factory=dict)
    tokens: dict[tuple[str, str], tuple[tuple[object, ...], list[str]]] = field(
        default_factory=dict
    )
    fail_next: list[LaunchError] = field(default_factory=list)  # raised by run_instances
    calls: list[str] = field(default_factory=list)
    # the expiry backstops, as the provider keeps them: (location, name) -> backstop
    backstops: dict[tuple[Location, str], Backstop] = field(default_factory=dict)
    fail_backstop: list[ComputeError] = field(default_factory=list)  # raised by set/drop
    _ids: Iterator[int] = field(default_factory=itertools.count)

    # --- reading ---------------------------------------------------------------------------

    def fleet(self, locations: Iterable[Location]) -> list[FleetInstance]:
        self.calls.append("fleet")
        regions = {loc.region for loc in locations}
        return [
            i.data
            for i in self.instances.values()
            if i.data.state != "terminated" and i.data.region in regions
        ]

    def catalogues(self, pools: Iterable[Pool]) -> Catalogues:
        self.calls.append("catalogues")
        images = {ami: ImageInfo(ami, arch) for ami, arch in self.images.items()}
        found: dict[Location, RegionCatalogue] = {}
        for pool in pools:
            for provider in pool.providers:
                region = provider.region
                zones = {f"{region}{z}": frozenset(TYPES) for z in "ab"}
                found[Location(region, provider.role_arn)] = RegionCatalogue(
                    region, TYPES, frozenset(TYPES), zones, images
                )
        return found

    def subnet_zones(self, location: Location, subnet_ids: Iterable[str]) -> dict[str, str]:
        return {s: f"{location.region}a" for s in subnet_ids}

    def console_url(self, region: str, key: str) -> str | None:
        return f"https://console.example/{region}/{key}" if region else None

    # --- acting ----------------------------------------------------------------------------

    def run_instances(self, launch: GroupLaunch) -> Launched:
        self.calls.append("run_instances")
        spec = run_spec(launch)  # the EC2 adapter's tags and client token
        if self.fail_next:
            raise self.fail_next.pop(0)
        params = (spec.image_id, spec.instance_type, spec.count, spec.zone, spec.subnet_id)
        params += (tuple(sorted(spec.tags.items())), spec.security_group_ids)
        known = self.tokens.get((spec.location.region, spec.client_token))
        if known is not None:
            ids = [i for i in known[1] if self.instances[i].data.state != "terminated"]
            # same parameters: the original reservation; others: the adapter adopts them
            return self._launched(ids)
        if spec.image_id not in self.images:
            raise LaunchError(LaunchErrorKind.REFUSED, "InvalidAMIID.NotFound", spec.image_id)
        ids = []
        for _ in range(spec.count):
            instance_id = f"i-{next(self._ids):017x}"
            tags = dict(spec.tags)
            self.instances[instance_id] = _Instance(
                FleetInstance(
                    instance_id=instance_id,
                    key=tags.get("launcher:deployment", ""),
                    pool=tags.get("launcher:pool", ""),
                    commit=tags.get("launcher:commit", ""),
                    state="running",
                    region=spec.location.region,
                    role_arn=spec.location.role_arn,
                    instance_type=spec.instance_type,
                    zone=spec.zone or f"{spec.location.region}a",
                    group=tags.get("launcher:group", ""),
                    vcpus=TYPES[spec.instance_type].vcpus,
                    launched_at=self.now(),
                    requested_by=tags.get("launcher:requested-by", ""),
                ),
                tags,
                spec.client_token,
            )
            ids.append(instance_id)
        self.tokens[(spec.location.region, spec.client_token)] = (params, ids)
        return self._launched(ids)

    def _launched(self, ids: list[str]) -> Launched:
        times = [t for i in ids if (t := self.instances[i].data.launched_at)]
        return Launched(list(ids), min(times) if times else None)

    def terminate(self, location: Location, instance_ids: Iterable[str]) -> None:
        self.calls.append("terminate")
        for i in instance_ids:
            if i in self.instances:
                found = self.instances[i]
                found.data = replace(found.data, state="terminated")

    def set_expiry(
        self, location: Location, resource_ids: Iterable[str], until: datetime | None
    ) -> None:
        self.calls.append("set_expiry")
        for i in resource_ids:
            if i in self.instances:
                found = self.instances[i]
                found.data = replace(found.data, expires_at=until)

    def set_backstop(self, backstop: Backstop, *, dry_run: bool = False) -> BackstopChange:
        self.calls.append("set_backstop")
        if self.fail_backstop:
            raise self.fail_backstop.pop(0)
        key = (backstop.location, backstop.name)
        known = self.backstops.get(key)
        if not dry_run:
            self.backstops[key] = backstop
        if known is None:
            return BackstopChange.CREATED
        return BackstopChange.KEPT if known == backstop else BackstopChange.MOVED

    def drop_backstop(self, location: Location, name: str) -> bool:
        self.calls.append("drop_backstop")
        if self.fail_backstop:
            raise self.fail_backstop.pop(0)
        return self.backstops.pop((location, name), None) is not None

    def fire_backstops(self) -> list[Backstop]:
        """What the provider does on its own: every backstop due by `now` ends its instances
        and is deleted (ActionAfterCompletion DELETE)."""
        due = [b for b in self.backstops.values() if b.at <= self.now()]
        for b in due:
            self.terminate(b.location, b.instance_ids)
            del self.backstops[(b.location, b.name)]
        return due

    # --- for assertions --------------------------------------------------------------------

    def running(self, key: str | None = None) -> list[FleetInstance]:
        return [
            i.data
            for i in self.instances.values()
            if i.data.state != "terminated" and (key is None or i.data.key == key)
        ]
