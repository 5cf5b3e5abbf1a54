"""Pool quotas: what launcher has already started per pool, and whether a request still fits.

Usage is counted only from instances launcher itself tagged (`launcher:pool`), pending or
running, so hand-made instances in the same account never eat a pool's quota.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.core.model import Quota
from launcher.core.reasons import quota as typed_quota

if TYPE_CHECKING:
    from launcher.core.fleet import FleetInstance

POOL_TAG = "launcher:pool"
DEPLOYMENT_TAG = "launcher:deployment"
COUNTED_STATES = ("pending", "running")


@dataclass(frozen=True)
class Usage:
    """Instances and vCPUs a pool has pending or running."""

    instances: int = 0
    vcpus: int = 0

    def plus(self, instances: int, vcpus: int) -> Usage:
        return Usage(self.instances + instances, self.vcpus + vcpus)


def count_usage(instances: Iterable[FleetInstance]) -> dict[str, Usage]:
    """Usage per pool; an instance seen twice (two providers, one account) counts once."""
    seen: set[str] = set()
    usage: dict[str, Usage] = {}
    for instance in instances:
        if instance.state not in COUNTED_STATES or instance.instance_id in seen:
            continue
        seen.add(instance.instance_id)
        usage[instance.pool] = usage.get(instance.pool, Usage()).plus(1, instance.vcpus)
    return usage


def quota_reasons(
    pool: str, quota: Quota | None, usage: Usage, instances: int, vcpus: int
) -> list[str]:
    """Why `instances`/`vcpus` more would break the pool's quota (typed QUOTA reasons);
    empty when they fit."""
    if quota is None:
        return []
    reasons: list[str] = []
    if quota.instances is not None and usage.instances + instances > quota.instances:
        reasons.append(
            typed_quota(
                f"pool {pool}: quota reached ({usage.instances} running + {instances} "
                f"requested > {quota.instances} instances)"
            )
        )
    if quota.vcpus is not None and usage.vcpus + vcpus > quota.vcpus:
        reasons.append(
            typed_quota(
                f"pool {pool}: quota reached ({usage.vcpus} running + {vcpus} requested "
                f"> {quota.vcpus} vCPUs)"
            )
        )
    return reasons


def usage_of(usage: Mapping[str, Usage], pool: str) -> Usage:
    return usage.get(pool, Usage())
