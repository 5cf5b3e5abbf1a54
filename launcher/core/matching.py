"""Match a launch request to a concrete placement, the way Conductor matched a deployment.

For every instance group: one provider (account and region) shared by all groups, an
instance type, an AMI and optionally an availability zone, or the reasons each provider cannot
host the request. Pure: the EC2 catalogue and the pools' usage come in as plain data (read once
per run by `launcher.adapters.ec2`), so matching a thousand requests costs no API calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any, NamedTuple

from launcher.core.model import Hardware, InstanceGroup, LaunchRequest, Policy, Pool, Provider
from launcher.core.quota import Usage, quota_reasons, usage_of
from launcher.core.reasons import quota as typed_quota

# --- the catalogue: what EC2 offers in one account and region --------------------------------


@dataclass(frozen=True)
class InstanceTypeInfo:
    name: str
    vcpus: int
    memory_gib: float
    architectures: tuple[str, ...]
    storage_gib: int = 0  # local instance storage; 0 when EBS only

    def fits(self, hardware: Hardware) -> bool:
        return (
            self.vcpus >= hardware.vcpus
            and self.memory_gib >= hardware.memory_gib
            and hardware.architecture in self.architectures
            and (not hardware.storage_gib or self.storage_gib >= hardware.storage_gib)
        )


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    architecture: str
    state: str = "available"


class Location(NamedTuple):
    """Where a catalogue comes from: offerings and AMIs differ per region and per account."""

    region: str
    role_arn: str | None = None


def location_of(provider: Provider) -> Location:
    return Location(provider.region, provider.role_arn)


@dataclass(frozen=True, eq=False)
class RegionCatalogue:
    """EC2 facts for one Location; `error` set means it could not be read (fail closed)."""

    region: str
    instance_types: Mapping[str, InstanceTypeInfo] = field(default_factory=dict)
    offered: frozenset[str] = frozenset()  # types offered somewhere in the region
    zones: Mapping[str, frozenset[str]] = field(default_factory=dict)  # AZ -> types offered
    images: Mapping[str, ImageInfo] = field(default_factory=dict)  # AMIs known to exist
    zone_names: frozenset[str] = frozenset()  # every AZ; empty: the keys of `zones`
    error: str | None = None

    @classmethod
    def unavailable(cls, region: str, error: str) -> RegionCatalogue:
        return cls(region=region, error=error)

    @property
    def known_zones(self) -> frozenset[str]:
        return self.zone_names or frozenset(self.zones)

    @cached_property
    def by_size(self) -> tuple[InstanceTypeInfo, ...]:
        """Offered types, cheapest-looking first: least memory, then fewest vCPUs, then name."""
        offered = (t for name, t in self.instance_types.items() if name in self.offered)
        return tuple(sorted(offered, key=lambda t: (t.memory_gib, t.vcpus, t.name)))


Catalogues = Mapping[Location, RegionCatalogue]


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupPlacement:
    group: str
    count: int
    instance_type: str
    image_id: str
    zone: str | None
    vcpus: int
    memory_gib: float


@dataclass(frozen=True)
class Placement:
    provider: Provider
    groups: tuple[GroupPlacement, ...]

    @property
    def region(self) -> str:
        return self.provider.region

    @property
    def vcpus(self) -> int:
        """vCPUs of the instance types chosen, which may exceed what was asked."""
        return sum(g.count * g.vcpus for g in self.groups)

    @property
    def instances(self) -> int:
        return sum(g.count for g in self.groups)


@dataclass(frozen=True)
class ProviderMatch:
    provider: Provider
    placement: Placement | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchResult:
    request: LaunchRequest
    providers: tuple[ProviderMatch, ...] = ()  # in the order tried
    pool_reasons: tuple[str, ...] = ()  # quota, no providers, unknown pool

    @property
    def chosen(self) -> Placement | None:
        """The first full placement, unless something pool-wide forbids any."""
        if self.pool_reasons:
            return None
        return next((m.placement for m in self.providers if m.placement), None)

    @property
    def reasons(self) -> list[str]:
        """Every reason, pool-wide ones first; empty when there is a placement."""
        if self.chosen is not None:
            return []
        return [*self.pool_reasons, *(r for m in self.providers for r in m.reasons)]


# --- matching ---------------------------------------------------------------------------------


class _TypeMemo:
    """Remembers type choices so a batch of similar requests scans the catalogue once."""

    def __init__(self) -> None:
        self._chosen: dict[tuple[Any, ...], InstanceTypeInfo | None] = {}

    def choose(
        self,
        catalogue: RegionCatalogue,
        key: Location,
        patterns: tuple[str, ...],
        hardware: Hardware,
        zone: str | None,
    ) -> InstanceTypeInfo | None:
        memo_key = (key, patterns, hardware, zone)
        if memo_key not in self._chosen:
            self._chosen[memo_key] = _choose_type(catalogue, patterns, hardware, zone)
        return self._chosen[memo_key]


def _choose_type(
    catalogue: RegionCatalogue, patterns: tuple[str, ...], hardware: Hardware, zone: str | None
) -> InstanceTypeInfo | None:
    in_zone = catalogue.zones.get(zone, frozenset()) if zone else None
    for info in catalogue.by_size:
        if in_zone is not None and info.name not in in_zone:
            continue
        if info.fits(hardware) and any(fnmatchcase(info.name, p) for p in patterns):
            return info
    return None


def providers_in_order(pool: Pool) -> list[Provider]:
    """Lower priority first; ties broken by name so the order never depends on YAML order."""
    return sorted(pool.providers, key=lambda p: (p.priority, p.name))


def _place_group(
    group: InstanceGroup,
    pool: Pool,
    provider: Provider,
    catalogue: RegionCatalogue,
    memo: _TypeMemo,
) -> GroupPlacement | list[str]:
    name, region = provider.name, provider.region
    reasons: list[str] = []
    zone = group.realm
    zone_ok = True
    if zone is not None:
        if not _az_of(zone, region):
            reasons.append(f"{name}: availability zone {zone} is not in {region}")
            zone_ok = False
        elif zone not in catalogue.known_zones:
            reasons.append(f"{name}: availability zone {zone} does not exist in {region}")
            zone_ok = False

    image_id = pool.images.get(group.image, {}).get(region)
    image: ImageInfo | None = None
    if image_id is None:
        reasons.append(f"{name}: image {group.image} has no AMI in {region}")
    else:
        image = catalogue.images.get(image_id)
        if image is None:
            reasons.append(f"{name}: image {group.image} ({image_id}) does not exist in {region}")
        elif image.state != "available":
            reasons.append(
                f"{name}: image {group.image} ({image_id}) is {image.state} in {region}, "
                "not available"
            )
        elif image.architecture != group.hardware.architecture:
            reasons.append(
                f"{name}: image {group.image} ({image_id}) is {image.architecture} but the "
                f"hardware asks for {group.hardware.architecture}"
            )

    chosen = None
    if zone_ok:
        key = location_of(provider)
        chosen = memo.choose(catalogue, key, provider.instance_types, group.hardware, zone)
        if chosen is None:
            where = f" in {zone}" if zone else ""
            reasons.append(
                f"{name}: no allowed instance type offers {group.hardware.describe()}{where}"
            )
    if reasons or chosen is None or image_id is None:
        return reasons
    return GroupPlacement(
        group=group.name,
        count=group.count,
        instance_type=chosen.name,
        image_id=image_id,
        zone=zone,
        vcpus=chosen.vcpus,
        memory_gib=chosen.memory_gib,
    )


def _az_of(zone: str, region: str) -> bool:
    """True for an AZ name of `region`: us-east-1a, or a local zone like us-east-1-bos-1a."""
    if not zone.startswith(region):
        return False
    rest = zone[len(region) :]
    return (len(rest) == 1 and rest.isalpha()) or rest.startswith("-")


def _match_provider(
    request: LaunchRequest,
    pool: Pool,
    provider: Provider,
    catalogues: Catalogues,
    usage: Usage,
    memo: _TypeMemo,
) -> ProviderMatch:
    catalogue = catalogues.get(location_of(provider))
    if catalogue is None or catalogue.error is not None:
        error = catalogue.error if catalogue else "not read"
        reason = f"{provider.name}: cannot read the EC2 catalogue of {provider.region}: {error}"
        return ProviderMatch(provider, None, (reason,))
    reasons: list[str] = []
    groups: list[GroupPlacement] = []
    for group in request.instances:
        placed = _place_group(group, pool, provider, catalogue, memo)
        if isinstance(placed, GroupPlacement):
            groups.append(placed)
        else:
            reasons.extend(r for r in placed if r not in reasons)
    if reasons:
        return ProviderMatch(provider, None, tuple(reasons))
    placement = Placement(provider, tuple(groups))
    limit = pool.quota.vcpus if pool.quota else None
    if limit is not None and usage.vcpus + request.vcpus <= limit < usage.vcpus + placement.vcpus:
        # The types chosen have more vCPUs than asked, and the surplus breaks the quota.
        reason = typed_quota(
            f"{provider.name}: quota of pool {pool.name} reached on the chosen types "
            f"({usage.vcpus} running + {placement.vcpus} placed > {limit} vCPUs)"
        )
        return ProviderMatch(provider, None, (reason,))
    return ProviderMatch(provider, placement)


def match_request(
    request: LaunchRequest,
    pool: Pool,
    catalogues: Catalogues,
    usage: Mapping[str, Usage],
    *,
    memo: _TypeMemo | None = None,
) -> MatchResult:
    """Try each provider of the request's pool in order; see MatchResult.chosen."""
    memo = memo or _TypeMemo()
    pool_usage = usage_of(usage, pool.name)
    pool_reasons = quota_reasons(
        pool.name, pool.quota, pool_usage, request.instance_count, request.vcpus
    )
    if not pool.providers:
        pool_reasons.insert(0, f"pool {pool.name} has no providers")
    matches = tuple(
        _match_provider(request, pool, provider, catalogues, pool_usage, memo)
        for provider in providers_in_order(pool)
    )
    return MatchResult(request, matches, tuple(pool_reasons))


