"""Where to try next after EC2 has no capacity: Conductor's retry through matches, bounded.

Pure. Each `InsufficientInstanceCapacity` adds an `Exhausted` (location, instance type, zone)
and the request is matched again without it: a group EC2 placed itself (no zone) is pinned to
each zone offering its type in turn, then moves to the next type, then to the next provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from launcher.core.matching import (
    Catalogues,
    Location,
    MatchResult,
    Placement,
    RegionCatalogue,
    location_of,
    match_request,
)
from launcher.core.model import LaunchRequest, Pool
from launcher.core.quota import Usage

MAX_ATTEMPTS = 6  # RunInstances tries per request and run, fallbacks included


@dataclass(frozen=True)
class Exhausted:
    """No capacity for `instance_type` in `zone` (None: wherever EC2 chose) at `location`."""

    location: Location
    instance_type: str
    zone: str | None


def _zones_with(
    catalogue: RegionCatalogue, instance_type: str, allowed: frozenset[str] | None
) -> list[str]:
    return sorted(
        zone
        for zone, types in catalogue.zones.items()
        if instance_type in types and (allowed is None or zone in allowed)
    )


def _without(
    catalogues: Catalogues,
    exhausted: Iterable[Exhausted],
    allowed: Mapping[Location, frozenset[str]],
) -> dict[Location, RegionCatalogue]:
    """Catalogues with each exhausted type removed where it ran out."""
    by_location: dict[Location, list[Exhausted]] = {}
    for item in exhausted:
        by_location.setdefault(item.location, []).append(item)
    result = dict(catalogues)
    for location, items in by_location.items():
        catalogue = catalogues.get(location)
        if catalogue is None or catalogue.error:
            continue
        zones = {zone: set(types) for zone, types in catalogue.zones.items()}
        for item in items:
            if item.zone is not None and item.zone in zones:
                zones[item.zone].discard(item.instance_type)
        trimmed = replace(catalogue, zones={z: frozenset(t) for z, t in zones.items()})
        offered = set(catalogue.offered)
        for item in items:
            if item.zone is None and not _zones_with(
                trimmed, item.instance_type, allowed.get(location)
            ):
                offered.discard(item.instance_type)  # no zone left to pin it to
        result[location] = replace(trimmed, offered=frozenset(offered))
    return result


def next_placement(
    request: LaunchRequest,
    pool: Pool,
    catalogues: Catalogues,
    usage: Mapping[str, Usage],
    exhausted: Iterable[Exhausted] = (),
    allowed_zones: Mapping[Location, frozenset[str]] | None = None,
) -> tuple[Placement | None, MatchResult]:
    """The placement to try now, given where capacity already ran out (and the match result,
    whose reasons explain a None)."""
    exhausted = frozenset(exhausted)
    allowed = allowed_zones or {}
    trimmed = _without(catalogues, exhausted, allowed)
    result = match_request(request, pool, trimmed, usage)
    chosen = result.chosen
    if chosen is None:
        return None, result
    location = location_of(chosen.provider)
    groups = []
    for group in chosen.groups:
        if group.zone is None and Exhausted(location, group.instance_type, None) in exhausted:
            zones = _zones_with(trimmed[location], group.instance_type, allowed.get(location))
            group = replace(group, zone=zones[0])  # _without kept the type only if one is left
        groups.append(group)
    return Placement(chosen.provider, tuple(groups)), result
