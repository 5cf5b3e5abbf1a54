"""Plain data for policy (pools.yaml) and launch requests (deployments/<pool>/<name>.yaml).

Everything here is immutable and free of I/O: the loaders in `launcher.core.documents` build
these objects from already-validated YAML, and every decision module takes them as input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum


class Tier(Enum):
    """What a person may do with launch requests in one pool (Conductor's pool privileges)."""

    NONE = "none"
    CREATE_WITH_APPROVAL = "create_with_approval"
    CREATE = "create"
    MODIFY = "modify"

    @property
    def needs_approval(self) -> bool:
        return self is Tier.CREATE_WITH_APPROVAL

    @property
    def may_launch_alone(self) -> bool:
        """`modify` implies `create`: both launch without waiting for anyone."""
        return self in (Tier.CREATE, Tier.MODIFY)


@dataclass(frozen=True)
class Hardware:
    """What an instance group needs; an instance type must offer at least this."""

    vcpus: int
    memory_gib: float
    architecture: str = "x86_64"
    storage_gib: int | None = None

    def describe(self) -> str:
        text = f"{self.vcpus} vCPU / {self.memory_gib:g} GiB / {self.architecture}"
        if self.storage_gib:
            text += f" / {self.storage_gib} GiB storage"
        return text


@dataclass(frozen=True)
class Provider:
    """One place a pool may launch into: an AWS account (via role) and region."""

    name: str
    region: str
    priority: int = 100
    instance_types: tuple[str, ...] = ("*",)
    role_arn: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    scheduler_role: str | None = None  # the expiry backstop's role (launcher.core.backstop)


@dataclass(frozen=True)
class Permissions:
    """Principals per privilege: logins, `@org/team` and `group:NAME`."""

    create: tuple[str, ...] = ()
    create_with_approval: tuple[str, ...] = ()
    modify: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quota:
    instances: int | None = None
    vcpus: int | None = None


@dataclass(frozen=True)
class Pool:
    name: str
    description: str = ""
    permissions: Permissions = field(default_factory=Permissions)
    approvals_required: int = 1
    quota: Quota | None = None
    max_runtime: timedelta | None = None
    request_ttl: timedelta | None = None
    providers: tuple[Provider, ...] = ()
    images: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    hardware_profiles: Mapping[str, Hardware] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """The whole of pools.yaml, as read from the base branch."""

    admins: tuple[str, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    pools: Mapping[str, Pool] = field(default_factory=dict)
    version: int = 1


@dataclass(frozen=True)
class InstanceGroup:
    name: str
    image: str
    count: int
    hardware: Hardware
    hardware_profile: str | None = None
    realm: str | None = None


@dataclass(frozen=True)
class LaunchRequest:
    """One deployments/<pool>/<name>.yaml, with hardware profiles already resolved."""

    name: str
    pool: str
    path: str
    instances: tuple[InstanceGroup, ...]
    description: str = ""
    launch_at: datetime | None = None
    max_runtime: timedelta | None = None

    @property
    def key(self) -> str:
        """The request's identity across its life: `<pool>/<name>`."""
        return f"{self.pool}/{self.name}"

    @property
    def instance_count(self) -> int:
        return sum(group.count for group in self.instances)

    @property
    def vcpus(self) -> int:
        return sum(group.count * group.hardware.vcpus for group in self.instances)