def match_all(
    requests: Iterable[LaunchRequest],
    policy: Policy,
    catalogues: Catalogues,
    usage: Mapping[str, Usage],
    *,
    reserve: bool = True,
) -> list[MatchResult]:
    """Match many requests against one catalogue, in order.

    With `reserve`, each placed request counts towards its pool's quota for the requests after
    it, so a batch cannot together overrun a quota that each alone would fit ("running" in the
    reasons then includes what this batch already placed).
    """
    memo = _TypeMemo()
    current = dict(usage)
    results = []
    for request in requests:
        pool = policy.pools.get(request.pool)
        if pool is None:
            reason = f"pool {request.pool} is not defined in pools.yaml"
            results.append(MatchResult(request, (), (reason,)))
            continue
        result = match_request(request, pool, catalogues, current, memo=memo)
        chosen = result.chosen
        if reserve and chosen is not None:
            current[pool.name] = usage_of(current, pool.name).plus(chosen.instances, chosen.vcpus)
        results.append(result)
    return results


@dataclass(frozen=True)
class Needs:
    """What matching will look up at one Location: AMI ids and instance-type globs."""

    image_ids: frozenset[str] = frozenset()
    patterns: frozenset[str] = frozenset()


def locations_of(pools: Iterable[Pool]) -> dict[Location, Needs]:
    """Each Location the pools' providers use, with what to read there."""
    wanted: dict[Location, Needs] = {}
    for pool in pools:
        for provider in pool.providers:
            key = location_of(provider)
            old = wanted.get(key, Needs())
            amis = {
                regions[provider.region]
                for regions in pool.images.values()
                if provider.region in regions
            }
            wanted[key] = Needs(old.image_ids | amis, old.patterns | set(provider.instance_types))
    return wanted


# --- rendering ---------------------------------------------------------------------------------


def render(result: MatchResult) -> list[str]:
    """Text lines for people: the placement per group, or every reason per provider."""
    request = result.request
    chosen = result.chosen
    if chosen is not None:
        lines = [f"{request.path}: {request.key} -> {chosen.provider.name} ({chosen.region})"]
        for g in chosen.groups:
            zone = f" in {g.zone}" if g.zone else ""
            lines.append(
                f"  {g.group}: {g.count} x {g.instance_type}{zone}, {g.image_id}, "
                f"{g.vcpus} vCPU / {g.memory_gib:g} GiB each"
            )
        return lines
    return [f"{request.path}: no placement for {request.key}", *(f"  {r}" for r in result.reasons)]


def to_dict(result: MatchResult) -> dict[str, Any]:
    """JSON-ready form of a result, for `launcher match --format json` and job logs."""

    def placement(p: Placement) -> dict[str, Any]:
        return {
            "provider": p.provider.name,
            "region": p.region,
            "groups": [
                {
                    "name": g.group,
                    "count": g.count,
                    "instance_type": g.instance_type,
                    "image_id": g.image_id,
                    "zone": g.zone,
                    "vcpus": g.vcpus,
                    "memory_gib": g.memory_gib,
                }
                for g in p.groups
            ],
        }

    chosen = result.chosen
    return {
        "path": result.request.path,
        "request": result.request.key,
        "matched": chosen is not None,
        "placement": placement(chosen) if chosen else None,
        "pool_reasons": list(result.pool_reasons),
        "providers": [
            {
                "provider": m.provider.name,
                "region": m.provider.region,
                "matched": m.placement is not None,
                "reasons": list(m.reasons),
            }
            for m in result.providers
        ],
    }
